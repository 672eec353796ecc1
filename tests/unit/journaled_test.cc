// A run's plan through the journal, against the real state and the real
// local store, with faults injected by a sink built on the real port. The
// same store runs both ways: with its atomic batches, and one operation at
// a time as a remote store applies them.
#include "apply/journaled.h"

#include "apply/early_apply.h"

#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>

#include "store/local/local_store.h"
#include "tests/unit/test_util.h"

namespace syncd {
namespace {

namespace asio = boost::asio;

// Forwards to a real store; fails the Nth operation (0-based) or the commit
// on demand, refuses an object by name, and counts what reached the store.
class FaultInjectingSink : public Sink {
 public:
  FaultInjectingSink(LocalStore& real, bool atomic) : real_(real) {
    capabilities_ = real.capabilities();
    capabilities_.atomic_batches = atomic;
  }
  const SinkCapabilities& capabilities() const override { return capabilities_; }
  std::string Describe() const override { return "faulty " + real_.Describe(); }
  asio::awaitable<Result<StoreIdentity>> Identify() override { return real_.Identify(); }
  asio::awaitable<Result<OwnedContents>> ReadOwned() override { return real_.ReadOwned(); }
  asio::awaitable<std::vector<OpOutcome>> Apply(std::span<const SinkOp> ops) override {
    std::vector<OpOutcome> outcomes;
    for (const SinkOp& op : ops) {
      const int n = applies_++;
      if (n == fail_apply_at) {
        outcomes.push_back(OpOutcome::Fatal("store went away"));
        continue;
      }
      if (op.op->object->name == refuse_name) {
        outcomes.push_back(OpOutcome::Refused("userName " + refuse_name + " belongs to another"));
        continue;
      }
      if (op.op->object->name == defer_name) {
        outcomes.push_back(OpOutcome::Retry("HTTP 503"));
        continue;
      }
      auto real = co_await real_.Apply(std::span<const SinkOp>(&op, 1));
      if (real.front().kind == OpOutcome::Kind::kApplied) {
        ++landed;
        if (landed == deadline_after && deadline != nullptr) {
          *deadline = std::chrono::steady_clock::now();
        }
        applied_names.push_back(op.op->object->name);
        seen_refs.push_back(op.object_ref);
        if (op.op->op == OpType::kCreate) real.front().ref = "ref-" + op.op->object->name;
      }
      outcomes.push_back(std::move(real.front()));
    }
    co_return outcomes;
  }
  Status BeginBatch() override { return real_.BeginBatch(); }
  Status CommitBatch() override {
    // What a crash right after this commit would leave for the next run.
    if (!state_path.empty()) {
      auto state = StateDb::Open(state_path, /*read_only=*/true);
      unfinished_at_commit = state.ok() ? *(*state)->UnfinishedRun() : -1;
    }
    if (fail_commit) {
      real_.AbortBatch();
      return Status::Unavailable("disk full");
    }
    return real_.CommitBatch();
  }
  void AbortBatch() override { real_.AbortBatch(); }

  int fail_apply_at = -1;   // fail this operation (0-based) fatally
  std::string refuse_name;  // refuse every operation on the object with this name
  std::string defer_name;   // throttle every operation on it
  bool fail_commit = false;
  int deadline_after = -1;  // move *deadline to now once this many operations landed
  std::atomic<std::chrono::steady_clock::time_point>* deadline = nullptr;
  std::string state_path;  // set: look at the state on disk at the commit
  int64_t unfinished_at_commit = -1;
  int landed = 0;
  std::vector<std::string> applied_names;
  std::vector<std::string> seen_refs;

 private:
  LocalStore& real_;
  SinkCapabilities capabilities_;
  int applies_ = 0;
};

SyncObject User(const std::string& guid, const std::string& name) {
  SyncObject o;
  o.kind = ObjectKind::kUser;
  o.guid = guid;
  o.external_id = "ext-" + guid;
  o.name = name;
  o.attributes = {{"userName", name}, {"active", "true"}};
  return o;
}

class JournaledTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    Reopen();
    ops_ = {{OpType::kCreate, ObjectKind::kUser, MakeObjectRef(User("1", "alice")), {}, nullptr},
            {OpType::kCreate, ObjectKind::kUser, MakeObjectRef(User("2", "bob")), {}, nullptr},
            {OpType::kCreate, ObjectKind::kUser, MakeObjectRef(User("3", "carol")), {}, nullptr}};
    options_.backoff_base = std::chrono::milliseconds(1);
    options_.backoff_cap = std::chrono::milliseconds(2);
    options_.max_attempts = 2;
  }
  bool Atomic() const { return GetParam(); }

  void Reopen() {
    state_.reset();
    store_.reset();
    state_ = std::move(*StateDb::Open(dir_.path() + "/state.db"));
    store_ = std::move(*LocalStore::Open(dir_.path() + "/store.db"));
  }
  Result<ApplyOutcome> Apply(Sink& sink, const std::vector<Operation>& ops,
                             const Watermark* watermark = nullptr) {
    return testing::RunAwaitable(
        ApplyPlan(*state_, sink, ops, NewRun(), workers_, options_, watermark));
  }
  Result<ResumeOutcome> Resume(Sink& sink) {
    return testing::RunAwaitable(ResumeJournal(*state_, sink, options_));
  }
  RunRecord NewRun() { return {*state_->BeginRun("full", 1), "full", 1, 0, "ok", {}, "", ""}; }
  size_t StoreUsers() { return store_->List(ObjectKind::kUser)->size(); }
  size_t CachedObjects() { return state_->LoadObjects()->size(); }
  size_t Journaled(JournalStatus status) {
    int64_t run = 0;
    auto journal = state_->LoadJournal(&run);
    return std::count_if(journal->begin(), journal->end(),
                         [status](const JournalEntry& e) { return e.status == status; });
  }

  testing::TempDir dir_{"syncd-journaled-test"};  // outlives state_ and store_
  std::unique_ptr<StateDb> state_;
  std::unique_ptr<LocalStore> store_;
  std::vector<Operation> ops_;
  ApplyOptions options_;
  asio::thread_pool workers_{2};
};

TEST_P(JournaledTest, AppliesPlanToStoreAndState) {
  FaultInjectingSink sink(*store_, Atomic());
  auto outcome = Apply(sink, ops_);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->applied, 3u);
  EXPECT_EQ(StoreUsers(), 3u);
  EXPECT_EQ(CachedObjects(), 3u);
  EXPECT_EQ(Journaled(JournalStatus::kPending), 0u);
  EXPECT_EQ(state_->RecentRuns(1)->front().outcome, "ok");
}

TEST_P(JournaledTest, RefusedObjectIsQuarantinedAndTheRestApplies) {
  FaultInjectingSink sink(*store_, Atomic());
  sink.refuse_name = "bob";
  auto outcome = Apply(sink, ops_);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  ASSERT_EQ(outcome->failed.size(), 1u);
  EXPECT_EQ(outcome->failed[0].first.object->name, "bob");
  EXPECT_EQ(StoreUsers(), 2u);
  EXPECT_EQ(CachedObjects(), 2u) << "the state must not claim what the store refused";
  EXPECT_EQ(state_->RecentRuns(1)->front().outcome, "partial");
  auto quarantine = state_->LoadQuarantine();
  ASSERT_EQ(quarantine->size(), 1u);
  EXPECT_EQ(quarantine->front().name, "bob");
  EXPECT_EQ(quarantine->front().fingerprint, Fingerprint(*ops_[1].object));
  EXPECT_NE(quarantine->front().reason.find("belongs to another"), std::string::npos);
}

TEST_P(JournaledTest, QuarantinedObjectIsReleasedWhenItLands) {
  FaultInjectingSink refusing(*store_, Atomic());
  refusing.refuse_name = "bob";
  ASSERT_TRUE(Apply(refusing, ops_).ok());
  FaultInjectingSink sink(*store_, Atomic());
  QuarantineView quarantine(*state_->LoadQuarantine());
  auto outcome = testing::RunAwaitable(
      ApplyPlan(*state_, sink, {ops_[1]}, NewRun(), workers_, options_, nullptr, &quarantine));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_TRUE(state_->LoadQuarantine()->empty());
  EXPECT_EQ(StoreUsers(), 3u);
}

TEST_P(JournaledTest, DeferredObjectGoesOnTheRevisitList) {
  FaultInjectingSink sink(*store_, Atomic());
  sink.defer_name = "carol";
  Watermark watermark;
  watermark.feed = "usn";
  auto outcome = Apply(sink, ops_, &watermark);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  ASSERT_EQ(outcome->deferred.size(), 1u);
  EXPECT_NE(outcome->deferred[0].second.find("HTTP 503 (2 tries)"), std::string::npos)
      << outcome->deferred[0].second;
  auto stored = state_->LoadWatermark();
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->revisit, std::vector<std::string>{"3"});
  EXPECT_TRUE(state_->LoadQuarantine()->empty()) << "throttling is not a refusal";
  EXPECT_EQ(CachedObjects(), 2u);
}

TEST_P(JournaledTest, SinkReferencesAreKeptAndHandedToLaterOperations) {
  FaultInjectingSink sink(*store_, Atomic());
  ASSERT_TRUE(Apply(sink, {ops_[0]}).ok());
  auto refs = state_->LoadSinkRefs();
  ASSERT_TRUE(refs.ok());
  EXPECT_EQ(refs->at("1"), "ref-alice");
  Operation update{OpType::kUpdate, ObjectKind::kUser, MakeObjectRef(User("1", "alice")),
                   std::vector<AttributeChange>{{"active", "true", "false"}}, nullptr};
  testing::SetAttribute(&update, "active", "false");
  ASSERT_TRUE(Apply(sink, {update}).ok());
  EXPECT_EQ(sink.seen_refs.back(), "ref-alice");
  ASSERT_TRUE(
      Apply(sink,
            {{OpType::kDelete, ObjectKind::kUser, MakeObjectRef(User("1", "alice")), {}, nullptr}})
          .ok());
  EXPECT_TRUE(state_->LoadSinkRefs()->empty()) << "a deleted object's reference goes with it";
}

// Regression: an account deleted and recreated with the same userName (a new
// objectGUID) was refused, because creates run before deletes.
TEST_P(JournaledTest, NameFreedLaterInTheRunIsReused) {
  FaultInjectingSink sink(*store_, Atomic());
  ASSERT_TRUE(Apply(sink, {ops_[0]}).ok());
  std::vector<Operation> plan = {
      {OpType::kCreate, ObjectKind::kUser, MakeObjectRef(User("9", "alice")), {}, nullptr},
      {OpType::kDelete, ObjectKind::kUser, MakeObjectRef(User("1", "alice")), {}, nullptr}};
  auto outcome = Apply(sink, plan);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_TRUE(outcome->failed.empty()) << outcome->failed.front().second.ToString();
  auto users = store_->List(ObjectKind::kUser);
  ASSERT_EQ(users->size(), 1u);
  EXPECT_EQ(users->front().external_id, "ext-9");
}

INSTANTIATE_TEST_SUITE_P(Stores, JournaledTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Atomic" : "OneAtATime";
                         });

using AtomicJournaledTest = JournaledTest;
using RemoteJournaledTest = JournaledTest;

TEST_F(AtomicJournaledTest, StoreFailureMidBatchLeavesStoreAndStateAsBefore) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  sink.fail_apply_at = 1;
  auto outcome = Apply(sink, ops_);
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.status().message().find("create user bob"), std::string::npos)
      << outcome.status().message();
  EXPECT_EQ(StoreUsers(), 0u);
  EXPECT_EQ(CachedObjects(), 0u);
  EXPECT_EQ(Journaled(JournalStatus::kPending), 0u) << "a rolled-back batch leaves no journal";
  EXPECT_EQ(state_->RecentRuns(1)->front().outcome, "failed");
}

TEST_F(AtomicJournaledTest, FailedCommitLeavesStoreAndStateAsBefore) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  sink.fail_commit = true;
  EXPECT_FALSE(Apply(sink, ops_).ok());
  EXPECT_EQ(StoreUsers(), 0u);
  EXPECT_EQ(CachedObjects(), 0u);
  EXPECT_EQ(Journaled(JournalStatus::kPending), 0u);
  EXPECT_EQ(state_->RecentRuns(1)->front().outcome, "failed");
}

// An atomic batch journals nothing: a crash right after the store's commit
// leaves the run's record unfinished, and the next run reconciles in full.
TEST_F(AtomicJournaledTest, TheRunIsRecordedUnfinishedBeforeTheStoreCommits) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  sink.state_path = dir_.path() + "/state.db";
  auto outcome = Apply(sink, ops_);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(sink.unfinished_at_commit, state_->RecentRuns(1)->front().id);
  EXPECT_EQ(Journaled(JournalStatus::kPending), 0u);
  EXPECT_EQ(StoreUsers(), 3u);
  EXPECT_EQ(*state_->UnfinishedRun(), 0) << "the state's commit finished the run";
}

// Regression: a state that failed to record a committed batch cleared the
// run (then its journal) as if the batch had rolled back, so nothing told
// the next run that the store was ahead of the cache.
TEST_F(AtomicJournaledTest, AStateThatCannotRecordACommittedBatchLeavesTheRunUnfinished) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  // The store takes an object without an objectGUID; the state's cache
  // cannot.
  SyncObject no_guid = User("", "dave");
  no_guid.external_id = "ext-dave";
  ops_.push_back({OpType::kCreate, ObjectKind::kUser, MakeObjectRef(no_guid), {}, nullptr});
  auto outcome = Apply(sink, ops_);
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.status().message().find("the next run reconciles in full"), std::string::npos)
      << outcome.status().ToString();
  EXPECT_EQ(StoreUsers(), 4u) << "the batch committed";
  EXPECT_EQ(CachedObjects(), 0u);
  EXPECT_EQ(*state_->UnfinishedRun(), state_->RecentRuns(1)->front().id);
}

// The journal of an atomic batch, as earlier versions of syncd wrote it,
// left by a crash after the store committed but before the state did: it is
// replayed, the store is unchanged by the replay, and the state catches up.
TEST_F(AtomicJournaledTest, CrashBetweenStoreCommitAndStateCommitResumes) {
  RunRecord run = NewRun();
  ASSERT_TRUE(state_->WriteOutbox(run.id, ops_).ok());
  ASSERT_TRUE(store_->Begin().ok());
  for (const auto& op : ops_) ASSERT_TRUE(store_->Apply(op).ok());
  ASSERT_TRUE(store_->Commit().ok());
  Reopen();  // the process died here
  EXPECT_EQ(Journaled(JournalStatus::kPending), 3u);
  auto resumed = Resume(*store_);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->run_id, run.id);
  EXPECT_EQ(resumed->applied, 3u);
  EXPECT_EQ(StoreUsers(), 3u);
  EXPECT_EQ(CachedObjects(), 3u);
  EXPECT_EQ(Journaled(JournalStatus::kPending), 0u);
  EXPECT_EQ(Resume(*store_)->run_id, 0) << "nothing left to resume";
}

// Such a journal, left by a crash before the store batch committed.
TEST_F(AtomicJournaledTest, CrashBeforeStoreCommitResumes) {
  RunRecord run = NewRun();
  ASSERT_TRUE(state_->WriteOutbox(run.id, ops_).ok());
  ASSERT_TRUE(store_->Begin().ok());
  ASSERT_TRUE(store_->Apply(ops_[0]).ok());
  Reopen();  // died mid-batch: the store's transaction is gone
  EXPECT_EQ(StoreUsers(), 0u);
  ASSERT_TRUE(Resume(*store_).ok());
  EXPECT_EQ(StoreUsers(), 3u);
  EXPECT_EQ(CachedObjects(), 3u);
}

TEST_F(RemoteJournaledTest, AJournalThatCannotBeWrittenLandsNothing) {
  // Another run's journal, which must be resumed first, blocks this one's.
  ASSERT_TRUE(state_->WriteOutbox(999, {ops_[0]}).ok());
  FaultInjectingSink sink(*store_, /*atomic=*/false);
  auto outcome = Apply(sink, ops_);
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.status().message().find("journal of run 999"), std::string::npos)
      << outcome.status().ToString();
  EXPECT_EQ(StoreUsers(), 0u);
  EXPECT_EQ(CachedObjects(), 0u);
  EXPECT_EQ(Journaled(JournalStatus::kPending), 1u) << "run 999's journal is kept";
}

// A store that applies one operation at a time fails after the first: the
// journal records what landed, and the resume sends only the rest.
TEST_F(RemoteJournaledTest, FatalFailureResumesAtTheNextPendingOperation) {
  FaultInjectingSink sink(*store_, /*atomic=*/false);
  sink.fail_apply_at = 1;
  auto outcome = Apply(sink, ops_);
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.status().message().find("the next run resumes"), std::string::npos)
      << outcome.status().message();
  EXPECT_EQ(StoreUsers(), 1u) << "alice landed before the failure";
  EXPECT_EQ(Journaled(JournalStatus::kApplied), 1u);
  EXPECT_EQ(Journaled(JournalStatus::kPending), 2u);
  EXPECT_EQ(CachedObjects(), 0u) << "the cache advances when the run commits";

  FaultInjectingSink healthy(*store_, /*atomic=*/false);
  auto resumed = Resume(healthy);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->pending, 2u);
  EXPECT_EQ(resumed->applied, 2u);
  EXPECT_EQ(healthy.applied_names, (std::vector<std::string>{"bob", "carol"}))
      << "alice is never sent again";
  EXPECT_EQ(StoreUsers(), 3u);
  EXPECT_EQ(CachedObjects(), 3u);
  EXPECT_EQ(state_->LoadSinkRefs()->at("1"), "ref-alice") << "the journal kept alice's reference";
}

// SIGTERM or run_timeout during a slow apply: what landed is committed,
// the rest is deferred to the revisit list, and nothing stays pending.
TEST_F(RemoteJournaledTest, DeadlineCommitsWhatLandedAndDefersTheRest) {
  std::atomic<std::chrono::steady_clock::time_point> deadline{
      std::chrono::steady_clock::time_point::max()};
  options_.deadline = &deadline;
  FaultInjectingSink sink(*store_, /*atomic=*/false);
  sink.deadline = &deadline;
  sink.deadline_after = 1;
  Watermark watermark;
  watermark.feed = "usn";
  auto outcome = Apply(sink, ops_, &watermark);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->applied, 1u);
  EXPECT_EQ(outcome->deferred.size(), 2u);
  EXPECT_EQ(CachedObjects(), 1u);
  EXPECT_EQ(Journaled(JournalStatus::kPending), 0u) << "the run committed";
  EXPECT_EQ((*state_->LoadWatermark())->revisit, (std::vector<std::string>{"2", "3"}));
}

// Creates sent while the read runs (EarlyApply), then the plan, against
// the real local store and state.
SyncObject Group(const std::string& guid, const std::string& name) {
  SyncObject o;
  o.kind = ObjectKind::kGroup;
  o.guid = guid;
  o.external_id = "ext-" + guid;
  o.name = name;
  o.attributes = {{"displayName", name}};
  return o;
}

class EarlyApplyTest : public JournaledTest {
 protected:
  std::unique_ptr<EarlyApply> Begin(Sink& sink, std::vector<std::string> known = {},
                                    EarlyApply::Keep keep = {}) {
    auto early =
        EarlyApply::Begin(*state_, sink, workers_, std::move(known), quarantine_, std::move(keep));
    EXPECT_TRUE(early.ok()) << early.status().ToString();
    return early.ok() ? std::move(*early) : nullptr;
  }
  // What a read that mapped `ops`'s objects does, then its end. Returns
  // `ops` on what the scope keeps of each object (a twin of each created
  // early), as the plan made from that read holds them.
  std::vector<Operation> Read(EarlyApply& early, const std::vector<Operation>& ops) {
    std::vector<Operation> kept = ops;
    for (auto& op : kept) op.object = early.Offer(op.object);
    testing::RunAwaitable(early.Drain());
    return kept;
  }
  // A read of ops_'s users, then of a new group Staff holding
  // ops_[members...] (as the scope reports it: objects, then the group's
  // edges). Sets staff_ and users_ to what the scope keeps of them.
  void ReadWithStaff(EarlyApply& early, const std::vector<size_t>& members) {
    users_ = ops_;
    for (auto& op : users_) op.object = early.Offer(op.object);
    staff_ = early.Offer(MakeObjectRef(Group("g", "Staff")));
    for (size_t m : members) early.OfferMember(staff_, users_[m].object);
    testing::RunAwaitable(early.Drain());
  }
  // The plan of that read: Staff and the users created, `members` added.
  std::vector<Operation> PlanWithStaff(const std::vector<size_t>& members) {
    std::vector<Operation> plan = {{OpType::kCreate, ObjectKind::kGroup, staff_, {}, nullptr}};
    plan.insert(plan.end(), users_.begin(), users_.end());
    for (size_t m : members) {
      plan.push_back({OpType::kAddMember, ObjectKind::kGroup, staff_, {}, users_[m].object});
    }
    return plan;
  }
  // Settles `early` on the plan, as the engine does, then applies it.
  Result<ApplyOutcome> ApplyWith(Sink& sink, std::vector<Operation> ops, const RunRecord& run,
                                 EarlyApply* early) {
    if (early != nullptr) {
      if (Status st = early->Settle(&ops); !st.ok()) return st;
    }
    return testing::RunAwaitable(ApplyPlan(*state_, sink, ops, run, workers_, options_, nullptr,
                                           &quarantine_, nullptr, early));
  }
  // Whether the state caches each of `ops`'s objects with its whole image.
  void ExpectCachedWhole(const std::vector<Operation>& ops) {
    auto cached = state_->LoadObjects();
    ASSERT_TRUE(cached.ok()) << cached.status().ToString();
    for (const auto& op : ops) {
      auto it = std::find_if(cached->begin(), cached->end(),
                             [&](const SyncObject& o) { return o.guid == op.object->guid; });
      ASSERT_NE(it, cached->end()) << op.object->name;
      EXPECT_EQ(Fingerprint(*it), Fingerprint(*op.object)) << op.object->name;
    }
  }
  QuarantineView quarantine_;
  ObjectRef staff_;
  std::vector<Operation> users_;
};

TEST_F(EarlyApplyTest, CreatesSentDuringTheReadLandWithThePlanAndAreNotSentAgain) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  const RunRecord run = NewRun();  // recorded before the store sees anything
  auto early = Begin(sink);
  ASSERT_TRUE(early);
  const std::vector<Operation> plan = Read(*early, ops_);
  EXPECT_EQ(early->created().size(), 3u);
  EXPECT_EQ(sink.landed, 3);
  auto outcome = ApplyWith(sink, plan, run, early.get());
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->applied, 3u);
  EXPECT_EQ(sink.landed, 3) << "the walk sends nothing twice";
  EXPECT_EQ(StoreUsers(), 3u);
  ExpectCachedWhole(ops_);
  EXPECT_EQ(state_->RecentRuns(1)->front().outcome, "ok");
  EXPECT_EQ(*state_->UnfinishedRun(), 0);
}

// The scope keeps a twin of what goes early (the image is dropped once the
// store and the state have it), or what the caller's `keep` returns: the
// image itself, when it keeps it whole.
TEST_F(EarlyApplyTest, TheScopeKeepsATwinOfWhatIsCreatedEarlyUnlessImagesAreKept) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  SyncObject alice = User("1", "alice");
  alice.source.Mutable().dn = "CN=alice,OU=People";
  alice.source.Mutable().sid = "S-1";
  const ObjectRef image = MakeObjectRef(alice);
  {
    auto early = Begin(sink);
    ASSERT_TRUE(early);
    const ObjectRef kept = early->Offer(image);
    ASSERT_NE(kept, image);
    EXPECT_EQ(kept->guid, alice.guid);
    EXPECT_EQ(kept->kind, alice.kind);
    EXPECT_EQ(kept->external_id, alice.external_id);
    EXPECT_EQ(kept->name, alice.name);
    EXPECT_TRUE(kept->source->dn.empty()) << "the scope keeps its own copy while it needs one";
    EXPECT_TRUE(kept->attributes.empty());
    EXPECT_TRUE(kept->source->sid.empty());
    testing::RunAwaitable(early->Drain());
    EXPECT_TRUE(early->Created(kept.get()));
    EXPECT_EQ(image.use_count(), 1U) << "the store and the state have it: nobody else holds it";
    early->Abandon();
  }
  auto early = Begin(sink, {}, [](ObjectRef o) { return o; });
  ASSERT_TRUE(early);
  EXPECT_EQ(early->Offer(image), image);
}

// Regression: Drain (and the destructor) waited for the chunks to be
// staged, not for the sender to return; it still took the queue's lock
// after its last chunk, on an object that could be gone by then (a
// heap-use-after-free that ASan saw in about 1 run in 10). Many short
// lives make the window likely; ASan makes it fail.
TEST_F(EarlyApplyTest, DestroyedRightAfterDrainOutlivesNoSender) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  for (int i = 0; i < 40; ++i) {
    auto early = Begin(sink);
    ASSERT_TRUE(early);
    early->Offer(MakeObjectRef(User(std::to_string(i), "user" + std::to_string(i))));
    testing::RunAwaitable(early->Drain());
    EXPECT_EQ(early->created().size(), 1u);
    early->Abandon();
  }
}

// What only a create can follow: an object neither the store nor the cache
// holds, unless the quarantine holds this very image of it.
TEST(OnlyCreatable, IsWhatNothingHoldsAndTheQuarantineDoesNotHoldThisImageOf) {
  SyncObject known = User("1", "known");
  SyncObject fresh = User("2", "fresh");
  SyncObject refused = User("3", "refused");
  const QuarantineView quarantine({{refused.guid, refused.kind, refused.name, refused.external_id,
                                    "refused", 0, Fingerprint(refused)}});
  const OnlyCreatable only_creatable({known.guid}, quarantine);
  EXPECT_FALSE(only_creatable(known));
  EXPECT_TRUE(only_creatable(fresh));
  EXPECT_FALSE(only_creatable(refused));
  refused.attributes["displayName"] = "changed in AD since";
  EXPECT_TRUE(only_creatable(refused)) << "a changed image is tried again";
}

// The plan holds twins: applying it without settling would send them as
// they are.
TEST_F(EarlyApplyTest, APlanNotSettledIsNotApplied) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  const RunRecord run = NewRun();
  auto early = Begin(sink);
  ASSERT_TRUE(early);
  const std::vector<Operation> plan = Read(*early, ops_);
  auto outcome = testing::RunAwaitable(ApplyPlan(*state_, sink, plan, run, workers_, options_,
                                                 nullptr, &quarantine_, nullptr, early.get()));
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.status().message().find("not settled"), std::string::npos)
      << outcome.status().ToString();
  EXPECT_EQ(StoreUsers(), 0u);
  EXPECT_EQ(CachedObjects(), 0u);
}

// The local store returns no references: the state's stage, begun during
// the read, is committed as it is (the fault-injecting sink returns some,
// which takes the slower path).
TEST_F(EarlyApplyTest, TheRealStoreCommitsTheStageBegunDuringTheRead) {
  const RunRecord run = NewRun();
  auto early = Begin(*store_);
  ASSERT_TRUE(early);
  const std::vector<Operation> plan = Read(*early, ops_);
  EXPECT_FALSE(early->ReturnedRefs());
  auto outcome = ApplyWith(*store_, plan, run, early.get());
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->applied, 3u);
  EXPECT_EQ(StoreUsers(), 3u);
  EXPECT_EQ(CachedObjects(), 3u);
  EXPECT_EQ(state_->RecentRuns(1)->front().outcome, "ok");
}

TEST_F(EarlyApplyTest, ObjectsTheStoreOrTheCacheHoldAreLeftToThePlan) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  const RunRecord run = NewRun();
  auto early = Begin(sink, {"2"});  // bob is known: the plan decides
  ASSERT_TRUE(early);
  const std::vector<Operation> plan = Read(*early, ops_);
  EXPECT_EQ(early->created().size(), 2u);
  EXPECT_EQ(plan[1].object, ops_[1].object) << "the scope keeps bob whole";
  EXPECT_FALSE(early->Created(ops_[1].object.get()));
  ASSERT_TRUE(ApplyWith(sink, plan, run, early.get()).ok());
  EXPECT_EQ(sink.landed, 3);
  EXPECT_EQ(StoreUsers(), 3u);
}

TEST_F(EarlyApplyTest, AQuarantinedImageIsNotSentEarly) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  quarantine_ =
      QuarantineView({{"2", ObjectKind::kUser, "bob", "ext-2", "userName bob belongs to another", 1,
                       Fingerprint(*ops_[1].object)}});
  auto early = Begin(sink);
  ASSERT_TRUE(early);
  const std::vector<Operation> plan = Read(*early, ops_);
  EXPECT_EQ(early->created().size(), 2u);
  EXPECT_EQ(plan[1].object, ops_[1].object) << "the scope keeps bob whole";
  EXPECT_FALSE(early->Created(ops_[1].object.get()));
}

// The plan is the judge: an object sent early that it does not create
// (never seen in practice; the check keeps it so) undoes everything sent
// early, and the plan is applied from the start, with the images the state's
// stage gave back for the twins the scope kept.
TEST_F(EarlyApplyTest, APlanThatDoesNotCreateAnObjectSentEarlyStartsOver) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  const RunRecord run = NewRun();
  auto early = Begin(sink);
  ASSERT_TRUE(early);
  std::vector<Operation> offered = ops_;
  offered.push_back(
      {OpType::kCreate, ObjectKind::kUser, MakeObjectRef(User("4", "dave")), {}, nullptr});
  std::vector<Operation> plan = Read(*early, offered);
  plan.pop_back();
  auto outcome = ApplyWith(sink, plan, run, early.get());
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(StoreUsers(), 3u) << "dave, sent early, is not in the store";
  EXPECT_EQ(CachedObjects(), 3u);
  ExpectCachedWhole(ops_);
  EXPECT_EQ(sink.landed, 4 + 3);
}

TEST_F(EarlyApplyTest, AFatalAnswerDuringTheReadStartsOver) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  sink.fail_apply_at = 1;  // bob's early create; the walk's later try goes through
  const RunRecord run = NewRun();
  auto early = Begin(sink);
  ASSERT_TRUE(early);
  const std::vector<Operation> plan = Read(*early, ops_);
  EXPECT_NE(early->failure().find("store went away"), std::string::npos) << early->failure();
  auto outcome = ApplyWith(sink, plan, run, early.get());
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(StoreUsers(), 3u);
  ExpectCachedWhole(ops_);
}

TEST_F(EarlyApplyTest, ARefusedEarlyCreateIsTriedAgainByThePlanAndQuarantined) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  sink.refuse_name = "bob";
  const RunRecord run = NewRun();
  auto early = Begin(sink);
  ASSERT_TRUE(early);
  const std::vector<Operation> plan = Read(*early, ops_);
  EXPECT_EQ(early->created().size(), 2u);
  auto outcome = ApplyWith(sink, plan, run, early.get());
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  ASSERT_EQ(outcome->failed.size(), 1u);
  EXPECT_EQ(outcome->failed.front().first.object->name, "bob");
  EXPECT_EQ(StoreUsers(), 2u);
  EXPECT_EQ(CachedObjects(), 2u);
  // Tried again whole: the quarantine holds the image's fingerprint, not a twin's.
  auto quarantined = state_->LoadQuarantine();
  ASSERT_EQ(quarantined->size(), 1u);
  EXPECT_EQ(quarantined->front().fingerprint, Fingerprint(*ops_[1].object));
}

// A group read after its members, all of them new: its memberships go into
// the batch during the read too, once each, in one request.
TEST_F(EarlyApplyTest, MembershipsAmongObjectsCreatedEarlyGoEarlyToo) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  const RunRecord run = NewRun();
  auto early = Begin(sink);
  ASSERT_TRUE(early);
  ReadWithStaff(*early, {0, 1, 1});  // bob listed twice
  EXPECT_EQ(early->created().size(), 4u);
  EXPECT_EQ(early->added().size(), 2u);
  const std::vector<Operation> plan = PlanWithStaff({0, 1});
  EXPECT_EQ(early->requests(), 4 + 1) << "a create each, Staff's adds together";
  const int landed_early = sink.landed;
  auto outcome = ApplyWith(sink, plan, run, early.get());
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(sink.landed, landed_early) << "the walk sends nothing twice";
  EXPECT_EQ(outcome->requests, 4 + 1);
  EXPECT_EQ(store_->Members("Staff", false)->size(), 2u);
  EXPECT_EQ(state_->LoadMemberships()->size(), 2u);
  EXPECT_EQ(CachedObjects(), 4u);
  // The references the creates returned name the group in its adds, and
  // are kept (regression: those of early creates were dropped).
  ASSERT_EQ(sink.seen_refs.size(), 4u + 3u) << "four creates, then Staff's adds as offered";
  for (size_t i = 4; i < sink.seen_refs.size(); ++i) EXPECT_EQ(sink.seen_refs[i], "ref-Staff");
  auto kept = state_->LoadSinkRefs();
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->size(), 4u);
  EXPECT_EQ(kept->at("g"), "ref-Staff");
}

TEST_F(EarlyApplyTest, APlanWithoutAMembershipSentEarlyStartsOver) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  const RunRecord run = NewRun();
  auto early = Begin(sink);
  ASSERT_TRUE(early);
  ReadWithStaff(*early, {0});
  auto outcome = ApplyWith(sink, PlanWithStaff({}), run, early.get());
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_TRUE(store_->Members("Staff", false)->empty());
  EXPECT_TRUE(state_->LoadMemberships()->empty());
  EXPECT_EQ(CachedObjects(), 4u);
}

// An edge to an object the store or the cache holds may already be there:
// only the plan knows.
TEST_F(EarlyApplyTest, AMembershipOfAKnownObjectIsLeftToThePlan) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  auto early = Begin(sink, {"2"});
  ASSERT_TRUE(early);
  ReadWithStaff(*early, {0, 1});
  EXPECT_EQ(early->added().size(), 1u);
  EXPECT_TRUE(early->Added(staff_.get(), users_[0].object.get()));
}

// Regression: a plan with no operation at all (a reconciliation that found
// nothing to do) took the open stage for a second one and failed the run.
TEST_F(EarlyApplyTest, AnEmptyPlanContinuesTheOpenBatchAndStage) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  const RunRecord run = NewRun();
  auto early = Begin(sink, {"1", "2", "3"});
  ASSERT_TRUE(early);
  (void)Read(*early, ops_);
  auto outcome = ApplyWith(sink, {}, run, early.get());
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(state_->RecentRuns(1)->front().outcome, "ok");
}

// A read that fails after creates were sent: nothing of them lands, and
// the state takes a new stage.
TEST_F(EarlyApplyTest, CreatesOfAnAbandonedReadLandNowhere) {
  FaultInjectingSink sink(*store_, /*atomic=*/true);
  {
    auto early = Begin(sink);
    ASSERT_TRUE(early);
    // More than a chunk: some are in flight when the read gives up.
    for (int i = 0; i < 1200; ++i)
      early->Offer(MakeObjectRef(User("x" + std::to_string(i), "u" + std::to_string(i))));
    // Destroyed undrained, as a failed read leaves it.
  }
  EXPECT_EQ(StoreUsers(), 0u);
  EXPECT_EQ(CachedObjects(), 0u);
  auto outcome = Apply(sink, ops_);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(StoreUsers(), 3u);
}

TEST(HoldQuarantined, UnchangedObjectWaitsWithItsMembershipsAndAChangedOneGoes) {
  SyncObject bob = User("2", "bob");
  SyncObject staff;
  staff.kind = ObjectKind::kGroup;
  staff.guid = "9";
  staff.name = "staff";
  QuarantineEntry entry;
  entry.guid = bob.guid;
  entry.name = "bob";
  entry.reason = "lacks givenName";
  entry.fingerprint = Fingerprint(bob);
  QuarantineView quarantine({entry});
  Plan plan;
  plan.operations = {
      {OpType::kCreate, ObjectKind::kUser, MakeObjectRef(bob), {}, nullptr},
      {OpType::kCreate, ObjectKind::kUser, MakeObjectRef(User("1", "alice")), {}, nullptr},
      {OpType::kAddMember, ObjectKind::kGroup, MakeObjectRef(staff), {}, MakeObjectRef(bob)}};
  Plan unchanged = plan;
  HoldQuarantined(quarantine, &unchanged);
  ASSERT_EQ(unchanged.operations.size(), 1u);
  EXPECT_EQ(unchanged.operations[0].object->name, "alice");
  ASSERT_EQ(unchanged.quarantined.size(), 2u);
  EXPECT_EQ(unchanged.quarantined[0].reason, "quarantined: lacks givenName");
  EXPECT_EQ(unchanged.quarantined[1].reason, "waits for bob, which is quarantined");

  // AD gave bob what was missing: he is sent again, memberships and all.
  testing::SetAttribute(&plan.operations[0], "givenName", "Bob");
  HoldQuarantined(quarantine, &plan);
  EXPECT_EQ(plan.operations.size(), 3u);
  EXPECT_TRUE(plan.quarantined.empty());
}

}  // namespace
}  // namespace syncd
