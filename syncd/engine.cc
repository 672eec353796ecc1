#include "syncd/engine.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <set>
#include <unordered_set>

#include "apply/early_apply.h"
#include "apply/journaled.h"
#include "core/log.h"
#include "core/memory.h"
#include "core/strings.h"
#include "ldap/codec.h"
#include "source/ad/ad_source.h"
#include "source/source.h"
#include "state/state_db.h"
#include "store/factory.h"
#include "syncd/assignments.h"
#include "syncd/aws_assignments.h"
#include "syncd/planner.h"
#include "syncd/rendered_creates.h"
#include "syncd/sync_policy.h"

namespace syncd {
namespace asio = boost::asio;
namespace {

// What the state holds before the run: its watermark and how many objects
// it caches.
struct StateView {
  std::optional<Watermark> watermark;
  int64_t cached_objects = 0;
  std::optional<AwsInstanceState> aws_instance;  // IAM Identity Center as last seen
  int64_t unfinished_run = 0;                    // StateDb::UnfinishedRun
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
  auto aws_instance = (*state)->LoadAwsInstance();
  if (!aws_instance.ok()) return aws_instance.status();
  view.aws_instance = std::move(*aws_instance);
  auto unfinished = (*state)->UnfinishedRun();
  if (!unfinished.ok()) return unfinished.status();
  // A run that holds the lock is applying now, not interrupted.
  if (*unfinished != 0 && !RunLock::HeldElsewhere(path + ".lock")) {
    view.unfinished_run = *unfinished;
  }
  return view;
}

// What a full reconciliation diffs against: the objects the store holds of
// syncd's own (`store` is null in a dry run: the store is read without
// creating or migrating it; a missing or empty one holds nothing).
asio::awaitable<Result<OwnedContents>> ReadOwnedObjects(
    Sink* store, const StoreConfig& config, const std::optional<StoreIdentity>& peeked) {
  if (store != nullptr) co_return co_await store->ReadOwned();
  if (!peeked || !peeked->holds_owned) co_return OwnedContents{};
  auto opened = OpenStore(co_await asio::this_coro::executor, config, /*read_only=*/true);
  if (!opened.ok()) co_return opened.status();
  co_return co_await opened->sink->ReadOwned();
}

// How this run paces the store: [store] settings over the sink's defaults.
ApplyOptions ApplyOptionsFor(const StoreConfig& config, const SinkCapabilities& sink,
                             const RunOptions& run) {
  ApplyOptions options;
  options.max_in_flight = config.max_in_flight > 0 ? config.max_in_flight : sink.max_in_flight;
  options.rate_limit = config.rate_limit > 0 ? config.rate_limit : sink.rate_limit;
  options.deadline = run.apply_deadline;
  return options;
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
    refer(edge.group_guid.str());
    refer(edge.member_guid.str());
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
                                                const std::string& store_replaced,
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
                            state.cached_objects, store_replaced, state.unfinished_run});
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

// What a full run needs to apply creates while it reads (EarlyApply): an
// applying run with an atomic store, a scope the reader can decide entry by
// entry, and no source switch (which deletes before it creates).
struct EarlyStart {
  Sink* sink = nullptr;
  asio::thread_pool* workers = nullptr;
  const QuarantineView* quarantine = nullptr;
  int64_t started = 0;  // the run's start, for its record
  bool render = false;  // RunOptions::json: the plan is printed as JSON
};

// What a dry run of a full read needs to keep its creates out of memory
// (RenderedCreates): the same conditions as an EarlyStart, but no store.
struct DryStart {
  const QuarantineView* quarantine = nullptr;
  bool render = false;  // the plan is printed as JSON
};

// A full read's plan: everything in scope against what the store holds of
// syncd's objects and what the state caches (`store` is null in a dry run).
// reconcile_store false: a full read for the change feed's sake (a group
// change under flattening), planned against the cache alone, as an
// incremental run is. `reconcile_pending`: another full reconciliation must
// follow. `store_refs` receives the store's references by externalId.
struct FullPlan {
  Plan plan;
  bool reconcile_pending = false;
  std::unordered_map<std::string, std::string> store_refs;
  // The externalIds of the objects the store holds, when it was read.
  std::optional<std::unordered_set<std::string>> in_store;
  // The creates sent during the read, and the run record begun for them.
  std::unique_ptr<EarlyApply> early;
  int64_t run_id = 0;
  // Twins of the creates of a dry run or an early apply, with their
  // images rendered for JSON output.
  std::unique_ptr<RenderedCreates> rendered;
};

struct FullPlanInputs {
  Sink* store = nullptr;
  const std::optional<StoreIdentity>* peeked_store = nullptr;
  bool source_switch = false;
  bool reconcile_store = true;
  bool flatten = false;
  const EarlyStart* early = nullptr;  // null: nothing is applied during the read
  const DryStart* dry = nullptr;      // a dry run that keeps creates out of memory
};

// The raw GUIDs, sorted, of `objects` (the cache, or a reconciliation's
// baseline of the store and the cache): what a full read can do more than
// create.
const std::string& GuidOf(const SyncObject& o) { return o.guid; }
const std::string& GuidOf(const ObjectRef& o) { return o->guid; }
template <typename Objects>
std::vector<std::string> KnownGuids(const Objects& objects) {
  std::vector<std::string> known;
  known.reserve(objects.size());
  for (const auto& o : objects) known.push_back(GuidOf(o));
  std::sort(known.begin(), known.end());
  known.erase(std::unique(known.begin(), known.end()), known.end());
  return known;
}

// Records the run as started (the store's batch may commit only after
// that: StateDb::UnfinishedRun), then opens the batch and the stage for
// what the read brings that neither `cached` nor `owned` holds.
Status BeginEarly(StateDb& state, const EarlyStart& start, std::vector<std::string> known,
                  FullPlan* full) {
  auto run_id = state.BeginRun("full", start.started);
  if (!run_id.ok()) return run_id.status();
  full->run_id = *run_id;
  RenderedCreates* rendered = full->rendered.get();
  EarlyApply::Keep keep;  // empty: twins
  if (rendered != nullptr) {
    keep = [rendered](ObjectRef o) { return rendered->Keep(std::move(o)); };
  } else if (start.render) {
    keep = [](ObjectRef o) { return o; };  // no file to render to: printed from the images
  }
  auto early = EarlyApply::Begin(state, *start.sink, *start.workers, std::move(known),
                                 *start.quarantine, std::move(keep));
  if (!early.ok()) return early.status();
  full->early = std::move(*early);
  return Status::Ok();
}

// A run begun for an early apply that ends before its apply: nothing it
// sent lands, and its record says why.
void FailEarlyRun(StateDb& state, FullPlan& full, int64_t started, const Status& why) {
  if (full.early) full.early->Abandon();
  if (full.run_id == 0) return;
  Status finished =
      state.FinishRun({full.run_id, "full", started, UnixNow(), "failed", {}, why.message(), ""});
  // Left "running", the record only makes the next run a full one.
  if (!finished.ok()) Log(LogLevel::kWarning, finished.message());
}

asio::awaitable<Result<FullPlan>> PlanFull(Source& source, StateDb& state, const Config& config,
                                           FullPlanInputs in) {
  FullPlan full;
  // What the plan diffs against is loaded before the read: creates sent
  // during it are staged on the state's connection, which then sees them.
  std::optional<OwnedContents> owned;
  if (in.reconcile_store) {
    // The store is the truth a full reconciliation checks: the cache alone
    // would miss what a lost state forgot and what changed in the store.
    auto read_owned = co_await ReadOwnedObjects(in.store, config.store, *in.peeked_store);
    if (!read_owned.ok()) co_return read_owned.status();
    owned = std::move(*read_owned);
    full.in_store.emplace();
    for (const auto& o : owned->objects) {
      if (!o.ref.empty()) full.store_refs.emplace(o.external_id, o.ref);
      full.in_store->insert(o.external_id);
    }
  }
  auto cached_memberships = state.LoadMemberships();
  if (!cached_memberships.ok()) co_return cached_memberships.status();
  // With the store's contents, the cache streams into them (a large
  // directory's store and cache are one image of each object before the
  // read brings its own); without them, the cache is the baseline.
  std::optional<PreparedBaseline> prepared;
  std::vector<SyncObject> cached;
  if (in.reconcile_store) {
    BaselineBuilder builder(std::move(*owned));
    Status streamed = state.ForEachObject([&builder](SyncObject o) {
      builder.AddCached(std::move(o));
      return Status::Ok();
    });
    if (!streamed.ok()) co_return streamed;
    prepared = builder.Finish(std::move(*cached_memberships));
    ReturnFreedMemory();
  } else {
    auto loaded = state.LoadObjects();
    if (!loaded.ok()) co_return loaded.status();
    cached = std::move(*loaded);
  }
  scope::Evaluator::InScope in_scope;
  if (in.early != nullptr || in.dry != nullptr) {
    auto rendered = RenderedCreates::Begin(in.early != nullptr ? in.early->render : in.dry->render);
    if (rendered.ok()) {
      full.rendered = std::move(*rendered);
    } else {
      Log(LogLevel::kWarning, rendered.status().message() + "; the plan holds every image instead");
    }
  }
  std::vector<std::string> known;  // what the early apply and the dry run's twins leave out
  if (in.early != nullptr || full.rendered) {
    known = prepared ? KnownGuids(prepared->baseline.objects) : KnownGuids(cached);
  }
  // An object the read brings as the baseline holds it is held once.
  std::function<ObjectRef(ObjectRef)> share = [](ObjectRef o) { return o; };
  if (prepared) {
    share = ShareUnchanged(*prepared);
    in_scope.object = share;
  }
  if (in.early != nullptr) {
    Status begun = BeginEarly(state, *in.early, std::move(known), &full);
    if (!begun.ok()) {
      FailEarlyRun(state, full, in.early->started, begun);
      co_return begun;
    }
    EarlyApply* early = full.early.get();
    in_scope.object = [early, share](ObjectRef o) { return early->Offer(share(std::move(o))); };
    // Flattened, a group's direct members are not its memberships.
    if (!in.flatten) {
      in_scope.member = [early](const ObjectRef& group, const ObjectRef& member) {
        early->OfferMember(group, member);
      };
    }
  } else if (full.rendered) {
    auto only_creatable =
        std::make_shared<const OnlyCreatable>(std::move(known), *in.dry->quarantine);
    in_scope.object = [only_creatable, share, rendered = full.rendered.get()](ObjectRef o) {
      return (*only_creatable)(*o) ? rendered->Keep(std::move(o)) : share(std::move(o));
    };
  }
  ReadStats stats;
  auto read = co_await source.ReadAll(&stats, in_scope);
  if (!read.ok()) {
    if (full.early) co_await full.early->Drain();
    FailEarlyRun(state, full, in.early != nullptr ? in.early->started : 0, read.status());
    co_return read.status();
  }
  if (full.rendered) {
    full.rendered->Finish();
    Log(LogLevel::kDebug, "the plan holds twins of " + std::to_string(full.rendered->twins()) +
                              " objects only creates follow");
  }
  in_scope = {};  // ShareUnchanged's index, and nothing may call it after the read
  share = nullptr;
  ReturnFreedMemory();  // the read's raw entries
  if (in.flatten) FlattenNestedGroups(read->desired.objects, &read->desired.memberships);
  PhaseTimer plan_timer;
  Baseline baseline;
  if (in.reconcile_store) {
    baseline = FinishBaseline(std::move(*prepared), *read);
    for (const auto& what : baseline.unreadable) {
      Log(LogLevel::kWarning, "the store's " + what +
                                  " is marked as syncd's but its externalId is not an "
                                  "objectGUID; left alone");
    }
    full.plan = BuildPlan(std::move(*read), baseline.objects, std::move(baseline.memberships),
                          config.safety, in.source_switch, &baseline.applied);
  } else {
    // Without the store's contents, the baseline is the cache.
    baseline.applied = LastApplied::Of(cached);
    full.plan = BuildPlan(std::move(*read), cached, std::move(*cached_memberships), config.safety,
                          in.source_switch, &baseline.applied);
  }
  // A held operation is revisited by the next run, which is incremental and
  // plans against the cache: for an object only the store holds (a
  // deletion held by the budget after the state was lost), that would find
  // nothing. Another full reconciliation will.
  full.reconcile_pending = std::any_of(
      full.plan.held.begin(), full.plan.held.end(),
      [&](const auto& held) { return !baseline.applied.Holds(held.operation.object->guid); });
  Log(LogLevel::kDebug, "planned " + std::to_string(full.plan.operations.size()) +
                            " operations in " + plan_timer.Elapsed());
  if (full.early) {
    // The plan touches neither the state nor the store: it was made while
    // the writes sent during the read finished.
    PhaseTimer drain_timer;
    co_await full.early->Drain();
    Log(LogLevel::kDebug,
        "the writes sent during the read finished " + drain_timer.Elapsed() + " after the plan");
    if (Status settled = full.early->Settle(&full.plan.operations); !settled.ok()) {
      FailEarlyRun(state, full, in.early->started, settled);
      co_return settled;
    }
  }
  co_return full;
}

// Under flattening a group's change can change any group above it, which
// only a full read sees; a user's change cannot (AD keeps membership on the
// group). True when `read` names a group, or an object the cache does not
// know (a new one might be a group's member through nesting).
bool NeedsFullReadToFlatten(const IncrementalRead& read, const CachedSlice& slice) {
  if (!read.members.empty() || !read.member_deltas.empty()) return true;
  for (const auto& o : read.present) {
    auto cached = slice.objects.find(o.guid);
    if (o.kind == ObjectKind::kGroup || cached == slice.objects.end()) return true;
  }
  return std::any_of(read.absent.begin(), read.absent.end(), [&](const std::string& guid) {
    auto cached = slice.objects.find(guid);
    return cached != slice.objects.end() && cached->second.kind == ObjectKind::kGroup;
  });
}

// An incremental run's plan: the objects the source reports changed against
// the slice of the cache they touch. nullopt: under flattening, the changes
// need a full read (NeedsFullReadToFlatten).
asio::awaitable<Result<std::optional<Plan>>> PlanIncremental(Source& source, StateDb& cache,
                                                             const Config& config, bool flatten) {
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
  if (flatten) {
    if (NeedsFullReadToFlatten(*read, *slice)) co_return std::optional<Plan>();
    // Member-side evidence names direct groups only; under flattening the
    // cache holds effective ones, and no group changed.
    read->member_of.clear();
  }
  Plan plan = BuildIncrementalPlan(std::move(*read), *slice, config.safety);
  Log(LogLevel::kDebug, "planned " + std::to_string(plan.operations.size()) + " operations in " +
                            plan_timer.Elapsed());
  co_return std::optional<Plan>(std::move(plan));
}

}  // namespace

RunLock::~RunLock() {
  if (fd_ >= 0) close(fd_);  // releases the lock
}

bool RunLock::HeldElsewhere(const std::string& path) {
  // Not created if missing: a dry run leaves no file behind.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd);  // releases it if it was taken
  return held;
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

namespace {

// Reapplies (or reports) what a source switch left in the ledger. The
// watermark's flag goes only once that worked: a failure or a crash before
// it is retried by the next run.
bool SettleSwitch(StateDb& state, const OpenedStore& store, const Config& config) {
  Status st = store.assignments != nullptr
                  ? AfterSourceSwitch(state, *store.assignments, config.assignments, UnixNow())
                  : Status::Unavailable(store.sink->Describe() +
                                        " holds no assignments syncd can reapply yet; the ledger "
                                        "keeps them");
  if (st.ok()) st = state.ClearReapplyPending();
  if (!st.ok()) {
    Log(LogLevel::kError,
        "assignments after the source switch: " + st.message() + "; the next run tries again");
  }
  return st.ok();
}

// The store an applying run writes to, caught up before the run plans: the
// journal of an interrupted run finished, a pending reapply settled.
struct RunStore {
  OpenedStore store;
  ApplyOptions pacing;
  std::string id;
  int resumed = 0;
  bool reapply_pending = false;
};

asio::awaitable<Result<RunStore>> OpenRunStore(const Config& config, StateDb& state,
                                               const RunOptions& run, bool reapply_pending) {
  RunStore out;
  auto opened = OpenStore(co_await asio::this_coro::executor, config.store, /*read_only=*/false);
  if (!opened.ok()) co_return opened.status();
  out.store = std::move(*opened);
  out.pacing = ApplyOptionsFor(config.store, out.store.sink->capabilities(), run);
  auto identity = co_await out.store.sink->Identify();
  if (!identity.ok()) co_return identity.status();
  out.id = identity->id;
  auto resumed = co_await ResumeJournal(state, *out.store.sink, out.pacing);
  if (!resumed.ok()) co_return resumed.status();
  if (resumed->run_id != 0) {
    Log(LogLevel::kWarning, "run " + std::to_string(resumed->run_id) +
                                " was interrupted; applied " + std::to_string(resumed->applied) +
                                " of its " + std::to_string(resumed->pending) +
                                " journaled operations that were still pending");
    for (const auto& [op, why] : resumed->outcome.failed) Log(LogLevel::kError, why.message());
  }
  out.resumed = static_cast<int>(resumed->applied);
  out.reapply_pending = reapply_pending && !SettleSwitch(state, out.store, config);
  co_return out;
}

// A dry run's word on an interrupted run: the next real run finishes it first.
void WarnPendingJournal(StateDb& state) {
  int64_t run_id = 0;
  auto journal = state.LoadJournal(&run_id);
  if (!journal.ok()) return;
  const auto pending = std::count_if(journal->begin(), journal->end(), [](const JournalEntry& e) {
    return e.status == JournalStatus::kPending;
  });
  if (pending == 0) return;
  Log(LogLevel::kWarning,
      "run " + std::to_string(run_id) + " was interrupted; the next run applies its " +
          std::to_string(pending) + " journaled operations still pending before this plan");
}

// The plan, as the source's read and the cache (and, in a full
// reconciliation, the store) give it, with what a reconciliation learned of
// the store (FullPlan; only the plan for an incremental run).
asio::awaitable<Result<FullPlan>> PlanRun(Source& source, StateDb& state, const Config& config,
                                          const RunStartPoint& start, Sink* store,
                                          const std::optional<StoreIdentity>& peeked_store,
                                          const EarlyStart* early, const DryStart* dry) {
  // Stores without nested groups get each group's effective user members.
  const bool flatten = FlattensGroups(config.store);
  const RunChoice& choice = start.choice;
  if (!choice.full) {
    if (start.nothing_changed) co_return FullPlan{};
    auto planned = co_await PlanIncremental(source, state, config, flatten);
    if (!planned.ok()) co_return planned.status();
    if (*planned) {
      FullPlan incremental;
      incremental.plan = std::move(**planned);
      co_return incremental;
    }
    Log(LogLevel::kInfo,
        "full read: groups are flattened for the store, and a group changed (or an object came "
        "into scope)");
  }
  // Named: GCC 12 mishandles braced temporaries in a co_await's arguments.
  const FullPlanInputs inputs{store,
                              &peeked_store,
                              choice.source_switch,
                              choice.full,
                              flatten,
                              choice.full ? early : nullptr,
                              choice.full ? dry : nullptr};
  auto full = co_await PlanFull(source, state, config, inputs);
  ReturnFreedMemory();  // the read and the store's contents the plan consumed
  co_return full;
}

// Journals and applies `plan` through the store; the watermark `next`
// advances (past a complete read) with what landed.
asio::awaitable<Result<ApplyOutcome>> ApplyRun(
    StateDb& state, RunStore& run_store, const Plan& plan, const RunChoice& choice,
    const QuarantineView& quarantine,
    const std::unordered_map<std::string, std::string>& store_refs, Watermark* next,
    int64_t started, asio::thread_pool& workers, FullPlan& planned) {
  // A run that created during its read was recorded as started then.
  auto run_id = planned.run_id != 0 ? Result<int64_t>(planned.run_id)
                                    : state.BeginRun(plan.run_kind, started);
  if (!run_id.ok()) co_return run_id.status();
  RunRecord record{*run_id,
                   plan.run_kind,
                   started,
                   0,
                   "ok",
                   {},
                   plan.run_reason,
                   choice.source_switch ? choice.reason : ""};
  for (const auto& [kind, counts] : Summarize(plan)) {
    for (const auto& [op, n] : counts) {
      if (n) record.counts[kind + "." + op] = n;
    }
  }
  // The watermark advances only past a complete read; what was held goes on
  // the revisit list so the next incremental run decides it again, and so
  // do quarantined objects: a change in AD, or `syncd quarantine retry`,
  // sends them again.
  const Watermark* advance = nullptr;
  next->reapply_pending = run_store.reapply_pending || choice.source_switch;
  if (plan.read_complete) {
    for (const auto& held : plan.held) AddRevisit(held.operation, &next->revisit);
    for (const auto& held : plan.quarantined) AddRevisit(held.operation, &next->revisit);
    for (const auto& e : quarantine.entries()) next->revisit.push_back(e.guid);
    advance = next;
  } else {
    record.outcome = "partial";
    record.message = plan.incomplete_reason;
  }
  // References the store gave for objects the state has none for (a lost
  // state, adopted objects), from the full reconciliation, by externalId.
  SinkRefs known_refs;
  if (!store_refs.empty()) {
    auto learn = [&](const SyncObject& o) {
      if (auto ref = store_refs.find(o.external_id); ref != store_refs.end()) {
        known_refs.emplace(o.guid, ref->second);
      }
    };
    for (const auto& op : plan.operations) {
      learn(*op.object);
      if (op.member) learn(*op.member);
    }
  }
  PhaseTimer apply_timer;
  auto outcome =
      co_await ApplyPlan(state, *run_store.store.sink, plan.operations, record, workers,
                         run_store.pacing, advance, &quarantine, &known_refs, planned.early.get());
  Log(LogLevel::kDebug, "applied in " + apply_timer.Elapsed());
  co_return outcome;
}

}  // namespace

asio::awaitable<Result<RunResult>> RunOnce(const Config& config, asio::thread_pool& workers,
                                           RunOptions run) {
  RunResult result;
  const bool dry_run = run.dry_run;
  auto executor = co_await asio::this_coro::executor;
  auto peeked = PeekState(config.state_path, dry_run);
  if (!peeked.ok()) co_return peeked.status();
  auto peeked_store = co_await PeekStore(executor, config.store);
  if (!peeked_store.ok()) co_return peeked_store.status();

  const int64_t started = UnixNow();
  // IAM Identity Center before the plan: a switched identity store lost
  // every principal, so this very run rebuilds it.
  std::optional<AwsProbe> aws;
  std::string store_replaced;
  if (UsesAws(config)) {
    aws = co_await ProbeAws(config, peeked->aws_instance, started);
    if (!aws->status.ok()) {
      // Reported after the run; without it the last record stands.
      aws->observed.next = peeked->aws_instance.value_or(AwsInstanceState{});
    } else if (aws->observed.switched) {
      store_replaced = AwsSwitchReason(aws->observed.next);
    }
  }
  auto start =
      co_await StartRun(config, workers, run, *peeked, *peeked_store, store_replaced, started);
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
  RunStore store;
  if (!dry_run) {
    const bool reapply_pending = peeked->watermark && peeked->watermark->reapply_pending;
    auto opened = co_await OpenRunStore(config, **state, run, reapply_pending);
    if (!opened.ok()) co_return opened.status();
    store = std::move(*opened);
    next.store_id = store.id;
    result.resumed = store.resumed;
    if (aws && aws->status.ok()) {
      if (Status st = (*state)->SaveAwsInstance(aws->observed.next); !st.ok()) co_return st;
    }
  } else {
    WarnPendingJournal(**state);
  }

  // What the store refused before, unchanged in AD since, is not sent again.
  auto quarantined = (*state)->LoadQuarantine();
  if (!quarantined.ok()) co_return quarantined.status();
  const QuarantineView quarantine(std::move(*quarantined));
  // An atomic store takes the creates while the read runs, unless only the
  // complete read can say what is in scope (group-based scope) or what goes
  // first (a source switch deletes before it creates).
  std::optional<EarlyStart> early;
  if (!dry_run && store.store.sink->capabilities().atomic_batches && !choice.source_switch &&
      config.scope.groups.empty()) {
    early = EarlyStart{store.store.sink.get(), &workers, &quarantine, started, run.json};
  }
  // A dry run holds no more than the run would: what only a create can
  // follow is printed from a twin (and, for JSON, a rendering on disk).
  std::optional<DryStart> dry;
  if (dry_run && !choice.source_switch && config.scope.groups.empty()) {
    dry = DryStart{&quarantine, run.json};
  }
  auto planned = co_await PlanRun(source, **state, config, *start, store.store.sink.get(),
                                  *peeked_store, early ? &*early : nullptr, dry ? &*dry : nullptr);
  if (!planned.ok()) co_return planned.status();
  next.reconcile_pending = planned->reconcile_pending;
  // externalId -> the store's ref
  const std::unordered_map<std::string, std::string> store_refs = std::move(planned->store_refs);
  result.plan = std::move(planned->plan);
  result.rendered = std::move(planned->rendered);
  result.plan.run_kind = choice.full ? "full" : "incremental";
  result.plan.run_reason = choice.reason;
  HoldQuarantined(quarantine, &result.plan);
  // An IAM Identity Center source switch removed every assignment: until
  // the reapply puts them back, no principal leaves the store (what the
  // switched store lost already only leaves the cache).
  if (aws && aws->observed.next.reapply_pending) {
    const auto* in_store = planned->in_store ? &*planned->in_store : nullptr;
    HoldDeletes(kAwsSwitchHoldReason, &result.plan, in_store);
  }
  if (dry_run) {
    if (choice.source_switch) {
      // What the store holds now, read without creating it.
      OpenedStore current;
      if (*peeked_store) {
        auto opened = OpenStore(executor, config.store, /*read_only=*/true);
        if (!opened.ok()) co_return opened.status();
        current = std::move(*opened);
      }
      auto preview = PreviewReapply(**state, result.plan, config, current.assignments);
      if (!preview.ok()) co_return preview.status();
      result.reapply_preview = std::move(*preview);
    }
    co_return result;
  }

  auto outcome = co_await ApplyRun(**state, store, result.plan, choice, quarantine, store_refs,
                                   &next, started, workers, *planned);
  if (!outcome.ok()) co_return outcome.status();
  result.failed = std::move(outcome->failed);
  result.deferred = std::move(outcome->deferred);
  // The old source's principals took their assignments with them: the
  // ledger puts them back, or says what waits.
  if (choice.source_switch && result.plan.read_complete) SettleSwitch(**state, store.store, config);
  if (aws) {
    // Logged there; the run's result carries it as a warning.
    Status after = co_await AfterRunAws(**state, config, *aws, UnixNow());
    if (!after.ok()) result.aws_warning = after.message();
  }
  co_return result;
}

}  // namespace syncd
