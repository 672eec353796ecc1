#include "syncd/assignments.h"

#include <boost/asio/system_executor.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "core/log.h"
#include "core/strings.h"
#include "ldap/codec.h"
#include "store/factory.h"
#include "syncd/aws_reapply.h"
#include "syncd/engine.h"
#include "syncd/explain.h"
#include "syncd/ledger_json.h"

namespace syncd {
namespace {

namespace json = boost::json;

constexpr int kExitDone = 0;
constexpr int kExitPending = 2;

// "user alice (corp.example.com)": how a principal is named in output.
std::string Describe(const SyncObject& p, const std::string& domain_name = "") {
  return std::string(KindName(p.kind)) + " " + p.name +
         (domain_name.empty() ? "" : " (" + domain_name + ")");
}

std::string Describe(const LedgerEntry& e) { return Describe(e.principal, e.domain_name); }

// Entra Connect's source anchor: mS-DS-ConsistencyGuid when set, else the
// objectGUID (which migration tools copy into the new object's attribute).
const std::string& Anchor(const SyncObject& p) {
  return p.source->consistency_guid.empty() ? p.guid : p.source->consistency_guid;
}

// Every principal of the store under each key, for one lookup per entry.
class PrincipalIndex {
 public:
  explicit PrincipalIndex(const std::vector<SyncObject>& principals) {
    for (size_t i = 0; i < principals.size(); ++i) {
      const SyncObject& p = principals[i];
      Add(MatchKey::kObjectGuid, p.guid, i);
      for (const auto& sid : p.source->sid_history) Add(MatchKey::kSidHistory, sid, i);
      if (!p.source->sid.empty()) by_sid_[p.source->sid].push_back(i);
      Add(MatchKey::kConsistencyGuid, Anchor(p), i);
      Add(MatchKey::kUserPrincipalName, AsciiLower(p.source->user_principal_name), i);
      Add(MatchKey::kMail, AsciiLower(p.source->mail), i);
      Add(MatchKey::kSamAccountName, AsciiLower(p.source->sam_account_name), i);
    }
  }

  // The principals of old's kind that share old's value at `key`.
  std::vector<size_t> Find(MatchKey key, const SyncObject& old,
                           const std::vector<SyncObject>& principals) const {
    std::vector<std::string> values;
    std::set<size_t> found;
    switch (key) {
      case MatchKey::kObjectGuid:
        values = {old.guid};
        break;
      case MatchKey::kSidHistory:
        // The old SID (or one it carried from an earlier migration) in the
        // new principal's sIDHistory; or, back across a migration, the new
        // principal's SID in the old one's history.
        values = old.source->sid_history;
        values.push_back(old.source->sid);
        for (const auto& sid : old.source->sid_history) {
          if (auto it = by_sid_.find(sid); it != by_sid_.end()) {
            found.insert(it->second.begin(), it->second.end());
          }
        }
        break;
      case MatchKey::kConsistencyGuid:
        values = {Anchor(old)};
        break;
      case MatchKey::kUserPrincipalName:
        values = {AsciiLower(old.source->user_principal_name)};
        break;
      case MatchKey::kMail:
        values = {AsciiLower(old.source->mail)};
        break;
      case MatchKey::kSamAccountName:
        values = {AsciiLower(old.source->sam_account_name)};
        break;
    }
    const auto& index = by_key_[static_cast<size_t>(key)];
    for (const auto& value : values) {
      if (value.empty()) continue;
      auto it = index.find(value);
      if (it != index.end()) found.insert(it->second.begin(), it->second.end());
    }
    std::vector<size_t> of_kind;
    for (size_t i : found) {
      if (principals[i].kind == old.kind) of_kind.push_back(i);
    }
    return of_kind;
  }

 private:
  void Add(MatchKey key, const std::string& value, size_t i) {
    if (!value.empty()) by_key_[static_cast<size_t>(key)][value].push_back(i);
  }

  static constexpr size_t kKeys = static_cast<size_t>(MatchKey::kSamAccountName) + 1;
  std::unordered_map<std::string, std::vector<size_t>> by_key_[kKeys];
  std::unordered_map<std::string, std::vector<size_t>> by_sid_;  // objectSid
};

// Why an entry now belongs to its matched principal, for the ledger.
std::string RelinkReason(const ReapplyPlan& plan, const ReapplyStep& step) {
  const LedgerEntry& e = plan.ledger[step.entry];
  const SyncObject& p = plan.principals[*step.principal];
  if (p.guid == e.principal.guid) {
    return "restored to " + Describe(p) +
           (e.status == LedgerStatus::kActive ? ": the store had lost it"
                                              : ": its principal is back in the store");
  }
  return "reapplied to " + Describe(p, DnsDomainOf(p.source->dn)) + ", matched by " +
         MatchKeyName(*step.key) + "; was " + Describe(e);
}

json::object StepJson(const ReapplyPlan& plan, const ReapplyStep& step) {
  const LedgerEntry& e = plan.ledger[step.entry];
  json::object out{{"id", e.id},
                   {"target", e.target},
                   {"action", ReapplyActionName(step.action)},
                   {"status", LedgerStatusName(e.status)},
                   {"principal", PrincipalJson(e.principal, e.domain_sid, e.domain_name)}};
  if (step.key) out["matchedBy"] = MatchKeyName(*step.key);
  auto identity = [](const SyncObject& p) {
    return json::object{{"kind", KindName(p.kind)},
                        {"name", p.name},
                        {"externalId", p.external_id},
                        {"dn", p.source->dn}};
  };
  if (step.principal) out["match"] = identity(plan.principals[*step.principal]);
  if (!step.candidates.empty()) {
    json::array candidates;
    for (size_t i : step.candidates) candidates.emplace_back(identity(plan.principals[i]));
    out["candidates"] = std::move(candidates);
  }
  if (step.duplicate_of != 0) out["duplicateOf"] = step.duplicate_of;
  return out;
}

}  // namespace

void PrintReapplyText(std::ostream& out, const ReapplyPlan& plan, const std::string& title) {
  out << title << ": " << plan.Count(ReapplyAction::kRestore) << " to restore, "
      << plan.Count(ReapplyAction::kRelink) << " to relink, "
      << plan.Count(ReapplyAction::kDuplicate) << " duplicate, "
      << plan.Count(ReapplyAction::kInPlace) << " in place, "
      << plan.Count(ReapplyAction::kAmbiguous) << " ambiguous, "
      << plan.Count(ReapplyAction::kMissing) << " missing\n";
  for (const auto& step : plan.steps) {
    if (step.action == ReapplyAction::kInPlace) continue;
    const LedgerEntry& e = plan.ledger[step.entry];
    out << "  " << ReapplyActionName(step.action) << "  #" << e.id << " " << TerminalSafe(e.target)
        << "  " << TerminalSafe(Describe(e));
    switch (step.action) {
      case ReapplyAction::kRestore:
      case ReapplyAction::kRelink: {
        const SyncObject& p = plan.principals[*step.principal];
        out << " -> " << TerminalSafe(Describe(p, DnsDomainOf(p.source->dn))) << " (by "
            << MatchKeyName(*step.key) << ")";
        break;
      }
      case ReapplyAction::kDuplicate:
        out << ": assignment #" << step.duplicate_of << " already brings it to "
            << TerminalSafe(Describe(plan.principals[*step.principal]));
        break;
      case ReapplyAction::kAmbiguous: {
        out << ": " << step.candidates.size() << " candidates by " << MatchKeyName(*step.key)
            << ":";
        for (size_t i : step.candidates) {
          out << " " << TerminalSafe(plan.principals[i].name) << " <"
              << TerminalSafe(plan.principals[i].source->dn) << ">";
        }
        out << "; left alone";
        break;
      }
      case ReapplyAction::kMissing:
        out << ": no principal matches by any configured key; left alone";
        break;
      case ReapplyAction::kInPlace:
        break;
    }
    out << "\n";
  }
  for (const auto& a : plan.unrecorded) {
    out << "  unrecorded  " << TerminalSafe(a.target) << "  " << KindName(a.kind) << " "
        << TerminalSafe(a.external_id)
        << ": in the store, not in the ledger; left alone (syncd assign records it)\n";
  }
}

namespace {

void PrintReapplyJson(std::ostream& out, const ReapplyPlan& plan, const ReapplyOutcome* outcome) {
  json::object summary;
  for (auto action :
       {ReapplyAction::kRestore, ReapplyAction::kRelink, ReapplyAction::kDuplicate,
        ReapplyAction::kInPlace, ReapplyAction::kAmbiguous, ReapplyAction::kMissing}) {
    summary[ReapplyActionName(action)] = plan.Count(action);
  }
  json::array steps;
  for (const auto& step : plan.steps) steps.emplace_back(StepJson(plan, step));
  json::array unrecorded;
  for (const auto& a : plan.unrecorded) {
    unrecorded.emplace_back(json::object{
        {"kind", KindName(a.kind)}, {"externalId", a.external_id}, {"target", a.target}});
  }
  json::object root{{"summary", std::move(summary)},
                    {"assignments", std::move(steps)},
                    {"unrecorded", std::move(unrecorded)}};
  if (outcome != nullptr) {
    json::array failed;
    for (const auto& why : outcome->failed) failed.emplace_back(why);
    root["applied"] = json::object{{"restored", outcome->restored},
                                   {"relinked", outcome->relinked},
                                   {"merged", outcome->merged},
                                   {"failed", std::move(failed)}};
  }
  out << json::serialize(root) << "\n";
}

// State and store for a command: read-only ones for what only looks.
struct Opened {
  RunLock lock;
  std::unique_ptr<StateDb> state;
  OpenedStore store;
  AssignmentSink* assignments = nullptr;  // store's
};

Result<std::unique_ptr<Opened>> Open(const Config& config, bool write) {
  auto opened = std::make_unique<Opened>();
  if (write) {
    if (Status st = opened->lock.Acquire(config.state_path + ".lock"); !st.ok()) return st;
  }
  auto state = StateDb::Open(config.state_path, /*read_only=*/!write);
  if (!state.ok()) return state.status();
  opened->state = std::move(*state);
  // The assignment commands run no event loop: a store that needs one for
  // its own requests holds no assignments here either.
  auto store = OpenStore(boost::asio::system_executor(), config.store, /*read_only=*/!write);
  if (!store.ok()) return store.status();
  opened->store = std::move(*store);
  opened->assignments = opened->store.assignments;
  if (opened->assignments == nullptr) {
    return Status::InvalidArgument(opened->store.sink->Describe() +
                                   " holds no assignments syncd can manage yet; the ledger "
                                   "(syncd assignments list) keeps what was granted");
  }
  return opened;
}

// `change` inside Begin/Commit of `store`; rolled back when it fails.
Status InOneBatch(AssignmentSink& store, const std::function<Status()>& change) {
  Status st = store.Begin();
  if (!st.ok()) return st;
  st = change();
  if (!st.ok()) {
    store.Rollback();
    return st;
  }
  return store.Commit();
}

// The one object of `kind` that NAME designates among `objects`.
Result<const SyncObject*> FindOne(const std::vector<SyncObject>& objects, ObjectKind kind,
                                  const std::string& name, const std::string& where) {
  std::vector<SyncObject> of_kind;
  for (const auto& o : objects) {
    if (o.kind == kind) of_kind.push_back(o);
  }
  auto [key, found] = FindObjects(of_kind, name);
  if (found.empty()) {
    return Status::NotFound(std::string("no ") + KindName(kind) + " '" + name + "' " + where);
  }
  if (found.size() > 1) {
    std::string names;
    for (const auto* o : found)
      names += "\n  " + o->name + " <" + o->source->dn + "> " + o->external_id;
    return Status::InvalidArgument(std::to_string(found.size()) + " " + KindName(kind) +
                                   "s match '" + name + "' by " + key +
                                   "; name one by its objectGUID:" + names);
  }
  // Back into `objects`: the copy goes when this returns.
  for (const auto& o : objects) {
    if (o.guid == found.front()->guid) return &o;
  }
  return Status::Internal("lost the match for " + name);
}

}  // namespace

const char* ReapplyActionName(ReapplyAction action) {
  switch (action) {
    case ReapplyAction::kInPlace:
      return "in-place";
    case ReapplyAction::kRestore:
      return "restore";
    case ReapplyAction::kRelink:
      return "relink";
    case ReapplyAction::kDuplicate:
      return "duplicate";
    case ReapplyAction::kAmbiguous:
      return "ambiguous";
    case ReapplyAction::kMissing:
      return "missing";
  }
  return "?";
}

size_t ReapplyPlan::Count(ReapplyAction action) const {
  return static_cast<size_t>(std::count_if(
      steps.begin(), steps.end(), [action](const ReapplyStep& s) { return s.action == action; }));
}

bool ReapplyPlan::Settled() const {
  return Count(ReapplyAction::kRestore) == 0 && Count(ReapplyAction::kRelink) == 0 &&
         Count(ReapplyAction::kDuplicate) == 0;
}

ReapplyPlan PlanReapply(std::vector<LedgerEntry> ledger, std::vector<SyncObject> principals,
                        const std::vector<StoredAssignment>& in_store,
                        const std::vector<MatchKey>& order) {
  ReapplyPlan plan;
  std::erase_if(ledger, [](const LedgerEntry& e) { return e.status == LedgerStatus::kRemoved; });
  plan.ledger = std::move(ledger);
  plan.principals = std::move(principals);
  const PrincipalIndex index(plan.principals);
  std::set<std::pair<std::string, std::string>> stored;  // (externalId, target)
  for (const auto& a : in_store) stored.emplace(a.external_id, a.target);

  // Claims go first to active entries whose principal is still in the store
  // (they are that principal), then to the other active ones, then to the
  // orphaned: what is in force keeps its claim over anything that matches
  // the same principal and target through another key.
  std::set<std::string> present;
  for (const auto& p : plan.principals) present.insert(p.guid);
  auto rank = [&](size_t i) {
    const LedgerEntry& e = plan.ledger[i];
    if (e.status != LedgerStatus::kActive) return 2;
    return present.contains(e.principal.guid) ? 0 : 1;
  };
  std::vector<size_t> order_of_entries(plan.ledger.size());
  for (size_t i = 0; i < order_of_entries.size(); ++i) order_of_entries[i] = i;
  std::stable_sort(order_of_entries.begin(), order_of_entries.end(),
                   [&](size_t x, size_t y) { return rank(x) < rank(y); });

  std::map<std::pair<std::string, std::string>, int64_t> claimed;  // (guid, target) -> id
  std::vector<ReapplyStep> steps(plan.ledger.size());
  for (size_t i : order_of_entries) {
    const LedgerEntry& e = plan.ledger[i];
    ReapplyStep& step = steps[i];
    step.entry = i;
    std::vector<MatchKey> keys = order;
    if (e.status == LedgerStatus::kActive) keys.insert(keys.begin(), MatchKey::kObjectGuid);
    for (MatchKey key : keys) {
      std::vector<size_t> found = index.Find(key, e.principal, plan.principals);
      if (found.empty()) continue;
      step.key = key;
      if (found.size() > 1) {
        step.action = ReapplyAction::kAmbiguous;
        step.candidates = std::move(found);
      } else {
        step.principal = found.front();
      }
      break;
    }
    if (!step.principal) continue;  // ambiguous, or missing (the default)
    const SyncObject& p = plan.principals[*step.principal];
    auto [claim, fresh] = claimed.emplace(std::pair{p.guid, e.target}, e.id);
    if (!fresh) {
      step.action = ReapplyAction::kDuplicate;
      step.duplicate_of = claim->second;
    } else if (!stored.contains({p.external_id, e.target})) {
      step.action = ReapplyAction::kRestore;
    } else if (e.status == LedgerStatus::kActive && e.principal.guid == p.guid) {
      step.action = ReapplyAction::kInPlace;
    } else {
      step.action = ReapplyAction::kRelink;
    }
  }
  plan.steps = std::move(steps);

  std::set<std::pair<std::string, std::string>> recorded;
  for (const auto& e : plan.ledger) {
    if (e.status == LedgerStatus::kActive) recorded.emplace(e.principal.external_id, e.target);
  }
  for (const auto& step : plan.steps) {
    if (step.principal) {
      recorded.emplace(plan.principals[*step.principal].external_id,
                       plan.ledger[step.entry].target);
    }
  }
  for (const auto& a : in_store) {
    if (!recorded.contains({a.external_id, a.target})) plan.unrecorded.push_back(a);
  }
  return plan;
}

Result<ReapplyPlan> LoadReapplyPlan(StateDb& state, AssignmentSink& store,
                                    const AssignmentsConfig& config) {
  auto ledger = state.LoadLedger();
  if (!ledger.ok()) return ledger.status();
  auto principals = state.LoadObjects();
  if (!principals.ok()) return principals.status();
  auto in_store = store.ListAssignments();
  if (!in_store.ok()) return in_store.status();
  return PlanReapply(std::move(*ledger), std::move(*principals), *in_store, config.match);
}

Result<ReapplyOutcome> ApplyReapply(StateDb& state, AssignmentSink& store, ReapplyPlan plan,
                                    int64_t now) {
  ReapplyOutcome outcome;
  std::vector<bool> landed(plan.steps.size(), false);
  if (plan.Count(ReapplyAction::kRestore) > 0) {
    if (Status st = store.Begin(); !st.ok()) return st;
    for (size_t i = 0; i < plan.steps.size(); ++i) {
      const ReapplyStep& step = plan.steps[i];
      if (step.action != ReapplyAction::kRestore) continue;
      const SyncObject& p = plan.principals[*step.principal];
      const std::string& target = plan.ledger[step.entry].target;
      Status st = store.Assign({p.kind, p.external_id, target});
      if (st.code() == Status::Code::kNotFound) {
        // The state knows a principal the store lacks (its create was
        // refused): this one waits, the rest go ahead.
        outcome.failed.push_back(st.message());
        continue;
      }
      if (!st.ok()) {
        store.Rollback();
        return st;
      }
      landed[i] = true;
    }
    if (Status st = store.Commit(); !st.ok()) return st;
  }
  if (Status st = RecordReapply(state, plan, landed, now, &outcome); !st.ok()) return st;
  outcome.plan = std::move(plan);
  return outcome;
}

Status RecordReapply(StateDb& state, const ReapplyPlan& plan, const std::vector<bool>& landed,
                     int64_t now, ReapplyOutcome* outcome) {
  ReapplyOutcome& counts = *outcome;
  // Retired entries are saved before the ones they give way to: an entry
  // becomes active only once no other active one holds its principal and
  // target (the ledger's unique index).
  std::vector<LedgerEntry> retired, changed;
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const ReapplyStep& step = plan.steps[i];
    LedgerEntry e = plan.ledger[step.entry];
    if (step.action == ReapplyAction::kDuplicate) {
      e.status = LedgerStatus::kRemoved;
      e.reason = "merged into assignment #" + std::to_string(step.duplicate_of) +
                 ", which brings the same target to " + Describe(plan.principals[*step.principal]);
      e.changed_at = now;
      retired.push_back(std::move(e));
      ++counts.merged;
      continue;
    }
    if (landed[i] || step.action == ReapplyAction::kRelink) {
      const SyncObject& p = plan.principals[*step.principal];
      e.reason = RelinkReason(plan, step);
      LedgerEntry keys = LedgerEntryFor(p, e.target);
      e.principal = std::move(keys.principal);
      e.domain_sid = std::move(keys.domain_sid);
      e.domain_name = std::move(keys.domain_name);
      e.status = LedgerStatus::kActive;
      ++(landed[i] ? counts.restored : counts.relinked);
    } else {
      continue;
    }
    e.changed_at = now;
    changed.push_back(std::move(e));
  }
  changed.insert(changed.begin(), std::make_move_iterator(retired.begin()),
                 std::make_move_iterator(retired.end()));
  if (changed.empty()) return Status::Ok();
  return state.SaveLedger(&changed);
}

Result<ReapplyPlan> PreviewReapply(StateDb& state, const Plan& switch_plan, const Config& config,
                                   AssignmentSink* store) {
  auto ledger = state.LoadLedger();
  if (!ledger.ok()) return ledger.status();
  std::vector<SyncObject> principals;
  std::set<std::string> deleted;  // externalIds
  for (const auto& op : switch_plan.operations) {
    if (op.op == OpType::kCreate || op.op == OpType::kUpdate) principals.push_back(*op.object);
    if (op.op == OpType::kDelete) deleted.insert(op.object->external_id);
  }
  std::vector<StoredAssignment> kept;
  if (store != nullptr) {
    auto in_store = store->ListAssignments();
    if (!in_store.ok()) return in_store.status();
    for (auto& a : *in_store) {
      if (!deleted.contains(a.external_id)) kept.push_back(std::move(a));
    }
  }
  return PlanReapply(std::move(*ledger), std::move(principals), kept, config.assignments.match);
}

Result<std::pair<ObjectKind, std::string>> ParsePrincipal(const std::string& text) {
  const size_t colon = text.find(':');
  auto kind = colon == std::string::npos ? std::nullopt : ParseKind(text.substr(0, colon));
  if (!kind || colon + 1 >= text.size()) {
    return Status::InvalidArgument("a principal is user:NAME or group:NAME, not '" + text + "'");
  }
  return std::pair{*kind, text.substr(colon + 1)};
}

Result<int> AssignCommand(const Config& config, const std::string& principal,
                          const std::string& target, std::ostream& out) {
  auto spec = ParsePrincipal(principal);
  if (!spec.ok()) return spec.status();
  if (target.empty()) return Status::InvalidArgument("the target must not be empty");
  auto opened = Open(config, /*write=*/true);
  if (!opened.ok()) return opened.status();
  StateDb& state = *(*opened)->state;
  AssignmentSink& store = *(*opened)->assignments;
  auto objects = state.LoadObjects();
  if (!objects.ok()) return objects.status();
  auto found = FindOne(*objects, spec->first, spec->second,
                       "in the store (syncd assigns only to principals it syncs)");
  if (!found.ok()) return found.status();
  const SyncObject& p = **found;
  auto ledger = state.LoadLedger();
  if (!ledger.ok()) return ledger.status();
  const bool recorded = std::any_of(ledger->begin(), ledger->end(), [&](const LedgerEntry& e) {
    return e.status == LedgerStatus::kActive && e.principal.guid == p.guid && e.target == target;
  });
  if (!recorded) {
    // The ledger first: a store that fails after it shows as drift, which
    // reapply repairs; the reverse would be a grant nobody recorded.
    std::vector<LedgerEntry> entry = {LedgerEntryFor(p, target)};
    entry[0].created_at = entry[0].changed_at = UnixNow();
    entry[0].reason = "assigned with syncd assign";
    if (Status st = state.SaveLedger(&entry); !st.ok()) return st;
  }
  Status st = InOneBatch(store, [&] { return store.Assign({p.kind, p.external_id, target}); });
  if (!st.ok()) {
    return st.WithContext(
        "recorded in the ledger, but the store did not take it; "
        "`syncd assignments reapply` retries");
  }
  out << (recorded ? "already assigned: " : "assigned: ") << TerminalSafe(target) << " to "
      << TerminalSafe(Describe(p)) << " <" << TerminalSafe(p.source->dn) << ">\n";
  return kExitDone;
}

Result<int> UnassignCommand(const Config& config, const std::string& principal,
                            const std::string& target, std::ostream& out) {
  auto spec = ParsePrincipal(principal);
  if (!spec.ok()) return spec.status();
  auto opened = Open(config, /*write=*/true);
  if (!opened.ok()) return opened.status();
  StateDb& state = *(*opened)->state;
  AssignmentSink& store = *(*opened)->assignments;
  auto ledger = state.LoadLedger();
  if (!ledger.ok()) return ledger.status();
  // By the ledger's keys: the principal may have left the store already.
  // Entries already removed count only when nothing else does, so that an
  // unassign the store did not take can be run again.
  auto holders = [&](bool removed) {
    std::vector<SyncObject> principals;
    std::set<std::string> seen;
    for (const auto& e : *ledger) {
      if ((e.status == LedgerStatus::kRemoved) != removed || e.target != target) continue;
      if (seen.insert(e.principal.guid).second) principals.push_back(e.principal);
    }
    return principals;
  };
  const std::string where = "holds " + target + " in the ledger (syncd assignments list shows it)";
  const std::vector<SyncObject> holding = holders(false);
  auto found = FindOne(holding, spec->first, spec->second, where);
  std::vector<SyncObject> removed;
  if (found.status().code() == Status::Code::kNotFound) {
    removed = holders(true);
    found = FindOne(removed, spec->first, spec->second, where);
  }
  if (!found.ok()) return found.status();
  const SyncObject p = **found;
  std::vector<LedgerEntry> changed;
  for (const auto& e : *ledger) {
    if (e.status == LedgerStatus::kRemoved || e.target != target || e.principal.guid != p.guid) {
      continue;
    }
    changed.push_back(e);
    changed.back().status = LedgerStatus::kRemoved;
    changed.back().changed_at = UnixNow();
    changed.back().reason = "unassigned with syncd unassign";
  }
  if (!changed.empty()) {
    if (Status st = state.SaveLedger(&changed); !st.ok()) return st;
  }
  Status st = InOneBatch(store, [&] { return store.Unassign({p.kind, p.external_id, target}); });
  if (!st.ok()) {
    return st.WithContext(
        "removed from the ledger, but not from the store; "
        "`syncd assignments check` reports it");
  }
  out << "unassigned: " << TerminalSafe(target) << " from " << TerminalSafe(Describe(p))
      << (changed.empty() ? " (the ledger had it removed already)" : "") << "\n";
  return kExitDone;
}

Result<int> ListCommand(const Config& config, bool json, std::ostream& out) {
  auto state = StateDb::Open(config.state_path, /*read_only=*/true);
  if (!state.ok()) return state.status();
  auto ledger = (*state)->LoadLedger();
  if (!ledger.ok()) return ledger.status();
  if (json) {
    boost::json::array list;
    for (const auto& e : *ledger) list.emplace_back(LedgerEntryJson(e));
    out << boost::json::serialize(list) << "\n";
    return kExitDone;
  }
  for (const auto& e : *ledger) {
    out << "#" << e.id << "  " << LedgerStatusName(e.status) << "  " << TerminalSafe(e.target)
        << "  " << TerminalSafe(Describe(e)) << "  since " << UtcTimestamp(e.changed_at)
        << (e.status == LedgerStatus::kActive ? "" : ": " + TerminalSafe(e.reason)) << "\n";
  }
  if (ledger->empty()) out << "the ledger holds no assignments\n";
  return kExitDone;
}

Result<int> CheckCommand(const Config& config, bool json, std::ostream& out) {
  if (config.assignments.applier == "aws") return AwsCheckCommand(config, json, out);
  auto opened = Open(config, /*write=*/false);
  if (!opened.ok()) return opened.status();
  auto plan = LoadReapplyPlan(*(*opened)->state, *(*opened)->assignments, config.assignments);
  if (!plan.ok()) return plan.status();
  if (json) {
    PrintReapplyJson(out, *plan, nullptr);
  } else {
    PrintReapplyText(out, *plan, "assignments check");
  }
  const bool clean = plan->Settled() && plan->unrecorded.empty() &&
                     plan->Count(ReapplyAction::kAmbiguous) == 0 &&
                     plan->Count(ReapplyAction::kMissing) == 0;
  return clean ? kExitDone : kExitPending;
}

Result<int> ReapplyCommand(const Config& config, bool dry_run, bool json, std::ostream& out) {
  if (config.assignments.applier == "aws") return AwsReapplyCommand(config, dry_run, json, out);
  auto opened = Open(config, /*write=*/!dry_run);
  if (!opened.ok()) return opened.status();
  auto plan = LoadReapplyPlan(*(*opened)->state, *(*opened)->assignments, config.assignments);
  if (!plan.ok()) return plan.status();
  const bool unresolved =
      plan->Count(ReapplyAction::kAmbiguous) > 0 || plan->Count(ReapplyAction::kMissing) > 0;
  if (dry_run) {
    if (json) {
      PrintReapplyJson(out, *plan, nullptr);
    } else {
      PrintReapplyText(out, *plan, "reapply plan (dry run)");
    }
    return plan->Settled() && !unresolved ? kExitDone : kExitPending;
  }
  auto outcome =
      ApplyReapply(*(*opened)->state, *(*opened)->assignments, std::move(*plan), UnixNow());
  if (!outcome.ok()) return outcome.status();
  if (json) {
    PrintReapplyJson(out, outcome->plan, &*outcome);
  } else {
    PrintReapplyText(out, outcome->plan, "reapply");
    out << "applied: " << outcome->restored << " restored, " << outcome->relinked << " relinked, "
        << outcome->merged << " merged\n";
    for (const auto& why : outcome->failed) out << "  failed: " << TerminalSafe(why) << "\n";
  }
  if (!outcome->failed.empty()) return Status::Unavailable("some assignments were not restored");
  return unresolved ? kExitPending : kExitDone;
}

Result<int> ExportCommand(const Config& config, const std::string& file, std::ostream& out) {
  auto state = StateDb::Open(config.state_path, /*read_only=*/true);
  if (!state.ok()) return state.status();
  auto ledger = (*state)->LoadLedger();
  if (!ledger.ok()) return ledger.status();
  // Written aside, then renamed: a reader never sees half a file.
  const std::string partial = file + ".partial";
  {
    std::ofstream os(partial, std::ios::binary | std::ios::trunc);
    os << LedgerFileJson(*ledger, UnixNow());
    os.close();
    if (!os) return Status::Unavailable("cannot write " + partial);
  }
  std::error_code ec;
  std::filesystem::rename(partial, file, ec);
  if (ec)
    return Status::Unavailable("cannot rename " + partial + " to " + file + ": " + ec.message());
  out << "exported " << ledger->size() << " assignments to " << file << "\n";
  return kExitDone;
}

Result<int> ImportCommand(const Config& config, const std::string& file, std::ostream& out) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read " + file);
  std::stringstream text;
  text << in.rdbuf();
  auto entries = ParseLedgerFile(text.str());
  if (!entries.ok()) {
    return entries.status().WithContext(file +
                                        " is not a syncd assignments export; nothing "
                                        "was imported");
  }
  auto opened = Open(config, /*write=*/true);
  if (!opened.ok()) return opened.status();
  StateDb& state = *(*opened)->state;
  auto ledger = state.LoadLedger();
  if (!ledger.ok()) return ledger.status();
  // An entry the ledger already holds (same principal, target and status) is
  // skipped, so importing twice changes nothing.
  std::set<std::tuple<std::string, std::string, LedgerStatus>> known;
  for (const auto& e : *ledger) known.emplace(e.principal.guid, e.target, e.status);
  std::vector<std::string> guids;
  for (const auto& e : *entries) guids.push_back(e.principal.guid);
  auto present = state.LoadIdentities(guids);
  if (!present.ok()) return present.status();
  std::vector<LedgerEntry> fresh;
  for (auto& e : *entries) {
    if (e.status == LedgerStatus::kActive && !present->contains(e.principal.guid)) {
      // Active means in force on a principal of this store; this one waits
      // for reapply to find it.
      e.status = LedgerStatus::kOrphaned;
      e.reason = "imported from " + file + "; its principal is not in the store";
    }
    if (known.emplace(e.principal.guid, e.target, e.status).second) fresh.push_back(std::move(e));
  }
  if (!fresh.empty()) {
    if (Status st = state.SaveLedger(&fresh); !st.ok()) return st;
  }
  out << "imported " << fresh.size() << " assignments from " << file << " ("
      << entries->size() - fresh.size() << " already in the ledger); "
      << "`syncd assignments reapply --dry-run` shows how they will be placed\n";
  return kExitDone;
}

Status AfterSourceSwitch(StateDb& state, AssignmentSink& store, const AssignmentsConfig& config,
                         int64_t now) {
  auto plan = LoadReapplyPlan(state, store, config);
  if (!plan.ok()) return plan.status();
  const size_t waiting = plan->steps.size() - plan->Count(ReapplyAction::kInPlace);
  if (waiting == 0) return Status::Ok();
  if (!config.auto_reapply) {
    Log(LogLevel::kWarning,
        "the source changed: " + std::to_string(waiting) + " assignments wait to be reapplied (" +
            std::to_string(plan->Count(ReapplyAction::kRestore)) + " matched, " +
            std::to_string(plan->Count(ReapplyAction::kAmbiguous)) + " ambiguous, " +
            std::to_string(plan->Count(ReapplyAction::kMissing)) +
            " missing); review `syncd assignments reapply --dry-run`, then run "
            "`syncd assignments reapply` ([assignments] reapply = \"manual\")");
    return Status::Ok();
  }
  auto outcome = ApplyReapply(state, store, std::move(*plan), now);
  if (!outcome.ok()) return outcome.status().WithContext("reapplying assignments");
  std::ostringstream lines;
  PrintReapplyText(lines, outcome->plan, "reapplied assignments after the source switch");
  Log(LogLevel::kInfo, lines.str());
  for (const auto& why : outcome->failed) Log(LogLevel::kError, why);
  return Status::Ok();
}

}  // namespace syncd
