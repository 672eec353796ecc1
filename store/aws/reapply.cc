#include "store/aws/reapply.h"

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <deque>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>
#include <utility>

#include "core/log.h"
#include "core/strings.h"

namespace syncd::identity_center {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr int kListPage = 100;      // Identity Store lists: MaxResults 1-100
constexpr int kRetriesPerPass = 8;  // Conflict/5xx per create, then next pass
constexpr std::chrono::milliseconds kRetryBase{1000};
constexpr std::chrono::milliseconds kRetryCap{30000};

std::string StringAt(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

PrincipalType TypeOf(ObjectKind kind) {
  return kind == ObjectKind::kGroup ? PrincipalType::kGroup : PrincipalType::kUser;
}

// Full jitter: a random share of min(cap, base * 2^attempt).
Clock::duration FullJitter(int attempt, std::mt19937& random) {
  auto ceiling = kRetryBase * (int64_t{1} << std::min(attempt, 10));
  ceiling = std::min(ceiling, kRetryCap);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  return std::chrono::duration_cast<Clock::duration>(ceiling * unit(random));
}

asio::awaitable<void> SleepUntil(Clock::time_point when) {
  asio::steady_timer timer(co_await asio::this_coro::executor, when);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

Status ErrorStatus(const aws::CallResult& result, const std::string& what) {
  return result.error().ToStatus().WithContext(what);
}

// The identity-store ids of principals: the state's cache, then the store.
class Resolver {
 public:
  Resolver(aws::Client& client, StateDb& state, const Instance& instance)
      : client_(client), state_(state), instance_(instance) {}

  Status Load() {
    auto cached = state_.LoadAwsPrincipals(instance_.identity_store_id);
    if (!cached.ok()) return cached.status();
    for (auto& p : *cached) ids_[p.guid] = p.principal_id;
    auto store = state_.LoadAwsIdentityStore(instance_.identity_store_id);
    if (!store.ok()) return store.status();
    if (*store) {
      store_state_ = **store;
    } else {
      store_state_.identity_store_id = instance_.identity_store_id;
    }
    issuer_known_ = !store_state_.external_id_issuer.empty();
    auto counts = state_.CountObjects();
    if (!counts.ok()) return counts.status();
    counts_ = std::move(*counts);
    return Status::Ok();
  }

  const std::string* Find(const std::string& guid) const {
    auto it = ids_.find(guid);
    return it == ids_.end() ? nullptr : &it->second;
  }
  void Forget(const std::string& guid) {
    ids_.erase(guid);
    forgotten_.push_back(guid);
  }

  // Looks the principals of `needed` up; those not found stay absent.
  asio::awaitable<Status> Resolve(const std::vector<const DesiredAssignment*>& needed) {
    for (ObjectKind kind : {ObjectKind::kUser, ObjectKind::kGroup}) {
      std::vector<const DesiredAssignment*> of_kind;
      for (const auto* d : needed) {
        if (d->kind == kind && Find(d->principal_guid) == nullptr) of_kind.push_back(d);
      }
      if (of_kind.empty()) continue;
      // One Get*Id per principal (two when the ExternalId misses), or one
      // ListUsers/ListGroups page per 100 principals of the store. The
      // store holds at least the principals syncd provisions (its cache),
      // so that count estimates the sweep; a store with many principals
      // from elsewhere only makes the sweep dearer, which is why the sweep
      // must win by the per-principal cost, not tie with it.
      const auto count_it = counts_.find(KindName(kind));
      const int64_t in_store = count_it == counts_.end() ? 0 : count_it->second;
      const int64_t sweep_calls = std::max<int64_t>(1, (in_store + kListPage - 1) / kListPage);
      const auto lookup_calls = static_cast<int64_t>(of_kind.size());
      // Not one `cond ? co_await a : co_await b`: GCC 12 destroys a
      // temporary of the branch not taken (free() of an invalid pointer).
      Status st;
      if (lookup_calls > sweep_calls) {
        st = co_await Sweep(kind, of_kind);
      } else {
        st = co_await LookUpEach(kind, of_kind);
      }
      if (!st.ok()) co_return st;
    }
    co_return Status::Ok();
  }

  // Stores what was learned. Preconditions: `state` writable.
  Status Save(int64_t now) {
    if (!forgotten_.empty()) {
      if (Status st = state_.DropAwsPrincipals(instance_.identity_store_id, forgotten_); !st.ok()) {
        return st;
      }
      forgotten_.clear();
    }
    for (auto& p : learned_) p.resolved_at = now;
    if (!learned_.empty()) {
      if (Status st = state_.SaveAwsPrincipals(instance_.identity_store_id, learned_); !st.ok()) {
        return st;
      }
      learned_.clear();
    }
    if (issuer_learned_) {
      issuer_learned_ = false;
      auto store = state_.LoadAwsIdentityStore(instance_.identity_store_id);
      if (!store.ok()) return store.status();
      AwsIdentityStoreState row = store->value_or(store_state_);
      row.external_id_issuer = store_state_.external_id_issuer;
      return state_.SaveAwsIdentityStore(row);
    }
    return Status::Ok();
  }

  std::map<std::string, std::string> ids() const { return {ids_.begin(), ids_.end()}; }

 private:
  void Learn(const DesiredAssignment& d, std::string id, const char* how) {
    ids_[d.principal_guid] = id;
    learned_.push_back(AwsPrincipalId{.guid = d.principal_guid,
                                      .kind = d.kind,
                                      .principal_id = std::move(id),
                                      .resolved_by = how});
  }

  void LearnIssuer(const std::string& issuer) {
    if (issuer_known_ || issuer.empty()) return;
    store_state_.external_id_issuer = issuer;
    issuer_known_ = issuer_learned_ = true;
  }

  // The Issuer of the entry of `record`'s ExternalIds whose Id is
  // `external_id`, or "" when none has it (or the Issuer does not match
  // the one learned).
  std::string IssuerFor(const json::object& record, const std::string& external_id) const {
    const json::value* ids = record.if_contains("ExternalIds");
    if (ids == nullptr || !ids->is_array() || external_id.empty()) return "";
    for (const auto& entry : ids->get_array()) {
      if (!entry.is_object()) continue;
      std::string issuer = StringAt(entry.get_object(), "Issuer");
      if (StringAt(entry.get_object(), "Id") != external_id) continue;
      if (!issuer_known_ || issuer == store_state_.external_id_issuer) return issuer;
    }
    return "";
  }

  asio::awaitable<Status> Sweep(ObjectKind kind,
                                const std::vector<const DesiredAssignment*>& of_kind) {
    const bool user = kind == ObjectKind::kUser;
    json::object input{{"IdentityStoreId", instance_.identity_store_id}, {"MaxResults", kListPage}};
    auto listed = co_await client_.ListAll(aws::kIdentityStore, user ? "ListUsers" : "ListGroups",
                                           std::move(input), user ? "Users" : "Groups");
    if (!listed.ok()) co_return listed.status().WithContext("resolving principals");
    std::map<std::string, const DesiredAssignment*> by_external_id;
    std::map<std::string, std::vector<const DesiredAssignment*>> by_name;  // lower-cased
    for (const auto* d : of_kind) {
      if (!d->external_id.empty()) by_external_id[d->external_id] = d;
      if (!d->unique_name.empty()) by_name[AsciiLower(d->unique_name)].push_back(d);
    }
    std::map<std::string, std::vector<std::pair<std::string, std::string>>>
        name_hits;  // -> (name, id)
    for (const auto& item : *listed) {
      if (!item.is_object()) continue;
      const json::object& record = item.get_object();
      const std::string id = StringAt(record, user ? "UserId" : "GroupId");
      if (id.empty()) continue;
      bool matched = false;
      if (const json::value* ids = record.if_contains("ExternalIds");
          ids != nullptr && ids->is_array()) {
        for (const auto& entry : ids->get_array()) {
          if (!entry.is_object()) continue;
          auto it = by_external_id.find(StringAt(entry.get_object(), "Id"));
          if (it == by_external_id.end() || Find(it->second->principal_guid) != nullptr) continue;
          const std::string issuer = IssuerFor(record, it->first);
          if (issuer.empty()) continue;
          LearnIssuer(issuer);
          Learn(*it->second, id, "externalId");
          matched = true;
          break;
        }
      }
      if (matched) continue;
      const std::string name = StringAt(record, user ? "UserName" : "DisplayName");
      if (by_name.contains(AsciiLower(name))) name_hits[AsciiLower(name)].emplace_back(name, id);
    }
    // By name: the exact spelling first; a case-folded match only when it
    // is the only one (case-only collisions are not merged).
    for (const auto& [folded, hits] : name_hits) {
      for (const auto* d : by_name[folded]) {
        if (Find(d->principal_guid) != nullptr) continue;
        auto exact = std::find_if(hits.begin(), hits.end(),
                                  [&](const auto& h) { return h.first == d->unique_name; });
        if (exact != hits.end()) {
          Learn(*d, exact->second, user ? "userName" : "displayName");
        } else if (hits.size() == 1) {
          Learn(*d, hits.front().second, user ? "userName" : "displayName");
        }
      }
    }
    co_return Status::Ok();
  }

  // GetUserId/GetGroupId: {"IdentityStoreId", "AlternateIdentifier"} ->
  // the id, "" when not found.
  asio::awaitable<Result<std::string>> GetId(bool user, json::object alternate) {
    json::object input{{"IdentityStoreId", instance_.identity_store_id},
                       {"AlternateIdentifier", std::move(alternate)}};
    auto result = co_await client_.CallRetrying(aws::kIdentityStore,
                                                user ? "GetUserId" : "GetGroupId", input);
    if (!result.ok()) {
      if (result.error().kind == aws::ErrorKind::kNotFound) co_return std::string();
      co_return ErrorStatus(result, "resolving principals");
    }
    co_return StringAt(result.output(), user ? "UserId" : "GroupId");
  }

  asio::awaitable<Status> LookUpEach(ObjectKind kind,
                                     const std::vector<const DesiredAssignment*>& of_kind) {
    const bool user = kind == ObjectKind::kUser;
    for (const auto* d : of_kind) {
      if (issuer_known_ && !d->external_id.empty()) {
        json::object by_external{
            {"ExternalId",
             json::object{{"Issuer", store_state_.external_id_issuer}, {"Id", d->external_id}}}};
        auto id = co_await GetId(user, std::move(by_external));
        if (!id.ok()) co_return id.status();
        if (!id->empty()) {
          Learn(*d, std::move(*id), "externalId");
          continue;
        }
      }
      if (d->unique_name.empty()) continue;
      json::object by_name{
          {"UniqueAttribute", json::object{{"AttributePath", user ? "userName" : "displayName"},
                                           {"AttributeValue", d->unique_name}}}};
      auto id = co_await GetId(user, std::move(by_name));
      if (!id.ok()) co_return id.status();
      if (id->empty()) continue;
      if (!issuer_known_ && !issuer_tried_) {
        // Learn the Issuer once from a principal found by name, so the next
        // ones go by their externalId.
        issuer_tried_ = true;
        json::object describe{{"IdentityStoreId", instance_.identity_store_id},
                              {user ? "UserId" : "GroupId", *id}};
        auto record = co_await client_.CallRetrying(
            aws::kIdentityStore, user ? "DescribeUser" : "DescribeGroup", describe);
        if (record.ok()) LearnIssuer(IssuerFor(record.output(), d->external_id));
      }
      Learn(*d, std::move(*id), user ? "userName" : "displayName");
    }
    co_return Status::Ok();
  }

  aws::Client& client_;
  StateDb& state_;
  const Instance& instance_;
  std::unordered_map<std::string, std::string> ids_;  // guid -> principal id
  std::vector<AwsPrincipalId> learned_;
  std::vector<std::string> forgotten_;
  AwsIdentityStoreState store_state_;
  std::map<std::string, int64_t> counts_;
  bool issuer_known_ = false;
  bool issuer_learned_ = false;
  bool issuer_tried_ = false;
};

// One pass over the desired set: the state it keeps while it runs.
class Pass {
 public:
  Pass(aws::Client& client, StateDb& state, const Instance& instance, const Catalog& catalog,
       const ReapplyOptions& options)
      : client_(client),
        state_(state),
        instance_(instance),
        catalog_(catalog),
        options_(options),
        resolver_(client, state, instance),
        limit_(options.max_outstanding),
        random_(std::random_device{}()) {}

  asio::awaitable<Result<ReapplyResult>> Run(const std::vector<DesiredAssignment>& desired) {
    if (Status st = resolver_.Load(); !st.ok()) co_return st;
    if (Status st = LoadJournal(); !st.ok()) co_return st;
    const int64_t now = UnixNow();

    // The targets and the journal row of each desired assignment.
    std::vector<Item> items;
    items.reserve(desired.size());
    for (const auto& d : desired) {
      Item item;
      item.desired = &d;
      auto target = TargetFromLedger(d.target, d.target_ref);
      Status st = target.ok() ? Status::Ok() : target.status();
      if (target.ok()) {
        item.target = std::move(*target);
        const bool has_arn = item.target.type == TargetType::kApplication
                                 ? !item.target.application_arn.empty()
                                 : !item.target.permission_set_arn.empty();
        if (!has_arn) st = catalog_.Resolve(&item.target);
      }
      if (!st.ok()) {
        item.failure = st.message();
      } else if (auto it = journal_index_.find({d.target, d.principal_guid});
                 it != journal_index_.end()) {
        item.op = it->second;
      }
      items.push_back(std::move(item));
    }

    // Resolve the principals that have no id yet and are due.
    std::vector<const DesiredAssignment*> needed;
    for (const auto& item : items) {
      if (!item.failure.empty() || resolver_.Find(item.desired->principal_guid) != nullptr)
        continue;
      if (item.op >= 0 &&
          DecideResume(ops_[item.op], now, !options_.explicit_run, true) == ResumeAction::kWait) {
        continue;
      }
      needed.push_back(item.desired);
    }
    if (Status st = co_await resolver_.Resolve(needed); !st.ok()) co_return st;
    if (!options_.dry_run) {
      if (Status st = resolver_.Save(now); !st.ok()) co_return st;
    }

    // Read each target once: what is live, for the diff and for resuming.
    std::map<std::string, std::vector<LiveAssignment>> live_by_target;  // Name() -> live
    auto read = [&](const Target& target) -> asio::awaitable<Status> {
      if (live_by_target.contains(target.Name())) co_return Status::Ok();
      auto live = co_await ReadTargetAssignments(client_, instance_, target);
      if (!live.ok()) co_return live.status();
      live_by_target[target.Name()] = std::move(*live);
      co_return Status::Ok();
    };
    for (const auto& item : items) {
      if (item.failure.empty()) {
        if (Status st = co_await read(item.target); !st.ok()) co_return st;
      }
    }
    for (size_t i = 0; i < ops_.size(); ++i) {
      if (op_targets_[i] && ops_[i].status == AwsOpStatus::kSending) {
        if (Status st = co_await read(*op_targets_[i]); !st.ok()) co_return st;
      }
    }
    std::set<std::string> live_keys;
    for (const auto& [name, live] : live_by_target) {
      for (const auto& a : live) live_keys.insert(AssignmentKey(a));
    }
    if (!options_.dry_run) {
      if (Status st = co_await Reconcile(&live_keys); !st.ok()) co_return st;
    }

    // The diff, item by item.
    std::set<std::string> wanted;
    std::vector<LiveAssignment> to_create;
    std::vector<int> to_create_ops;
    std::vector<int> journaled;    // rows to store before the creates go
    std::set<std::string> queued;  // assignment keys of to_create
    for (auto& item : items) {
      if (!item.failure.empty()) continue;
      const DesiredAssignment& d = *item.desired;
      const std::string* id = resolver_.Find(d.principal_guid);
      if (id == nullptr) {
        if (Status st = MarkUnresolved(item, now); !st.ok()) co_return st;
        continue;
      }
      LiveAssignment a{
          .target = item.target, .principal_type = TypeOf(d.kind), .principal_id = *id};
      const std::string key = AssignmentKey(a);
      wanted.insert(key);
      AwsOperation* op = item.op >= 0 ? &ops_[item.op] : nullptr;
      if (live_keys.contains(key)) {
        item.state = op != nullptr && op->status != AwsOpStatus::kFailed && op->attempts > 0
                         ? DesiredState::kCreated
                         : DesiredState::kPresent;
        if (op != nullptr && op->status != AwsOpStatus::kSucceeded && !options_.dry_run) {
          op->status = AwsOpStatus::kSucceeded;
          op->reason.clear();
          op->changed_at = now;
          if (Status st = Save(*op); !st.ok()) co_return st;
        }
        continue;
      }
      if (op != nullptr &&
          (op->status == AwsOpStatus::kInProgress || op->status == AwsOpStatus::kSending)) {
        if (op->principal_id == *id) {
          item.state = DesiredState::kInProgress;
          continue;  // in flight: polled below, never sent twice
        }
      }
      if (op != nullptr && op->status == AwsOpStatus::kFailed && !options_.explicit_run) {
        item.state = DesiredState::kFailed;
        continue;
      }
      if (op != nullptr && op->status == AwsOpStatus::kPending &&
          DecideResume(*op, now, !options_.explicit_run, true) == ResumeAction::kWait) {
        item.state = DesiredState::kPending;
        continue;
      }
      if (!queued.insert(key).second) {
        item.state = DesiredState::kPending;  // another entry brings the same one
        continue;
      }
      item.state = DesiredState::kPending;
      if (!options_.dry_run) {
        Journal(item, *id, now);
        journaled.push_back(item.op);
      }
      to_create.push_back(a);
      to_create_ops.push_back(item.op);
    }
    // One transaction for the plan's rows, before anything is sent (one
    // fsync, not one per assignment).
    if (Status st = SaveRows(journaled); !st.ok()) co_return st;
    for (const auto& [name, live] : live_by_target) {
      for (const auto& a : live) {
        if (!wanted.contains(AssignmentKey(a))) result_.unrecorded.push_back(a);
      }
    }

    if (options_.dry_run) {
      for (const auto& a : to_create)
        result_.calls.push_back(MakeCreateCall(instance_.instance_arn, a));
    } else {
      if (Status st = co_await Apply(to_create, to_create_ops); !st.ok()) co_return st;
    }

    // Outcomes, from the journal where there is a row.
    for (const auto& item : items) {
      DesiredOutcome outcome{.state = item.state, .reason = item.failure};
      if (!item.failure.empty()) {
        outcome.state = DesiredState::kFailed;
      } else if (item.op >= 0 && !options_.dry_run && item.state != DesiredState::kPresent) {
        const AwsOperation& op = ops_[item.op];
        outcome.reason = op.reason;
        switch (op.status) {
          case AwsOpStatus::kSucceeded:
            outcome.state = DesiredState::kCreated;
            break;
          case AwsOpStatus::kFailed:
            outcome.state = DesiredState::kFailed;
            break;
          case AwsOpStatus::kUnresolved:
            outcome.state = DesiredState::kUnresolved;
            break;
          case AwsOpStatus::kPending:
            outcome.state = DesiredState::kPending;
            break;
          case AwsOpStatus::kSending:
          case AwsOpStatus::kInProgress:
            outcome.state = DesiredState::kInProgress;
            break;
        }
      }
      result_.by_ledger_id[item.desired->ledger_id] = outcome;
    }
    co_return std::move(result_);
  }

 private:
  struct Item {
    const DesiredAssignment* desired = nullptr;
    Target target;
    std::string failure;  // the target does not resolve
    int op = -1;          // into ops_
    DesiredState state = DesiredState::kPending;
  };

  // One operation in flight: described at `next_poll`.
  struct Flight {
    int op = -1;
    int polls = 0;
    Clock::time_point next_poll;
    Clock::time_point sent;  // its create answered; epoch when resumed
    bool finished = false;   // a status list no longer shows it in progress
  };

  Status LoadJournal() {
    auto ops = state_.LoadAwsOperations(instance_.identity_store_id);
    if (!ops.ok()) return ops.status();
    ops_ = std::move(*ops);
    op_targets_.resize(ops_.size());
    for (size_t i = 0; i < ops_.size(); ++i) {
      journal_index_[{ops_[i].target, ops_[i].principal_guid}] = static_cast<int>(i);
      auto target = TargetFromLedger(ops_[i].target, ops_[i].target_ref);
      if (target.ok()) op_targets_[i] = std::move(*target);
    }
    return Status::Ok();
  }

  Status Save(AwsOperation& op) {
    std::vector<AwsOperation> one = {op};
    if (Status st = state_.SaveAwsOperations(&one); !st.ok()) return st;
    op.id = one[0].id;
    return Status::Ok();
  }

  // Journals ops_[i] for every i in `indices`, in one transaction.
  Status Save(const std::vector<int>& indices) {
    if (indices.empty()) return Status::Ok();
    std::vector<AwsOperation> rows;
    rows.reserve(indices.size());
    for (int i : indices) rows.push_back(ops_[i]);
    if (Status st = state_.SaveAwsOperations(&rows); !st.ok()) return st;
    for (size_t k = 0; k < indices.size(); ++k) ops_[indices[k]].id = rows[k].id;
    return Status::Ok();
  }

  // The journal row for `item`, created when it has none.
  AwsOperation& RowFor(Item& item, int64_t now) {
    if (item.op < 0) {
      const DesiredAssignment& d = *item.desired;
      AwsOperation op;
      op.identity_store_id = instance_.identity_store_id;
      op.ledger_id = d.ledger_id;
      op.target = d.target;
      op.principal_guid = d.principal_guid;
      op.principal_kind = d.kind;
      op.principal_name = d.principal_name;
      op.created_at = now;
      ops_.push_back(std::move(op));
      op_targets_.emplace_back(item.target);
      item.op = static_cast<int>(ops_.size()) - 1;
      journal_index_[{d.target, d.principal_guid}] = item.op;
    }
    AwsOperation& op = ops_[item.op];
    op.ledger_id = item.desired->ledger_id;
    op.target_ref = item.target.RefJson(instance_.instance_arn);
    return op;
  }

  Status MarkUnresolved(Item& item, int64_t now) {
    item.state = DesiredState::kUnresolved;
    if (options_.dry_run) return Status::Ok();
    AwsOperation& op = RowFor(item, now);
    if (op.status == AwsOpStatus::kUnresolved && op.attempts > 0 && op.next_attempt_at > now &&
        !options_.explicit_run) {
      return Status::Ok();  // not looked up this pass: its backoff runs
    }
    if (op.status != AwsOpStatus::kUnresolved) op.attempts = 0;
    op.status = AwsOpStatus::kUnresolved;
    op.principal_id.clear();
    ++op.attempts;
    op.next_attempt_at = now + UnresolvedRetryDelay(op.attempts);
    op.reason = std::string(KindName(item.desired->kind)) + " " + item.desired->principal_name +
                " is not in identity store " + instance_.identity_store_id +
                " yet (AWS's own sync can take hours); looked up " + std::to_string(op.attempts) +
                " times, next after " + UtcTimestamp(op.next_attempt_at);
    op.changed_at = now;
    return Save(op);
  }

  // Journals the create about to be sent as pending, with its principal.
  // Marks `item`'s row pending for `principal_id`; SaveRows stores it.
  void Journal(Item& item, const std::string& principal_id, int64_t now) {
    AwsOperation& op = RowFor(item, now);
    if (op.status != AwsOpStatus::kPending || op.principal_id != principal_id) {
      op.status = AwsOpStatus::kPending;
      op.principal_id = principal_id;
      op.request_id.clear();
      op.reason.clear();
      op.attempts = 0;
      op.next_attempt_at = 0;
      op.changed_at = now;
    }
  }

  // Stores the rows `rows` (indexes into ops_) in one transaction.
  Status SaveRows(const std::vector<int>& rows) {
    if (rows.empty()) return Status::Ok();
    std::vector<AwsOperation> batch;
    batch.reserve(rows.size());
    for (int row : rows) batch.push_back(ops_[row]);
    if (Status st = state_.SaveAwsOperations(&batch); !st.ok()) return st;
    for (size_t k = 0; k < rows.size(); ++k) ops_[rows[k]].id = batch[k].id;
    return Status::Ok();
  }

  // After a crash: rows marked `sending` may be held by AWS with a
  // RequestId syncd never journaled. An IN_PROGRESS request for the same
  // assignment is adopted (and polled); a listed assignment means it
  // landed; only what is in neither goes back to pending. `live_keys`, read
  // before, gains what landed since.
  asio::awaitable<Status> Reconcile(std::set<std::string>* live_keys) {
    std::map<std::string, int> sending;  // assignment key -> op
    std::set<std::string> known_requests;
    for (size_t i = 0; i < ops_.size(); ++i) {
      if (!ops_[i].request_id.empty()) known_requests.insert(ops_[i].request_id);
      const bool unsure =
          ops_[i].status == AwsOpStatus::kSending ||
          (ops_[i].status == AwsOpStatus::kInProgress && ops_[i].request_id.empty());
      if (unsure && op_targets_[i]) {
        sending[AssignmentKey(*op_targets_[i], TypeOf(ops_[i].principal_kind),
                              ops_[i].principal_id)] = static_cast<int>(i);
      }
    }
    if (sending.empty()) co_return Status::Ok();
    const int64_t now = UnixNow();
    auto settle = [&](int i, AwsOpStatus status, std::string request_id) -> Status {
      AwsOperation& op = ops_[i];
      op.status = status;
      op.request_id = std::move(request_id);
      op.changed_at = now;
      return Save(op);
    };
    const bool any_account = std::any_of(sending.begin(), sending.end(), [&](const auto& s) {
      return op_targets_[s.second]->type == TargetType::kAccount;
    });
    if (any_account) {
      json::object input{{"InstanceArn", instance_.instance_arn},
                         {"Filter", json::object{{"Status", "IN_PROGRESS"}}}};
      auto listed = co_await client_.ListAll(aws::kSsoAdmin, "ListAccountAssignmentCreationStatus",
                                             std::move(input), "AccountAssignmentsCreationStatus");
      if (!listed.ok()) co_return listed.status().WithContext("resuming the reapply journal");
      for (const auto& item : *listed) {
        if (!item.is_object()) continue;
        const std::string request_id = StringAt(item.get_object(), "RequestId");
        if (request_id.empty() || known_requests.contains(request_id)) continue;
        auto described = co_await Describe(request_id);
        if (!described.ok()) co_return described.status();
        Target target;
        target.account_id = StringAt(*described, "TargetId");
        target.permission_set_arn = StringAt(*described, "PermissionSetArn");
        const PrincipalType type = StringAt(*described, "PrincipalType") == "GROUP"
                                       ? PrincipalType::kGroup
                                       : PrincipalType::kUser;
        auto it = sending.find(AssignmentKey(target, type, StringAt(*described, "PrincipalId")));
        if (it == sending.end()) continue;  // not syncd's
        if (Status st = settle(it->second, AwsOpStatus::kInProgress, request_id); !st.ok()) {
          co_return st;
        }
        Log(LogLevel::kInfo, "reapply: resumed " + ops_[it->second].target + " for " +
                                 ops_[it->second].principal_name + " (request " + request_id +
                                 " was in progress)");
        sending.erase(it);
      }
    }
    // A request that finished between the read of the targets and the list
    // above is in neither: the targets of what is left are read again, now
    // that anything no longer in progress has landed or failed.
    std::set<std::string> reread;
    for (const auto& [key, i] : sending) {
      const Target& target = *op_targets_[i];
      if (live_keys->contains(key) || !reread.insert(target.Name()).second) continue;
      auto live = co_await ReadTargetAssignments(client_, instance_, target);
      if (!live.ok()) co_return live.status().WithContext("resuming the reapply journal");
      for (const auto& a : *live) live_keys->insert(AssignmentKey(a));
    }
    for (const auto& [key, i] : sending) {
      const bool landed = live_keys->contains(key);
      if (Status st = settle(i, landed ? AwsOpStatus::kSucceeded : AwsOpStatus::kPending, "");
          !st.ok()) {
        co_return st;
      }
    }
    co_return Status::Ok();
  }

  // The organization's management account (DescribeOrganization, asked
  // once): the only target an AccessDenied is expected on, from a delegated
  // administrator.
  asio::awaitable<Result<std::string>> ManagementAccount() {
    if (!management_account_) {
      auto result = co_await client_.CallRetrying(aws::kOrganizations, "DescribeOrganization",
                                                  json::object());
      if (!result.ok()) co_return ErrorStatus(result, "finding the management account");
      const json::value* organization = result.output().if_contains("Organization");
      management_account_ = organization != nullptr && organization->is_object()
                                ? StringAt(organization->get_object(), "MasterAccountId")
                                : std::string();
    }
    co_return *management_account_;
  }

  // DescribeAccountAssignmentCreationStatus -> its status object.
  asio::awaitable<Result<json::object>> Describe(const std::string& request_id) {
    json::object input{{"InstanceArn", instance_.instance_arn},
                       {"AccountAssignmentCreationRequestId", request_id}};
    auto result = co_await client_.CallRetrying(aws::kSsoAdmin,
                                                "DescribeAccountAssignmentCreationStatus", input);
    if (!result.ok()) co_return ErrorStatus(result, "polling request " + request_id);
    const json::value* status = result.output().if_contains("AccountAssignmentCreationStatus");
    if (status == nullptr || !status->is_object()) {
      co_return Status::Internal("DescribeAccountAssignmentCreationStatus answered no status");
    }
    co_return status->get_object();
  }

  // Records a finished (or still running) creation status on `op` and
  // journals it.
  Status Settle(AwsOperation& op, const json::object& status) {
    if (!Record(op, status)) return Status::Ok();
    return Save(op);
  }

  // Records a finished creation status on `op`, in memory; false while it
  // is still running.
  bool Record(AwsOperation& op, const json::object& status) {
    const std::string value = StringAt(status, "Status");
    if (value == "IN_PROGRESS") return false;
    if (value == "SUCCEEDED") {
      Succeeded(op, UnixNow());
      return true;
    }
    op.status = AwsOpStatus::kFailed;
    op.reason = StringAt(status, "FailureReason");
    if (op.reason.empty()) op.reason = "FAILED (no reason given)";
    op.changed_at = UnixNow();
    return true;
  }

  // Records that `op` succeeded at `now`, in memory; a success also grows
  // the outstanding limit.
  void Succeeded(AwsOperation& op, int64_t now) {
    op.status = AwsOpStatus::kSucceeded;
    op.reason.clear();
    op.changed_at = now;
    limit_.OnSuccess();
  }

  // Sends `to_create` (ops journaled pending) and polls until every one is
  // settled or the deadline passes.
  asio::awaitable<Status> Apply(const std::vector<LiveAssignment>& to_create,
                                const std::vector<int>& to_create_ops) {
    struct Queued {
      size_t index;
      int retries = 0;
      Clock::time_point not_before;
    };
    std::deque<Queued> queue;
    for (size_t i = 0; i < to_create.size(); ++i) queue.push_back({i, 0, Clock::time_point()});
    std::vector<Flight> flights;
    for (size_t i = 0; i < ops_.size(); ++i) {
      if (ops_[i].status == AwsOpStatus::kInProgress && !ops_[i].request_id.empty()) {
        // Resumed: polled now-ish (it has been running for a while; since
        // when is unknown, so it teaches the completion estimate nothing).
        flights.push_back({static_cast<int>(i), 1, Clock::now(), Clock::time_point()});
      }
    }
    // Requests AWS still holds: what the outstanding cap counts.
    auto in_progress = [&flights] {
      return static_cast<int>(std::count_if(flights.begin(), flights.end(),
                                            [](const Flight& f) { return !f.finished; }));
    };
    // A failed list (a policy without the action, say) falls back to the
    // cadence for the rest of the pass.
    bool list_failed = false;
    auto listing = [&] { return !list_failed && in_progress() > 0; };
    auto next_list = [&] {
      Clock::time_point oldest = Clock::time_point::max();
      for (const auto& f : flights) {
        if (!f.finished) oldest = std::min(oldest, f.sent);
      }
      return list_schedule_.Next(oldest, completions_.Shortest());
    };
    while ((!queue.empty() || !flights.empty()) && Clock::now() < options_.deadline) {
      bool acted = false;
      // Learn what finished: it frees slots and needs no poll of its own.
      if (listing() && next_list() <= Clock::now()) {
        acted = true;
        auto finished = co_await SettleFinished(flights);
        if (!finished.ok()) {
          Log(LogLevel::kWarning,
              "reapply: " + finished.status().ToString() + "; polling each request instead");
          list_failed = true;
        }
        list_schedule_.Listed(Clock::now(), finished.ok() && *finished);
      }
      // Send while below the outstanding limit, in rounds: the creates of a
      // round are journaled as sending together before the first goes, and
      // their answers together after the last (two state transactions a
      // round, not three a create; a crash in between leaves rows sending,
      // which the resume looks for before sending anything again).
      std::vector<Queued> round;
      while (!queue.empty() && in_progress() + static_cast<int>(round.size()) < limit_.limit() &&
             queue.front().not_before <= Clock::now()) {
        round.push_back(queue.front());
        queue.pop_front();
      }
      if (!round.empty() && Clock::now() < options_.deadline) {
        acted = true;
        std::vector<int> round_ops;
        round_ops.reserve(round.size());
        const int64_t marked_at = UnixNow();
        for (const Queued& q : round) {
          AwsOperation& op = ops_[to_create_ops[q.index]];
          op.status = AwsOpStatus::kSending;
          ++op.attempts;
          op.sent_at = marked_at;
          op.changed_at = marked_at;
          round_ops.push_back(to_create_ops[q.index]);
        }
        if (Status st = Save(round_ops); !st.ok()) co_return st;
        bool throttled = false;
        std::vector<Queued> unsent;
        for (Queued next : round) {
          const int op_index = to_create_ops[next.index];
          AwsOperation& op = ops_[op_index];
          if (throttled) {
            // Not sent: back to pending, first in line once the pause ends.
            op.status = AwsOpStatus::kPending;
            --op.attempts;
            unsent.push_back(next);
            continue;
          }
          auto refused = co_await Send(op, to_create[next.index]);
          if (!refused.ok()) {
            (void)Save(round_ops);  // what was answered so far; the error wins
            co_return refused.status();
          }
          if (op.status == AwsOpStatus::kInProgress) {
            flights.push_back(
                {op_index, 0, Clock::now() + PollDelay(options_.cadence, 0), Clock::now()});
          } else if (op.status == AwsOpStatus::kPending && refused->has_value()) {
            throttled = **refused == CreateVerdict::kThrottled;
            if (++next.retries > kRetriesPerPass && !throttled) {
              continue;  // left pending for the next pass
            }
            next.not_before = Clock::now() + FullJitter(next.retries, random_);
            queue.push_back(next);
          }
        }
        queue.insert(queue.begin(), unsent.begin(), unsent.end());
        if (Status st = Save(round_ops); !st.ok()) co_return st;
      }
      // Describe what is due: what the lists saw fail (or could not
      // settle), and, when listing does not work, each request on
      // PollCadence.
      for (auto it = flights.begin(); it != flights.end();) {
        if (it->next_poll > Clock::now() || (!it->finished && !list_failed)) {
          ++it;
          continue;
        }
        AwsOperation& op = ops_[it->op];
        auto status = co_await Describe(op.request_id);
        acted = true;
        ++it->polls;
        if (!status.ok()) {
          Log(LogLevel::kWarning, "reapply: " + status.status().ToString());
          it->next_poll = Clock::now() + PollDelay(options_.cadence, it->polls);
          ++it;
          continue;
        }
        if (Status st = Settle(op, *status); !st.ok()) co_return st;
        if (op.status == AwsOpStatus::kInProgress) {
          it->finished = false;  // the list was ahead of the status
          it->next_poll = Clock::now() + PollDelay(options_.cadence, it->polls);
          ++it;
        } else {
          it = flights.erase(it);
        }
      }
      if (!acted) {
        Clock::time_point wake = options_.deadline;
        if (listing()) wake = std::min(wake, next_list());
        for (const auto& f : flights) {
          if (f.finished || list_failed) wake = std::min(wake, f.next_poll);
        }
        if (!queue.empty() && in_progress() < limit_.limit()) {
          for (const auto& q : queue) wake = std::min(wake, q.not_before);
        }
        co_await SleepUntil(wake);
      }
    }
    co_return Status::Ok();
  }

  // The RequestIds of one ListAccountAssignmentCreationStatus with
  // Filter `status` (every page).
  asio::awaitable<Result<std::set<std::string>>> ListRequests(const char* status) {
    json::object input{{"InstanceArn", instance_.instance_arn},
                       {"Filter", json::object{{"Status", status}}},
                       {"MaxResults", kListPage}};
    auto listed = co_await client_.ListAll(aws::kSsoAdmin, "ListAccountAssignmentCreationStatus",
                                           std::move(input), "AccountAssignmentsCreationStatus");
    if (!listed.ok()) {
      co_return listed.status().WithContext(std::string("listing the requests ") + status);
    }
    std::set<std::string> ids;
    for (const auto& item : *listed) {
      if (item.is_object()) ids.insert(StringAt(item.get_object(), "RequestId"));
    }
    co_return ids;
  }

  // The flights the IN_PROGRESS list no longer shows have finished (how
  // long they took feeds the completion estimate). Those the FAILED list
  // then shows are left to be described, for their FailureReason; the rest
  // succeeded and are settled (and removed) without a call each, in one
  // state transaction. Whether anything finished.
  asio::awaitable<Result<bool>> SettleFinished(std::vector<Flight>& flights) {
    auto running = co_await ListRequests("IN_PROGRESS");
    if (!running.ok()) co_return running.status();
    const Clock::time_point now = Clock::now();
    bool any = false;
    for (auto& f : flights) {
      if (f.finished || running->contains(ops_[f.op].request_id)) continue;
      f.finished = true;
      f.next_poll = now;
      any = true;
      if (f.sent == Clock::time_point()) continue;
      completions_.Observe(std::chrono::duration_cast<std::chrono::milliseconds>(now - f.sent));
    }
    if (!any) co_return false;
    // Listed after the IN_PROGRESS list: whatever that list no longer
    // showed had its final status already.
    auto failed = co_await ListRequests("FAILED");
    if (!failed.ok()) co_return failed.status();
    std::vector<int> succeeded;
    const int64_t changed_at = UnixNow();
    for (auto it = flights.begin(); it != flights.end();) {
      if (!it->finished || failed->contains(ops_[it->op].request_id)) {
        ++it;
        continue;
      }
      Succeeded(ops_[it->op], changed_at);
      succeeded.push_back(it->op);
      it = flights.erase(it);
    }
    if (Status st = Save(succeeded); !st.ok()) co_return st;
    co_return true;
  }

  // One create, its answer recorded on `op` (the caller journals it, as it
  // journaled `op` sending before). The verdict when AWS refused it.
  asio::awaitable<Result<std::optional<CreateVerdict>>> Send(AwsOperation& op,
                                                             const LiveAssignment& a) {
    const CreateCall call = MakeCreateCall(instance_.instance_arn, a);
    auto result = co_await client_.Call(aws::kSsoAdmin, call.operation, call.input);
    ++result_.creates_sent;
    if (options_.crash_after_creates > 0 && result_.creates_sent >= options_.crash_after_creates) {
      // The crash tests: gone before the RequestId is journaled.
      std::_Exit(137);
    }
    if (result.ok()) {
      if (a.target.type == TargetType::kApplication) {
        Succeeded(op, UnixNow());  // synchronous
        co_return std::nullopt;
      }
      const json::value* status = result.output().if_contains("AccountAssignmentCreationStatus");
      if (status == nullptr || !status->is_object()) {
        co_return Status::Internal("CreateAccountAssignment answered no status");
      }
      op.request_id = StringAt(status->get_object(), "RequestId");
      op.status = AwsOpStatus::kInProgress;
      op.reason.clear();
      Record(op, status->get_object());
      co_return std::nullopt;
    }
    const aws::Error& error = result.error();
    const CreateVerdict verdict = ClassifyCreateError(error);
    op.changed_at = UnixNow();
    switch (verdict) {
      case CreateVerdict::kThrottled:
        ++result_.throttles;
        limit_.OnThrottle();
        op.status = AwsOpStatus::kPending;
        break;
      case CreateVerdict::kRetry:
        op.status = AwsOpStatus::kPending;
        op.next_attempt_at = op.changed_at + 60;
        op.reason = error.type + ": " + error.message;
        break;
      case CreateVerdict::kUnresolved:
        // The id syncd had is not (or no longer) in the store.
        resolver_.Forget(op.principal_guid);
        if (Status st = resolver_.Save(op.changed_at); !st.ok()) co_return st;
        op.status = AwsOpStatus::kUnresolved;
        op.principal_id.clear();
        op.next_attempt_at = op.changed_at + UnresolvedRetryDelay(1);
        op.reason = error.type + ": " + error.message;
        break;
      case CreateVerdict::kManagement: {
        auto management = co_await ManagementAccount();
        if (!management.ok()) co_return management.status();
        if (a.target.type == TargetType::kAccount && a.target.account_id == *management) {
          op.status = AwsOpStatus::kFailed;
          op.reason = FailureReason(verdict, error, a.target);
          break;
        }
        // Any other target: the credentials' policy lacks the action, and
        // every create would be refused alike. The pass stops; the row
        // waits, pending, for credentials that may.
        op.status = AwsOpStatus::kPending;
        if (Status st = Save(op); !st.ok()) co_return st;
        co_return ErrorStatus(result, "creating " + a.target.Name() +
                                          " (the IAM policy of syncd's credentials needs every "
                                          "action of conf/aws-iam-policy.json)");
      }
      case CreateVerdict::kFailed:
        op.status = AwsOpStatus::kFailed;
        op.reason = FailureReason(verdict, error, a.target);
        break;
    }
    co_return std::optional<CreateVerdict>(verdict);
  }

  aws::Client& client_;
  StateDb& state_;
  const Instance& instance_;
  const Catalog& catalog_;
  const ReapplyOptions& options_;
  Resolver resolver_;
  OutstandingLimit limit_;
  CompletionEstimate completions_;
  StatusListSchedule list_schedule_;
  std::mt19937 random_;
  std::vector<AwsOperation> ops_;
  std::vector<std::optional<Target>> op_targets_;
  std::map<std::pair<std::string, std::string>, int> journal_index_;  // (target, guid) -> op
  ReapplyResult result_;
  std::optional<std::string> management_account_;
};

}  // namespace

const char* DesiredStateName(DesiredState state) {
  switch (state) {
    case DesiredState::kPresent:
      return "present";
    case DesiredState::kCreated:
      return "created";
    case DesiredState::kInProgress:
      return "in-progress";
    case DesiredState::kPending:
      return "pending";
    case DesiredState::kUnresolved:
      return "unresolved";
    case DesiredState::kFailed:
      return "failed";
  }
  return "?";
}

size_t ReapplyResult::Count(DesiredState state) const {
  return static_cast<size_t>(
      std::count_if(by_ledger_id.begin(), by_ledger_id.end(),
                    [state](const auto& o) { return o.second.state == state; }));
}

asio::awaitable<Result<ReapplyResult>> Reapply(aws::Client& client, StateDb& state,
                                               const Instance& instance, const Catalog& catalog,
                                               const std::vector<DesiredAssignment>& desired,
                                               const ReapplyOptions& options) {
  Pass pass(client, state, instance, catalog, options);
  co_return co_await pass.Run(desired);
}

asio::awaitable<Result<std::map<std::string, std::string>>> LookUpPrincipalIds(
    aws::Client& client, StateDb& state, const Instance& instance,
    const std::vector<DesiredAssignment>& principals) {
  Resolver resolver(client, state, instance);
  if (Status st = resolver.Load(); !st.ok()) co_return st;
  std::vector<const DesiredAssignment*> needed;
  needed.reserve(principals.size());
  for (const auto& p : principals) needed.push_back(&p);
  if (Status st = co_await resolver.Resolve(needed); !st.ok()) co_return st;
  co_return resolver.ids();
}

}  // namespace syncd::identity_center
