#include "syncd/engine.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstring>
#include <optional>
#include <set>
#include <unordered_set>

#include "core/log.h"
#include "core/strings.h"
#include "source/ad/ad_source.h"
#include "source/source.h"
#include "state/state_db.h"
#include "store/identity_store.h"
#include "syncd/assignments.h"
#include "syncd/planner.h"
#include "syncd/sync_policy.h"

namespace syncd {
namespace asio = boost::asio;
namespace {

// The operations of `ops` that landed: all but the refused ones.
std::vector<Operation> Landed(const std::vector<Operation>& ops, const ApplyOutcome& outcome) {
  std::vector<Operation> landed;
  landed.reserve(outcome.applied);
  auto failed = outcome.failed_indexes.begin();
  for (size_t i = 0; i < ops.size(); ++i) {
    if (failed != outcome.failed_indexes.end() && *failed == i) {
      ++failed;
    } else {
      landed.push_back(ops[i]);
    }
  }
  return landed;
}

// Records what landed without copying the batch when all of it did.
Status CommitLanded(StateDb& state, const RunRecord& record, const std::vector<Operation>& ops,
                    const ApplyOutcome& outcome, const Watermark* watermark = nullptr) {
  if (outcome.failed.empty()) return state.CommitRun(record, ops, watermark);
  return state.CommitRun(record, Landed(ops, outcome), watermark);
}

// The objects an operation is about: the next incremental run re-reads them
// when the operation did not land.
void AddRevisit(const Operation& op, std::vector<std::string>* revisit) {
  revisit->push_back(op.object.guid);
  if (op.member) revisit->push_back(op.member->guid);
}

}  // namespace

Result<ApplyOutcome> ApplyBatch(IdentityStore& store, const std::vector<Operation>& ops) {
  ApplyOutcome outcome;
  Status st = store.Begin();
  if (!st.ok()) return st;
  // Refusals for the object itself are skipped (and retried next run);
  // anything else means the store failed, and the whole batch goes.
  std::vector<std::pair<size_t, Status>> refused;
  auto apply = [&](size_t i) -> Status {
    const Operation& op = ops[i];
    Status applied = store.Apply(op);
    if (applied.ok()) {
      ++outcome.applied;
      return applied;
    }
    const std::string what = std::string(OpName(op.op)) + " " + KindName(op.kind) + " " +
                             op.object.name + (op.member ? " member " + op.member->name : "");
    if (applied.code() == Status::Code::kConflict ||
        applied.code() == Status::Code::kInvalidArgument ||
        applied.code() == Status::Code::kNotFound) {
      refused.push_back({i, applied.WithContext(what)});
      return Status::Ok();
    }
    return applied.WithContext(what);
  };
  for (size_t i = 0; i < ops.size(); ++i) {
    st = apply(i);
    if (!st.ok()) {
      store.Rollback();
      return st;
    }
  }
  // A name freed later in the batch (an account deleted and recreated with
  // the same UPN, a rename) lets a refused create or update through, and so
  // do memberships of what it creates: one more pass, in plan order.
  if (!refused.empty()) {
    std::vector<std::pair<size_t, Status>> first_pass;
    first_pass.swap(refused);
    for (const auto& [i, why] : first_pass) {
      st = apply(i);
      if (!st.ok()) {
        store.Rollback();
        return st;
      }
    }
  }
  st = store.Commit();
  if (!st.ok()) return st;
  for (auto& [i, why] : refused) {
    outcome.failed.push_back({ops[i], std::move(why)});
    outcome.failed_indexes.push_back(i);
  }
  return outcome;
}

Result<int> ResumeOutbox(StateDb& state, IdentityStore& store) {
  int64_t run_id = 0;
  auto pending = state.PendingOutbox(&run_id);
  if (!pending.ok()) return pending.status();
  if (pending->empty()) return 0;
  Log(LogLevel::kWarning, "run " + std::to_string(run_id) + " was interrupted; re-applying its " +
                              std::to_string(pending->size()) + " journaled operations");
  auto outcome = ApplyBatch(store, *pending);
  if (!outcome.ok()) return outcome.status().WithContext("resuming run " + std::to_string(run_id));
  for (const auto& [op, why] : outcome->failed) Log(LogLevel::kError, why.message());
  RunRecord record{run_id,
                   "full",
                   0,
                   UnixNow(),
                   outcome->failed.empty() ? "ok" : "partial",
                   {{"resumed", static_cast<int64_t>(outcome->applied)}},
                   "resumed after an interruption",
                   ""};
  Status st = CommitLanded(state, record, *pending, *outcome);
  if (!st.ok()) return st;
  return static_cast<int>(outcome->applied);
}

asio::awaitable<Result<ApplyOutcome>> ApplyPlan(StateDb& state, IdentityStore& store,
                                                const std::vector<Operation>& ops, RunRecord record,
                                                asio::thread_pool& workers,
                                                const Watermark* watermark) {
  // Journal first; then the store batch and the state's update of its cache,
  // side by side on two workers (two SQLite files); the state commits only
  // after the store has. A crash anywhere leaves the journal: ResumeOutbox.
  PhaseTimer timer;
  Status st = state.WriteOutbox(record.id, ops);
  if (!st.ok()) co_return st;
  Log(LogLevel::kDebug, "journaled in " + timer.Elapsed());
  record.finished_at = UnixNow();
  auto store_batch = asio::co_spawn(
      workers, [&]() -> asio::awaitable<Result<ApplyOutcome>> { co_return ApplyBatch(store, ops); },
      asio::deferred);
  auto state_stage = asio::co_spawn(
      workers,
      [&]() -> asio::awaitable<Status> { co_return state.StageRun(record, ops, watermark); },
      asio::deferred);
  auto [order, store_error, outcome, state_error, staged] =
      co_await asio::experimental::make_parallel_group(std::move(store_batch),
                                                       std::move(state_stage))
          // Not cancellable: a batch once started lands (or rolls back) whole,
          // and cancelling the workers' coroutines would throw out of them.
          .async_wait(asio::experimental::wait_for_all(),
                      asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
  Log(LogLevel::kDebug, "store and state staged at " + timer.Elapsed());
  if (store_error || state_error) {
    state.RollbackStaged();
    co_return Status::Internal("unexpected exception while applying the plan");
  }
  if (!outcome.ok()) {
    state.RollbackStaged();
    record.outcome = "failed";
    record.message = outcome.status().message();
    // The batch rolled back: nothing of it landed, so the journal goes too.
    Status cleared = state.CommitRun(record, {});
    if (!cleared.ok()) Log(LogLevel::kError, cleared.message());
    co_return outcome.status();
  }
  if (!outcome->failed.empty()) {
    // The staged cache assumed everything landed: redo it with what did.
    state.RollbackStaged();
    record.outcome = "partial";
    record.counts["failed"] = static_cast<int64_t>(outcome->failed.size());
    record.message = outcome->failed.front().second.message();
    std::optional<Watermark> advanced;
    if (watermark != nullptr) {
      advanced = *watermark;
      for (const auto& [op, why] : outcome->failed) AddRevisit(op, &advanced->revisit);
    }
    st = CommitLanded(state, record, ops, *outcome, advanced ? &*advanced : nullptr);
  } else {
    // The store batch is durable: the state may say so.
    st = staged.ok() ? state.CommitStaged() : staged;
  }
  if (!st.ok()) co_return st;
  co_return std::move(outcome);
}

namespace {

// What the state holds before the run: its watermark and how many objects
// it caches.
struct StateView {
  std::optional<Watermark> watermark;
  int64_t cached_objects = 0;
};

// The state, read without creating or migrating anything: a run that cannot
// reach AD must leave no file behind.
Result<StateView> PeekState(const std::string& path, bool dry_run) {
  auto state = StateDb::Open(path, /*read_only=*/true);
  if (!state.ok()) {
    // An older schema has no watermark; the writable open migrates it, and
    // reports anything worse.
    if (!dry_run) return StateView{};
    return state.status();
  }
  StateView view;
  auto watermark = (*state)->LoadWatermark();
  if (!watermark.ok()) return watermark.status();
  view.watermark = std::move(*watermark);
  auto counts = (*state)->CountObjects();
  if (!counts.ok()) return counts.status();
  for (const auto& [kind, n] : *counts) view.cached_objects += n;
  return view;
}

// What a full reconciliation diffs against: the objects the store holds of
// syncd's own (`store` is null in a dry run: the store is read without
// creating or migrating it; a missing or empty one holds nothing).
Result<OwnedContents> ReadOwnedObjects(IdentityStore* store, const std::string& path,
                                       const std::optional<StoreIdentity>& peeked) {
  if (store != nullptr) return store->ReadOwned();
  if (!peeked || !peeked->holds_owned) return OwnedContents{};
  auto opened = LocalStore::Open(path, /*read_only=*/true);
  if (!opened.ok()) return opened.status();
  return (*opened)->ReadOwned();
}

// Everything an incremental plan is computed against, from the state.
Result<CachedSlice> LoadSlice(StateDb& state, const IncrementalRead& read) {
  std::set<std::string> named(read.absent.begin(), read.absent.end());
  named.insert(read.skipped.begin(), read.skipped.end());
  for (const auto& o : read.present) named.insert(o.guid);
  std::set<std::string> touched = named;
  for (const auto& [group, delta] : read.member_deltas) touched.insert(group);
  for (const auto& [group, members] : read.members) touched.insert(group);

  CachedSlice slice;
  auto objects = state.LoadObjects({named.begin(), named.end()});
  if (!objects.ok()) return objects.status();
  for (auto& o : *objects) slice.objects.emplace(o.guid, std::move(o));
  auto edges = state.LoadMembershipsTouching({touched.begin(), touched.end()});
  if (!edges.ok()) return edges.status();
  slice.memberships.insert(edges->begin(), edges->end());

  std::set<std::string> others;
  auto refer = [&](const std::string& guid) {
    if (!named.contains(guid)) others.insert(guid);
  };
  for (const auto& [group, delta] : read.member_deltas) {
    refer(group);
    for (const auto& m : delta.added) refer(m);
    for (const auto& m : delta.removed) refer(m);
  }
  for (const auto& [group, members] : read.members) {
    for (const auto& m : members) refer(m);
  }
  for (const auto& [member, groups] : read.member_of) {
    for (const auto& g : groups) refer(g);
  }
  // Both ends of every cached edge: a member a group no longer lists must
  // still be known to be in scope for its removal to be planned.
  for (const auto& edge : slice.memberships) {
    refer(edge.group_guid);
    refer(edge.member_guid);
  }
  auto identities = state.LoadIdentities({others.begin(), others.end()});
  if (!identities.ok()) return identities.status();
  slice.others = std::move(*identities);
  auto counts = state.CountObjects();
  if (!counts.ok()) return counts.status();
  for (const auto& [kind, n] : *counts) {
    if (auto parsed = ParseKind(kind)) slice.totals[*parsed] = n;
  }
  return slice;
}

// Where a run starts: its source, connected; how it goes (the policy, then
// the source's own say); and the watermark it leaves once it lands.
struct RunStartPoint {
  std::unique_ptr<Source> source;
  RunChoice choice;
  bool nothing_changed = false;  // incremental, and the source reports no change
  Watermark next;
};

asio::awaitable<Result<RunStartPoint>> StartRun(const Config& config, asio::thread_pool& workers,
                                                const RunOptions& run, const StateView& state,
                                                const std::optional<StoreIdentity>& store,
                                                int64_t started) {
  const Watermark* from = state.watermark ? &*state.watermark : nullptr;
  auto source = co_await ad::OpenSource(SourceSettings(config), workers, from, run.dc_failures);
  if (!source.ok()) co_return source.status();
  RunStartPoint start;
  start.source = std::move(*source);
  start.next.scope_fingerprint = ScopeFingerprint(config);
  start.next.last_success = started;
  const CursorCheck cursor = from ? start.source->Check(*from, started) : CursorCheck{};
  start.choice = ChooseRun({&state.watermark, cursor, start.next.scope_fingerprint, started,
                            config.source.reconcile_interval_hours, run.force_full, &store,
                            state.cached_objects});
  if (start.choice.full) {
    Log(start.choice.store_mismatch ? LogLevel::kWarning : LogLevel::kInfo,
        "full reconciliation: " + start.choice.reason);
  }
  auto begun = co_await start.source->Begin(start.choice.full ? nullptr : from);
  if (!begun.ok()) co_return begun.status();
  if (!begun->full_reason.empty()) {
    start.choice = {true, begun->full_reason};
    Log(LogLevel::kInfo, "full reconciliation: " + start.choice.reason);
  }
  start.nothing_changed = begun->nothing_changed;
  start.next.last_full = start.choice.full ? started : from->last_full;
  start.source->Position(&start.next);
  co_return start;
}

// A full reconciliation's plan: everything in scope against what the store
// holds of syncd's objects and what the state caches (`store` is null in a
// dry run). `reconcile_pending`: another full reconciliation must follow.
struct FullPlan {
  Plan plan;
  bool reconcile_pending = false;
};

asio::awaitable<Result<FullPlan>> PlanFull(Source& source, StateDb& state, IdentityStore* store,
                                           const Config& config,
                                           const std::optional<StoreIdentity>& peeked_store,
                                           bool source_switch) {
  ReadStats stats;
  auto read = co_await source.ReadAll(&stats);
  if (!read.ok()) co_return read.status();
  auto cached = state.LoadObjects();
  if (!cached.ok()) co_return cached.status();
  auto cached_memberships = state.LoadMemberships();
  if (!cached_memberships.ok()) co_return cached_memberships.status();
  // The store is the truth a full reconciliation checks: the cache alone
  // would miss what a lost state forgot and what changed in the store.
  auto owned = ReadOwnedObjects(store, config.store.path, peeked_store);
  if (!owned.ok()) co_return owned.status();
  PhaseTimer plan_timer;
  Baseline baseline = ReconcileBaseline(*owned, *cached, *cached_memberships, *read);
  for (const auto& what : baseline.unreadable) {
    Log(LogLevel::kWarning, "the store's " + what +
                                " is marked as syncd's but its externalId is not an "
                                "objectGUID; left alone");
  }
  FullPlan full;
  full.plan = BuildPlan(std::move(*read), baseline.objects, baseline.memberships, config.safety,
                        source_switch, &*cached);
  // A held operation is revisited by the next run, which is incremental and
  // plans against the cache: for an object only the store holds (a
  // deletion held by the budget after the state was lost), that would find
  // nothing. Another full reconciliation will.
  std::unordered_set<std::string> cached_guids;
  for (const auto& o : *cached) cached_guids.insert(o.guid);
  full.reconcile_pending = std::any_of(
      full.plan.held.begin(), full.plan.held.end(),
      [&](const auto& held) { return !cached_guids.contains(held.operation.object.guid); });
  Log(LogLevel::kDebug, "planned " + std::to_string(full.plan.operations.size()) +
                            " operations in " + plan_timer.Elapsed());
  co_return full;
}

// An incremental run's plan: the objects the source reports changed against
// the slice of the cache they touch.
asio::awaitable<Result<Plan>> PlanIncremental(Source& source, StateDb& cache,
                                              const Config& config) {
  auto is_cached = [&cache](const std::string& guid) {
    auto found = cache.LoadIdentities({guid});
    return found.ok() && !found->empty();
  };
  ReadStats stats;
  auto read = co_await source.ReadChanges(is_cached, &stats);
  if (!read.ok()) co_return read.status();
  PhaseTimer plan_timer;
  auto slice = LoadSlice(cache, *read);
  if (!slice.ok()) co_return slice.status();
  Plan plan = BuildIncrementalPlan(std::move(*read), *slice, config.safety);
  Log(LogLevel::kDebug, "planned " + std::to_string(plan.operations.size()) + " operations in " +
                            plan_timer.Elapsed());
  co_return plan;
}

}  // namespace

RunLock::~RunLock() {
  if (fd_ >= 0) close(fd_);  // releases the lock
}

Status RunLock::Acquire(const std::string& path) {
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    return Status::Unavailable("cannot open lock file " + path + ": " + std::strerror(errno));
  }
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    return Status::Unavailable("another syncd run is applying changes (lock " + path +
                               " is held); try again when it has finished");
  }
  return Status::Ok();
}

asio::awaitable<Result<RunResult>> RunOnce(const Config& config, asio::thread_pool& workers,
                                           RunOptions run) {
  RunResult result;
  const bool dry_run = run.dry_run;
  auto peeked = PeekState(config.state_path, dry_run);
  if (!peeked.ok()) co_return peeked.status();
  const std::optional<Watermark>* stored = &peeked->watermark;
  auto peeked_store = LocalStore::Peek(config.store.path);
  if (!peeked_store.ok()) co_return peeked_store.status();

  const int64_t started = UnixNow();
  auto start = co_await StartRun(config, workers, run, *peeked, *peeked_store, started);
  if (!start.ok()) co_return start.status();
  Source& source = *start->source;
  RunChoice& choice = start->choice;
  Watermark& next = start->next;
  result.dc_uri = source.where();
  result.started_at = started;

  // One applying run at a time per state: a second one would take the
  // first one's live journal for an interrupted run.
  RunLock lock;
  if (!dry_run) {
    Status locked = lock.Acquire(config.state_path + ".lock");
    if (!locked.ok()) co_return locked;
  }
  // State and store are opened only now: a run that cannot read AD leaves
  // no trace, not even an empty file.
  auto state = StateDb::Open(config.state_path, dry_run);
  if (!state.ok()) co_return state.status();
  std::unique_ptr<LocalStore> store;
  // Reapplies (or reports) what a source switch left in the ledger. The
  // watermark's flag goes only once that worked: a failure or a crash
  // before it is retried by the next run.
  auto settle_switch = [&state, &store, &config]() {
    Status st = AfterSourceSwitch(**state, *store, config.assignments, UnixNow());
    if (st.ok()) st = (*state)->ClearReapplyPending();
    if (!st.ok()) {
      Log(LogLevel::kError,
          "assignments after the source switch: " + st.message() + "; the next run tries again");
    }
    return st.ok();
  };
  bool reapply_pending = stored->has_value() && (**stored).reapply_pending;
  if (!dry_run) {
    auto opened = LocalStore::Open(config.store.path);
    if (!opened.ok()) co_return opened.status();
    store = std::move(*opened);
    auto identity = store->Identify();
    if (!identity.ok()) co_return identity.status();
    next.store_id = identity->id;
    auto resumed = ResumeOutbox(**state, *store);
    if (!resumed.ok()) co_return resumed.status();
    result.resumed = *resumed;
    if (reapply_pending) reapply_pending = !settle_switch();
  } else {
    int64_t run_id = 0;
    auto pending = (*state)->PendingOutbox(&run_id);
    if (pending.ok() && !pending->empty()) {
      Log(LogLevel::kWarning, "run " + std::to_string(run_id) +
                                  " was interrupted; the next run "
                                  "re-applies its " +
                                  std::to_string(pending->size()) +
                                  " journaled operations before this plan");
    }
  }

  if (choice.full) {
    auto planned = co_await PlanFull(source, **state, store.get(), config, *peeked_store,
                                     choice.source_switch);
    if (!planned.ok()) co_return planned.status();
    result.plan = std::move(planned->plan);
    next.reconcile_pending = planned->reconcile_pending;
  } else if (!start->nothing_changed) {
    auto planned = co_await PlanIncremental(source, **state, config);
    if (!planned.ok()) co_return planned.status();
    result.plan = std::move(*planned);
  }
  result.plan.run_kind = choice.full ? "full" : "incremental";
  result.plan.run_reason = choice.reason;
  if (dry_run) {
    if (choice.source_switch) {
      auto preview = PreviewReapply(**state, result.plan, config);
      if (!preview.ok()) co_return preview.status();
      result.reapply_preview = std::move(*preview);
    }
    co_return result;
  }

  auto run_id = (*state)->BeginRun(result.plan.run_kind, started);
  if (!run_id.ok()) co_return run_id.status();
  RunRecord record{*run_id,
                   result.plan.run_kind,
                   started,
                   0,
                   "ok",
                   {},
                   result.plan.run_reason,
                   choice.source_switch ? choice.reason : ""};
  for (const auto& [kind, counts] : Summarize(result.plan)) {
    for (const auto& [op, n] : counts) {
      if (n) record.counts[kind + "." + op] = n;
    }
  }
  // The watermark advances only past a complete read; what was held goes on
  // the revisit list so the next incremental run decides it again.
  const Watermark* advance = nullptr;
  next.reapply_pending = reapply_pending || choice.source_switch;
  if (result.plan.read_complete) {
    for (const auto& held : result.plan.held) AddRevisit(held.operation, &next.revisit);
    advance = &next;
  } else {
    record.outcome = "partial";
    record.message = result.plan.incomplete_reason;
  }

  PhaseTimer apply_timer;
  auto outcome =
      co_await ApplyPlan(**state, *store, result.plan.operations, record, workers, advance);
  Log(LogLevel::kDebug, "applied in " + apply_timer.Elapsed());
  if (!outcome.ok()) co_return outcome.status();
  result.failed = std::move(outcome->failed);
  // The old source's principals took their assignments with them: the
  // ledger puts them back, or says what waits.
  if (choice.source_switch && result.plan.read_complete) settle_switch();
  co_return result;
}

}  // namespace syncd
