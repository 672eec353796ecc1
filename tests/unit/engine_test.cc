// The apply path against the real state and local store, with faults
// injected through a store built on the real interface.
#include "syncd/engine.h"

#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/unit/test_util.h"

namespace syncd {
namespace {

// Forwards to a real store; fails the Nth Apply (0-based) or Commit on demand.
class FaultInjectingStore : public IdentityStore {
 public:
  explicit FaultInjectingStore(IdentityStore& real) : real_(real) {}
  Status Begin() override { return real_.Begin(); }
  Status Apply(const Operation& op) override {
    if (applies_++ == fail_apply_at) return fail_with;
    if (op.object.name == refuse_name) return fail_with;
    return real_.Apply(op);
  }
  Status Commit() override {
    if (fail_commit) {
      real_.Rollback();
      return Status::Unavailable("disk full");
    }
    return real_.Commit();
  }
  void Rollback() override { real_.Rollback(); }
  Result<StoreIdentity> Identify() override { return real_.Identify(); }
  Result<OwnedContents> ReadOwned() override { return real_.ReadOwned(); }

  int fail_apply_at = -1;   // fail this Apply call (0-based), once
  std::string refuse_name;  // fail every Apply on the object with this name
  Status fail_with = Status::Unavailable("store went away");
  bool fail_commit = false;

 private:
  IdentityStore& real_;
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

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    Reopen();
    ops_ = {{OpType::kCreate, ObjectKind::kUser, User("1", "alice"), {}, {}},
            {OpType::kCreate, ObjectKind::kUser, User("2", "bob"), {}, {}},
            {OpType::kCreate, ObjectKind::kUser, User("3", "carol"), {}, {}}};
  }

  void Reopen() {
    state_.reset();
    store_.reset();
    state_ = std::move(*StateDb::Open(dir_.path() + "/state.db"));
    store_ = std::move(*LocalStore::Open(dir_.path() + "/store.db"));
  }
  // ApplyPlan on a private loop, with the fixture's workers.
  Result<ApplyOutcome> Apply(StateDb& state, IdentityStore& store,
                             const std::vector<Operation>& ops) {
    return testing::RunAwaitable(ApplyPlan(state, store, ops, NewRun(), workers_));
  }
  RunRecord NewRun() { return {*state_->BeginRun("full", 1), "full", 1, 0, "ok", {}, "", ""}; }
  size_t StoreUsers() { return store_->List(ObjectKind::kUser)->size(); }
  size_t CachedObjects() { return state_->LoadObjects()->size(); }
  size_t Pending() {
    int64_t run = 0;
    auto journal = state_->LoadJournal(&run);
    return std::count_if(journal->begin(), journal->end(),
                         [](const JournalEntry& e) { return e.status == JournalStatus::kPending; });
  }

  testing::TempDir dir_{"syncd-engine-test"};  // outlives state_ and store_
  std::unique_ptr<StateDb> state_;
  std::unique_ptr<LocalStore> store_;
  std::vector<Operation> ops_;
  boost::asio::thread_pool workers_{2};
};

TEST_F(EngineTest, AppliesPlanToStoreAndState) {
  auto outcome = Apply(*state_, *store_, ops_);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->applied, 3u);
  EXPECT_EQ(StoreUsers(), 3u);
  EXPECT_EQ(CachedObjects(), 3u);
  EXPECT_EQ(Pending(), 0u);
  EXPECT_EQ(state_->RecentRuns(1)->front().outcome, "ok");
}

TEST_F(EngineTest, StoreFailureMidBatchLeavesStoreAndStateAsBefore) {
  FaultInjectingStore faulty(*store_);
  faulty.fail_apply_at = 1;
  auto outcome = Apply(*state_, faulty, ops_);
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.status().message().find("create user bob"), std::string::npos)
      << outcome.status().message();
  EXPECT_EQ(StoreUsers(), 0u);
  EXPECT_EQ(CachedObjects(), 0u);
  EXPECT_EQ(Pending(), 0u) << "a rolled-back batch leaves no journal to replay";
  EXPECT_EQ(state_->RecentRuns(1)->front().outcome, "failed");
}

TEST_F(EngineTest, FailedCommitLeavesStoreAndStateAsBefore) {
  FaultInjectingStore faulty(*store_);
  faulty.fail_commit = true;
  EXPECT_FALSE(Apply(*state_, faulty, ops_).ok());
  EXPECT_EQ(StoreUsers(), 0u);
  EXPECT_EQ(CachedObjects(), 0u);
  EXPECT_EQ(Pending(), 0u) << "a batch that never committed leaves no journal to replay";
  EXPECT_EQ(state_->RecentRuns(1)->front().outcome, "failed");
}

TEST_F(EngineTest, RefusedObjectIsSkippedAndTheRestApplies) {
  FaultInjectingStore faulty(*store_);
  faulty.refuse_name = "bob";
  faulty.fail_with = Status::Conflict("userName bob belongs to an object syncd did not create");
  auto outcome = Apply(*state_, faulty, ops_);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  ASSERT_EQ(outcome->failed.size(), 1u);
  EXPECT_EQ(outcome->failed[0].first.object.name, "bob");
  EXPECT_EQ(StoreUsers(), 2u);
  EXPECT_EQ(CachedObjects(), 2u) << "the state must not claim what the store refused";
  EXPECT_EQ(state_->RecentRuns(1)->front().outcome, "partial");
}

// Regression: an account deleted and recreated with the same userName (a new
// objectGUID) was refused, because creates run before deletes.
TEST_F(EngineTest, NameFreedLaterInTheBatchIsReused) {
  ASSERT_TRUE(Apply(*state_, *store_, {ops_[0]}).ok());
  SyncObject successor = User("9", "alice");
  std::vector<Operation> plan = {{OpType::kCreate, ObjectKind::kUser, successor, {}, {}},
                                 {OpType::kDelete, ObjectKind::kUser, User("1", "alice"), {}, {}}};
  auto outcome = Apply(*state_, *store_, plan);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_TRUE(outcome->failed.empty()) << outcome->failed.front().second.ToString();
  auto users = store_->List(ObjectKind::kUser);
  ASSERT_EQ(users->size(), 1u);
  EXPECT_EQ(users->front().external_id, "ext-9");
}

// A crash after the store committed but before the state did: the journal
// is replayed, the store is unchanged by the replay, and the state catches up.
TEST_F(EngineTest, CrashBetweenStoreCommitAndStateCommitResumes) {
  RunRecord run = NewRun();
  ASSERT_TRUE(state_->WriteOutbox(run.id, ops_).ok());
  ASSERT_TRUE(ApplyBatch(*store_, ops_).ok());
  Reopen();  // the process died here
  EXPECT_EQ(Pending(), 3u);
  auto resumed = ResumeOutbox(*state_, *store_);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(*resumed, 3);
  EXPECT_EQ(StoreUsers(), 3u);
  EXPECT_EQ(CachedObjects(), 3u);
  EXPECT_EQ(Pending(), 0u);
  EXPECT_EQ(*ResumeOutbox(*state_, *store_), 0) << "nothing left to resume";
}

// A crash after journaling, before the store batch committed.
TEST_F(EngineTest, CrashBeforeStoreCommitResumes) {
  RunRecord run = NewRun();
  ASSERT_TRUE(state_->WriteOutbox(run.id, ops_).ok());
  ASSERT_TRUE(store_->Begin().ok());
  ASSERT_TRUE(store_->Apply(ops_[0]).ok());
  Reopen();  // died mid-batch: the store's transaction is gone
  EXPECT_EQ(StoreUsers(), 0u);
  ASSERT_TRUE(ResumeOutbox(*state_, *store_).ok());
  EXPECT_EQ(StoreUsers(), 3u);
  EXPECT_EQ(CachedObjects(), 3u);
}

}  // namespace
}  // namespace syncd
