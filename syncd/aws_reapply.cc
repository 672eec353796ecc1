#include "syncd/aws_reapply.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include "core/log.h"
#include "core/strings.h"
#include "store/aws/reapply.h"
#include "syncd/assignments.h"
#include "syncd/aws_assignments.h"
#include "syncd/engine.h"
#include "syncd/explain.h"

namespace syncd {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
namespace ic = identity_center;

constexpr int kExitDone = 0;
constexpr int kExitPending = 2;

// The matched principals of a plan's steps, as the engine wants them.
std::vector<ic::DesiredAssignment> DesiredOf(const ReapplyPlan& plan) {
  std::vector<ic::DesiredAssignment> desired;
  for (const auto& step : plan.steps) {
    if (step.action != ReapplyAction::kRestore) continue;
    const LedgerEntry& e = plan.ledger[step.entry];
    const SyncObject& p = plan.principals[*step.principal];
    ic::DesiredAssignment d;
    d.ledger_id = e.id;
    d.target = e.target;
    d.target_ref = e.target_ref;
    d.principal_guid = p.guid;
    d.kind = p.kind;
    d.principal_name = p.name;
    d.external_id = p.external_id;
    // What syncd's SCIM sink sends as userName / displayName.
    auto mapped = p.attributes.find(p.kind == ObjectKind::kGroup ? "displayName" : "userName");
    if (mapped != p.attributes.end() && !mapped->second.empty()) {
      d.unique_name = mapped->second;
    } else if (p.kind == ObjectKind::kGroup) {
      d.unique_name = p.name;
    } else {
      d.unique_name = p.source->user_principal_name.empty() ? p.source->sam_account_name
                                                            : p.source->user_principal_name;
    }
    desired.push_back(std::move(d));
  }
  return desired;
}

// Every matched entry as a restore: what is in force is the live
// instance's business, which the engine reads per target.
Result<ReapplyPlan> MatchLedger(StateDb& state, const AssignmentsConfig& config) {
  auto ledger = state.LoadLedger();
  if (!ledger.ok()) return ledger.status();
  auto principals = state.LoadObjects();
  if (!principals.ok()) return principals.status();
  return PlanReapply(std::move(*ledger), std::move(*principals), {}, config.match);
}

struct AwsPass {
  ReapplyPlan plan;
  ic::ReapplyResult result;
  std::vector<bool> landed;  // by step
  ReapplyOutcome outcome;    // the ledger's changes
  std::string identity_store_id;
  size_t Left() const {
    return result.Count(ic::DesiredState::kPending) + result.Count(ic::DesiredState::kUnresolved) +
           result.Count(ic::DesiredState::kInProgress) + result.Count(ic::DesiredState::kFailed);
  }
  size_t Unmatched() const {
    return plan.Count(ReapplyAction::kAmbiguous) + plan.Count(ReapplyAction::kMissing);
  }
};

// Match, run the engine, and (unless dry) let the ledger follow.
asio::awaitable<Result<AwsPass>> RunPass(StateDb& state, aws::Client& client, const Config& config,
                                         const ic::Instance& instance,
                                         const ic::ReapplyOptions& options) {
  AwsPass pass;
  pass.identity_store_id = instance.identity_store_id;
  auto plan = MatchLedger(state, config.assignments);
  if (!plan.ok()) co_return plan.status();
  pass.plan = std::move(*plan);
  auto catalog = co_await ic::Catalog::Load(client, instance);
  if (!catalog.ok()) co_return catalog.status();
  const std::vector<ic::DesiredAssignment> desired = DesiredOf(pass.plan);
  auto result = co_await ic::Reapply(client, state, instance, *catalog, desired, options);
  if (!result.ok()) co_return result.status();
  pass.result = std::move(*result);

  // The steps as PlanReapply would give them had it seen the instance:
  // listed for the matched principal = in place (or relink); created now =
  // restored; the rest stays a restore that has not landed.
  pass.landed.assign(pass.plan.steps.size(), false);
  for (size_t i = 0; i < pass.plan.steps.size(); ++i) {
    ReapplyStep& step = pass.plan.steps[i];
    if (step.action != ReapplyAction::kRestore) continue;
    const LedgerEntry& e = pass.plan.ledger[step.entry];
    auto it = pass.result.by_ledger_id.find(e.id);
    if (it == pass.result.by_ledger_id.end()) continue;
    if (it->second.state == ic::DesiredState::kPresent) {
      const bool same = e.status == LedgerStatus::kActive &&
                        e.principal.guid == pass.plan.principals[*step.principal].guid;
      step.action = same ? ReapplyAction::kInPlace : ReapplyAction::kRelink;
    } else if (it->second.state == ic::DesiredState::kCreated) {
      const bool same = e.status == LedgerStatus::kActive &&
                        e.principal.guid == pass.plan.principals[*step.principal].guid;
      // Journaled as created by an earlier pass and already active here:
      // nothing for the ledger to do.
      pass.landed[i] = !same;
      if (same) step.action = ReapplyAction::kInPlace;
    }
  }
  if (options.dry_run) co_return pass;
  if (Status st = RecordReapply(state, pass.plan, pass.landed, UnixNow(), &pass.outcome);
      !st.ok()) {
    co_return st;
  }
  auto row = state.LoadAwsIdentityStore(instance.identity_store_id);
  if (!row.ok()) co_return row.status();
  AwsIdentityStoreState summary;
  summary.identity_store_id = instance.identity_store_id;
  if (*row) summary = **row;
  summary.reapplied_at = UnixNow();
  summary.ambiguous = static_cast<int64_t>(pass.plan.Count(ReapplyAction::kAmbiguous));
  summary.missing = static_cast<int64_t>(pass.plan.Count(ReapplyAction::kMissing));
  summary.unrecorded = static_cast<int64_t>(pass.result.unrecorded.size());
  if (Status st = state.SaveAwsIdentityStore(summary); !st.ok()) co_return st;
  co_return pass;
}

ic::ReapplyOptions OptionsFor(const Config& config) {
  ic::ReapplyOptions options;
  options.max_outstanding = std::min(config.aws.max_outstanding, kAwsMaxOutstanding);
  options.cadence = ic::PollCadenceFromEnvironment();
  if (const char* crash = std::getenv("SYNCD_AWS_CRASH_AFTER_CREATES")) {  // NOLINT
    options.crash_after_creates = std::atoi(crash);                        // NOLINT(cert-err34-c)
  }
  return options;
}

std::string Who(const ReapplyPlan& plan, const ReapplyStep& step) {
  const LedgerEntry& e = plan.ledger[step.entry];
  std::string who = std::string(KindName(e.principal.kind)) + " " + e.principal.name;
  if (step.principal) {
    const SyncObject& p = plan.principals[*step.principal];
    if (p.guid != e.principal.guid) who += " -> " + std::string(KindName(p.kind)) + " " + p.name;
  }
  return who;
}

void PrintPassText(std::ostream& out, const AwsPass& pass, bool dry_run) {
  const ic::ReapplyResult& r = pass.result;
  out << (dry_run ? "reapply plan (dry run)" : "reapply") << " into identity store "
      << pass.identity_store_id << ": " << r.Count(ic::DesiredState::kCreated) << " created, "
      << r.Count(ic::DesiredState::kPresent) << " in place, "
      << r.Count(ic::DesiredState::kInProgress) << " in progress, "
      << r.Count(ic::DesiredState::kPending) << " pending, "
      << r.Count(ic::DesiredState::kUnresolved) << " waiting for their principal, "
      << r.Count(ic::DesiredState::kFailed) << " failed, "
      << pass.plan.Count(ReapplyAction::kAmbiguous) << " ambiguous, "
      << pass.plan.Count(ReapplyAction::kMissing) << " missing, " << r.unrecorded.size()
      << " unrecorded\n";
  for (const auto& call : r.calls) out << ic::CreateCallText(call) << "\n";
  for (const auto& step : pass.plan.steps) {
    const LedgerEntry& e = pass.plan.ledger[step.entry];
    std::string what;
    std::string why;
    if (step.action == ReapplyAction::kAmbiguous) {
      what = "ambiguous";
      why = std::to_string(step.candidates.size()) + " candidates by " + MatchKeyName(*step.key) +
            "; left alone";
    } else if (step.action == ReapplyAction::kMissing) {
      what = "missing";
      why = "no principal matches by any configured key; left alone";
    } else if (auto it = r.by_ledger_id.find(e.id); it != r.by_ledger_id.end()) {
      const ic::DesiredState s = it->second.state;
      if (s == ic::DesiredState::kPresent) continue;
      if (s == ic::DesiredState::kPending && dry_run) continue;  // the calls say it
      what = ic::DesiredStateName(s);
      why = it->second.reason;
    } else {
      continue;
    }
    out << "  " << what << "  #" << e.id << " " << TerminalSafe(e.target) << "  "
        << TerminalSafe(Who(pass.plan, step)) << (why.empty() ? "" : ": " + TerminalSafe(why))
        << "\n";
  }
  if (!dry_run) {
    out << "ledger: " << pass.outcome.restored << " restored, " << pass.outcome.relinked
        << " relinked, " << pass.outcome.merged << " merged\n";
  }
}

void PrintPassJson(std::ostream& out, const AwsPass& pass, bool dry_run) {
  const ic::ReapplyResult& r = pass.result;
  json::array calls;
  for (const auto& call : r.calls) calls.emplace_back(ic::CreateCallJson(call));
  json::array entries;
  for (const auto& step : pass.plan.steps) {
    const LedgerEntry& e = pass.plan.ledger[step.entry];
    json::object entry{{"id", e.id}, {"target", e.target}, {"principal", Who(pass.plan, step)}};
    // The engine's outcome for what it handled; the plan's action otherwise
    // (ambiguous, missing, duplicate, in place).
    auto it = r.by_ledger_id.find(e.id);
    if (it == r.by_ledger_id.end()) {
      entry["state"] = ReapplyActionName(step.action);
    } else {
      entry["state"] = ic::DesiredStateName(it->second.state);
      if (!it->second.reason.empty()) entry["reason"] = it->second.reason;
    }
    entries.emplace_back(std::move(entry));
  }
  json::object summary;
  for (auto s :
       {ic::DesiredState::kCreated, ic::DesiredState::kPresent, ic::DesiredState::kInProgress,
        ic::DesiredState::kPending, ic::DesiredState::kUnresolved, ic::DesiredState::kFailed}) {
    summary[ic::DesiredStateName(s)] = r.Count(s);
  }
  summary["ambiguous"] = pass.plan.Count(ReapplyAction::kAmbiguous);
  summary["missing"] = pass.plan.Count(ReapplyAction::kMissing);
  summary["unrecorded"] = r.unrecorded.size();
  json::object root{{"identityStoreId", pass.identity_store_id},
                    {"dryRun", dry_run},
                    {"summary", std::move(summary)},
                    {"calls", std::move(calls)},
                    {"assignments", std::move(entries)}};
  if (!dry_run) {
    root["ledger"] = json::object{{"restored", pass.outcome.restored},
                                  {"relinked", pass.outcome.relinked},
                                  {"merged", pass.outcome.merged}};
  }
  out << json::serialize(root) << "\n";
}

// Runs `body` with an AWS session on a loop of the command's own.
template <typename T>
Result<T> WithAws(const Config& config,
                  const std::function<asio::awaitable<Result<T>>(aws::Client&)>& body) {
  asio::io_context loop;
  auto session = OpenAws(config, loop.get_executor());
  if (!session.ok()) return session.status();
  auto future = asio::co_spawn(loop, body(*session->client), asio::use_future);
  loop.run();
  try {
    return future.get();
  } catch (const std::exception& e) {
    return Status::Internal(e.what());
  }
}

}  // namespace

Result<int> AwsReapplyCommand(const Config& config, bool dry_run, bool json, std::ostream& out) {
  RunLock lock;
  if (!dry_run) {
    if (Status st = lock.Acquire(config.state_path + ".lock"); !st.ok()) return st;
  }
  auto state = StateDb::Open(config.state_path, /*read_only=*/dry_run);
  if (!state.ok()) return state.status();
  StateDb& db = **state;
  ic::ReapplyOptions options = OptionsFor(config);
  options.dry_run = dry_run;
  options.explicit_run = true;
  auto pass =
      WithAws<AwsPass>(config, [&](aws::Client& client) -> asio::awaitable<Result<AwsPass>> {
        auto instance = co_await ic::DiscoverInstance(client, config.aws.instance_arn);
        if (!instance.ok()) co_return instance.status();
        co_return co_await RunPass(db, client, config, *instance, options);
      });
  if (!pass.ok()) return pass.status();
  if (!dry_run && pass->Left() == pass->result.Count(ic::DesiredState::kFailed)) {
    // Settled: nothing left that another pass could change by itself.
    auto recorded = db.LoadAwsInstance();
    if (recorded.ok() && *recorded && (*recorded)->reapply_pending &&
        (*recorded)->identity_store_id == pass->identity_store_id) {
      AwsInstanceState cleared = **recorded;
      cleared.reapply_pending = false;
      if (Status st = db.SaveAwsInstance(cleared); !st.ok()) return st;
    }
  }
  if (json) {
    PrintPassJson(out, *pass, dry_run);
  } else {
    PrintPassText(out, *pass, dry_run);
  }
  const bool left =
      pass->Left() > 0 || pass->Unmatched() > 0 || (dry_run && !pass->result.calls.empty());
  return left ? kExitPending : kExitDone;
}

Result<int> AwsCheckCommand(const Config& config, bool json, std::ostream& out) {
  auto state = StateDb::Open(config.state_path, /*read_only=*/true);
  if (!state.ok()) return state.status();
  StateDb& db = **state;
  auto plan = WithAws<ReapplyPlan>(
      config, [&](aws::Client& client) -> asio::awaitable<Result<ReapplyPlan>> {
        auto instance = co_await ic::DiscoverInstance(client, config.aws.instance_arn);
        if (!instance.ok()) co_return instance.status();
        auto catalog = co_await ic::Catalog::Load(client, *instance);
        if (!catalog.ok()) co_return catalog.status();
        auto matched = MatchLedger(db, config.assignments);
        if (!matched.ok()) co_return matched.status();
        const std::vector<ic::DesiredAssignment> desired = DesiredOf(*matched);
        auto ids = co_await ic::LookUpPrincipalIds(client, db, *instance, desired);
        if (!ids.ok()) co_return ids.status();
        // Everything live: the provisioned pairs, and the ledger's targets
        // (a pair whose last assignment was removed by hand).
        auto live = co_await ic::ReadAssignments(client, *instance, *catalog);
        if (!live.ok()) co_return live.status();
        std::set<std::string> read;
        for (const auto& a : *live) read.insert(a.target.Name());
        std::map<std::string, std::string> name_of;  // ARN key -> the ledger's target
        for (const auto& d : desired) {
          auto target = ic::TargetFromLedger(d.target, d.target_ref);
          if (!target.ok()) continue;
          const bool has_arn = target->type == ic::TargetType::kApplication
                                   ? !target->application_arn.empty()
                                   : !target->permission_set_arn.empty();
          if (!has_arn && !catalog->Resolve(&*target).ok()) continue;
          name_of.emplace(ic::AssignmentKey(*target, ic::PrincipalType::kUser, ""), d.target);
          if (read.insert(target->Name()).second) {
            auto more = co_await ic::ReadTargetAssignments(client, *instance, *target);
            if (!more.ok()) co_return more.status();
            live->insert(live->end(), more->begin(), more->end());
          }
        }
        // Live assignments as the store's assignments of PlanReapply.
        std::map<std::string, const SyncObject*> by_id;  // principal id -> object
        for (const auto& p : matched->principals) {
          if (auto it = ids->find(p.guid); it != ids->end()) by_id[it->second] = &p;
        }
        std::vector<StoredAssignment> in_store;
        for (const auto& a : *live) {
          auto name = name_of.find(ic::AssignmentKey(a.target, ic::PrincipalType::kUser, ""));
          const std::string target = name == name_of.end() ? a.target.Name() : name->second;
          auto p = by_id.find(a.principal_id);
          if (p == by_id.end()) {
            in_store.push_back({a.principal_type == ic::PrincipalType::kGroup ? ObjectKind::kGroup
                                                                              : ObjectKind::kUser,
                                a.principal_id, target});
          } else {
            in_store.push_back({p->second->kind, p->second->external_id, target});
          }
        }
        co_return PlanReapply(std::move(matched->ledger), std::move(matched->principals), in_store,
                              config.assignments.match);
      });
  if (!plan.ok()) return plan.status();
  if (json) {
    json::array drift;
    json::array unrecorded;
    for (const auto& step : plan->steps) {
      if (step.action == ReapplyAction::kInPlace) continue;
      const LedgerEntry& e = plan->ledger[step.entry];
      drift.emplace_back(json::object{{"id", e.id},
                                      {"target", e.target},
                                      {"action", ReapplyActionName(step.action)},
                                      {"principal", Who(*plan, step)}});
    }
    for (const auto& a : plan->unrecorded) {
      unrecorded.emplace_back(json::object{
          {"kind", KindName(a.kind)}, {"principal", a.external_id}, {"target", a.target}});
    }
    out << json::serialize(
               json::object{{"entries", std::move(drift)}, {"unrecorded", std::move(unrecorded)}})
        << "\n";
  } else {
    PrintReapplyText(out, *plan, "assignments check (IAM Identity Center)");
  }
  const bool clean = plan->Settled() && plan->unrecorded.empty() &&
                     plan->Count(ReapplyAction::kAmbiguous) == 0 &&
                     plan->Count(ReapplyAction::kMissing) == 0;
  return clean ? kExitDone : kExitPending;
}

asio::awaitable<Status> AutoReapplyAws(StateDb& state, aws::Client& client, const Config& config,
                                       const ic::Instance& instance,
                                       std::chrono::steady_clock::time_point deadline) {
  auto recorded = state.LoadAwsInstance();
  if (!recorded.ok()) co_return recorded.status();
  const bool switched = *recorded && (*recorded)->reapply_pending;
  auto ops = state.LoadAwsOperations(instance.identity_store_id);
  if (!ops.ok()) co_return ops.status();
  const bool unsettled = std::any_of(ops->begin(), ops->end(), [](const AwsOperation& op) {
    return op.status != AwsOpStatus::kSucceeded && op.status != AwsOpStatus::kFailed;
  });
  if (!switched && !unsettled) co_return Status::Ok();
  if (!config.assignments.auto_reapply) {
    Log(LogLevel::kWarning,
        "IAM Identity Center: assignments wait to be reapplied into identity store " +
            instance.identity_store_id +
            "; review `syncd assignments reapply --dry-run`, then run `syncd assignments "
            "reapply` ([assignments] reapply = \"manual\")");
    co_return Status::Ok();
  }
  ic::ReapplyOptions options = OptionsFor(config);
  options.explicit_run = false;
  options.deadline = deadline;
  auto pass = co_await RunPass(state, client, config, instance, options);
  if (!pass.ok()) co_return pass.status().WithContext("reapplying assignments");
  std::ostringstream lines;
  PrintPassText(lines, *pass, false);
  Log(LogLevel::kInfo, lines.str());
  if (switched && pass->Left() == pass->result.Count(ic::DesiredState::kFailed)) {
    AwsInstanceState cleared = **recorded;
    cleared.reapply_pending = false;
    if (Status st = state.SaveAwsInstance(cleared); !st.ok()) co_return st;
  }
  co_return Status::Ok();
}

namespace {

struct AwsStatusCounts {
  AwsInstanceState instance;
  std::optional<AwsIdentityStoreState> store;
  int64_t resolved = 0;
  std::set<std::string> pending_principals;
  std::map<AwsOpStatus, int64_t> by_status;
  std::vector<const AwsOperation*> failed;
  std::vector<AwsOperation> ops;
  int64_t eta_seconds = 0;
};

Result<std::optional<AwsStatusCounts>> LoadAwsStatus(StateDb& state) {
  auto instance = state.LoadAwsInstance();
  if (!instance.ok()) return instance.status();
  if (!*instance) return std::optional<AwsStatusCounts>();
  AwsStatusCounts c;
  c.instance = **instance;
  const std::string& id = c.instance.identity_store_id;
  auto store = state.LoadAwsIdentityStore(id);
  if (!store.ok()) return store.status();
  c.store = *store;
  auto principals = state.LoadAwsPrincipals(id);
  if (!principals.ok()) return principals.status();
  c.resolved = static_cast<int64_t>(principals->size());
  auto ops = state.LoadAwsOperations(id);
  if (!ops.ok()) return ops.status();
  c.ops = std::move(*ops);
  // The completion rate of the last ten minutes, for the ETA.
  constexpr int64_t kWindow = 600;
  const int64_t now = UnixNow();
  int64_t completed = 0;
  int64_t remaining = 0;
  for (const auto& op : c.ops) {
    ++c.by_status[op.status];
    if (op.status == AwsOpStatus::kUnresolved) c.pending_principals.insert(op.principal_guid);
    if (op.status == AwsOpStatus::kFailed) c.failed.push_back(&op);
    if (op.status == AwsOpStatus::kSucceeded && op.changed_at >= now - kWindow) ++completed;
    if (op.status == AwsOpStatus::kPending || op.status == AwsOpStatus::kSending ||
        op.status == AwsOpStatus::kInProgress) {
      ++remaining;
    }
  }
  c.eta_seconds = ic::EstimateSeconds(remaining, completed, kWindow);
  return std::optional<AwsStatusCounts>(std::move(c));
}

int64_t CountOf(const AwsStatusCounts& c, AwsOpStatus s) {
  auto it = c.by_status.find(s);
  return it == c.by_status.end() ? 0 : it->second;
}

}  // namespace

Status PrintAwsStatus(StateDb& state, std::ostream& out) {
  auto loaded = LoadAwsStatus(state);
  if (!loaded.ok()) return loaded.status();
  if (!*loaded) return Status::Ok();
  const AwsStatusCounts& c = **loaded;
  out << "IAM Identity Center: " << TerminalSafe(c.instance.instance_arn) << "\n";
  out << "  identity store: " << c.instance.identity_store_id;
  if (!c.instance.previous_identity_store_id.empty()) {
    out << " (was " << c.instance.previous_identity_store_id << " until "
        << UtcTimestamp(c.instance.switched_at) << ")";
  }
  out << (c.instance.reapply_pending ? "; reapply pending" : "") << "\n";
  const int64_t unmatched = c.store ? c.store->ambiguous + c.store->missing : 0;
  out << "  principals: " << c.resolved << " resolved, " << c.pending_principals.size()
      << " pending (not in the identity store yet), " << unmatched << " unmatched"
      << (c.store && unmatched > 0 ? " (" + std::to_string(c.store->ambiguous) + " ambiguous, " +
                                         std::to_string(c.store->missing) + " missing)"
                                   : "")
      << "\n";
  const int64_t in_progress =
      CountOf(c, AwsOpStatus::kInProgress) + CountOf(c, AwsOpStatus::kSending);
  out << "  assignments: " << CountOf(c, AwsOpStatus::kSucceeded) << " restored, " << in_progress
      << " in progress, "
      << CountOf(c, AwsOpStatus::kPending) + CountOf(c, AwsOpStatus::kUnresolved) << " pending, "
      << c.failed.size() << " failed";
  if (c.eta_seconds > 0) out << "; about " << (c.eta_seconds + 59) / 60 << " min left";
  out << "\n";
  for (const AwsOperation* op : c.failed) {
    out << "    failed: " << TerminalSafe(op->target) << " for " << TerminalSafe(op->principal_name)
        << ": " << TerminalSafe(op->reason) << "\n";
  }
  if (c.store && c.store->reapplied_at > 0) {
    out << "  last reapply: " << UtcTimestamp(c.store->reapplied_at) << "\n";
  }
  return Status::Ok();
}

Result<json::value> AwsStatusJson(StateDb& state) {
  auto loaded = LoadAwsStatus(state);
  if (!loaded.ok()) return loaded.status();
  if (!*loaded) return json::value(nullptr);
  const AwsStatusCounts& c = **loaded;
  json::array failed;
  for (const AwsOperation* op : c.failed) {
    failed.emplace_back(json::object{
        {"target", op->target}, {"principal", op->principal_name}, {"reason", op->reason}});
  }
  return json::value(json::object{
      {"instance_arn", c.instance.instance_arn},
      {"identity_store_id", c.instance.identity_store_id},
      {"previous_identity_store_id", c.instance.previous_identity_store_id},
      {"switched_at", c.instance.switched_at},
      {"reapply_pending", c.instance.reapply_pending},
      {"principals", json::object{{"resolved", c.resolved},
                                  {"pending", c.pending_principals.size()},
                                  {"ambiguous", c.store ? c.store->ambiguous : 0},
                                  {"missing", c.store ? c.store->missing : 0}}},
      {"assignments", json::object{{"restored", CountOf(c, AwsOpStatus::kSucceeded)},
                                   {"in_progress", CountOf(c, AwsOpStatus::kInProgress) +
                                                       CountOf(c, AwsOpStatus::kSending)},
                                   {"pending", CountOf(c, AwsOpStatus::kPending) +
                                                   CountOf(c, AwsOpStatus::kUnresolved)},
                                   {"failed", std::move(failed)}}},
      {"eta_seconds", c.eta_seconds}});
}

}  // namespace syncd
