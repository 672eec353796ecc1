// The apply module against a fake sink built on the real port: what it
// sends, in which order, how often and when.
#include "apply/apply.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "apply/pacing.h"
#include "tests/unit/test_util.h"

namespace syncd {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// What a test wants from one operation, by its description: outcomes in
// the order of the tries (the last one repeats).
struct Script {
  std::vector<OpOutcome> outcomes;
};

// A store in memory with scripted outcomes and a log of every request.
class FakeSink : public Sink {
 public:
  struct Request {
    std::vector<std::string> ops;  // descriptions
    Clock::time_point started;
    Clock::time_point finished;
  };

  explicit FakeSink(SinkCapabilities capabilities) : capabilities_(capabilities) {}

  const SinkCapabilities& capabilities() const override { return capabilities_; }
  std::string Describe() const override { return "fake store"; }
  asio::awaitable<Result<StoreIdentity>> Identify() override {
    co_return StoreIdentity{"fake", true};
  }
  asio::awaitable<Result<OwnedContents>> ReadOwned() override { co_return OwnedContents{}; }

  asio::awaitable<std::vector<OpOutcome>> Apply(std::span<const SinkOp> ops) override {
    Request request;
    request.started = Clock::now();
    for (const SinkOp& op : ops) request.ops.push_back(Name(*op.op));
    ++in_flight_;
    max_in_flight_seen = std::max(max_in_flight_seen, in_flight_);
    if (latency > 0ms) {
      asio::steady_timer timer(co_await asio::this_coro::executor, latency);
      co_await timer.async_wait(asio::use_awaitable);
    }
    --in_flight_;
    std::vector<OpOutcome> outcomes;
    for (const SinkOp& op : ops) {
      const std::string name = Name(*op.op);
      int& tries = tries_[name];
      auto script = scripts.find(name);
      if (script == scripts.end() || script->second.outcomes.empty()) {
        outcomes.push_back(
            OpOutcome::Applied(op.op->op == OpType::kCreate ? "ref-" + op.op->object->name : ""));
      } else {
        const auto& list = script->second.outcomes;
        outcomes.push_back(list[std::min<size_t>(tries, list.size() - 1)]);
      }
      ++tries;
      if (op.op->op != OpType::kCreate && op.op->op != OpType::kDelete) {
        refs_seen[name] = {op.object_ref, op.member_ref};
      }
    }
    request.finished = Clock::now();
    requests.push_back(request);
    co_return outcomes;
  }

  Status BeginBatch() override { return Status::Ok(); }
  Status CommitBatch() override {
    ++commits;
    return fail_commit ? Status::Unavailable("disk full") : Status::Ok();
  }
  void AbortBatch() override { aborted = true; }

  static std::string Name(const Operation& op) {
    return std::string(OpName(op.op)) + " " + op.object->name +
           (op.member ? " " + op.member->name : "");
  }

  // The first request carrying `name`.
  const Request* Find(const std::string& name) const {
    for (const auto& r : requests) {
      if (std::find(r.ops.begin(), r.ops.end(), name) != r.ops.end()) return &r;
    }
    return nullptr;
  }

  std::map<std::string, Script> scripts;
  std::chrono::milliseconds latency{0};
  std::vector<Request> requests;
  std::map<std::string, std::pair<std::string, std::string>> refs_seen;
  int max_in_flight_seen = 0;
  bool fail_commit = false;
  int commits = 0;
  bool aborted = false;

 private:
  SinkCapabilities capabilities_;
  std::map<std::string, int> tries_;
  int in_flight_ = 0;
};

SyncObject Object(ObjectKind kind, const std::string& name) {
  SyncObject o;
  o.kind = kind;
  o.guid = "guid-" + name;
  o.external_id = "ext-" + name;
  o.name = name;
  return o;
}

Operation Create(ObjectKind kind, const std::string& name) {
  return {OpType::kCreate, kind, MakeObjectRef(Object(kind, name)), {}, nullptr};
}
Operation Delete(ObjectKind kind, const std::string& name) {
  return {OpType::kDelete, kind, MakeObjectRef(Object(kind, name)), {}, nullptr};
}
Operation Member(OpType type, const std::string& group, const std::string& user) {
  return {type,
          ObjectKind::kGroup,
          MakeObjectRef(Object(ObjectKind::kGroup, group)),
          {},
          MakeObjectRef(Object(ObjectKind::kUser, user))};
}

SinkCapabilities Remote(size_t members_per_request = 100) {
  SinkCapabilities c;
  c.members_per_request = members_per_request;
  c.max_in_flight = 4;
  return c;
}

class ApplyTest : public ::testing::Test {
 protected:
  ApplyReport Run(FakeSink& sink, const std::vector<Operation>& ops) {
    items_.clear();
    for (size_t i = 0; i < ops.size(); ++i) items_.push_back({static_cast<int64_t>(i), &ops[i]});
    RecordResults record = [this](std::span<const ItemResult> results) {
      ++record_calls;
      std::this_thread::sleep_for(record_delay);
      if (fail_record) return Status::Unavailable("state went away");
      recorded.insert(recorded.end(), results.begin(), results.end());
      return Status::Ok();
    };
    return testing::RunAwaitable(ApplyItems(sink, items_, refs, options, record));
  }

  std::map<int64_t, ItemResult> BySeq() const {
    std::map<int64_t, ItemResult> out;
    for (const auto& r : recorded) out[r.seq] = r;
    return out;
  }

  ApplyOptions options = [] {
    ApplyOptions o;
    o.backoff_base = 20ms;
    o.backoff_cap = 100ms;
    o.random = [] { return 0.5; };
    return o;
  }();
  SinkRefs refs;
  std::vector<ItemResult> recorded;
  int record_calls = 0;
  bool fail_record = false;
  std::chrono::milliseconds record_delay{0};  // a slow durable write, on the walk's thread

 private:
  std::vector<ApplyItem> items_;
};

TEST_F(ApplyTest, MembershipsWaitForBothCreatesAndTheGroupDeleteWaitsForRemovals) {
  FakeSink sink(Remote());
  sink.latency = 5ms;
  options.max_in_flight = 4;
  const std::vector<Operation> ops = {
      Create(ObjectKind::kUser, "alice"),  Create(ObjectKind::kUser, "bob"),
      Create(ObjectKind::kGroup, "staff"), Member(OpType::kAddMember, "staff", "alice"),
      Create(ObjectKind::kUser, "carol"),  Member(OpType::kRemoveMember, "old", "dave"),
      Delete(ObjectKind::kGroup, "old"),   Delete(ObjectKind::kUser, "dave")};
  ApplyReport report = Run(sink, ops);
  ASSERT_FALSE(report.fatal) << report.fatal->message();
  EXPECT_EQ(recorded.size(), ops.size());
  EXPECT_GT(sink.max_in_flight_seen, 1) << "independent creates go side by side";
  auto* add = sink.Find("add-member staff alice");
  ASSERT_NE(add, nullptr);
  EXPECT_GE(add->started, sink.Find("create staff")->finished);
  EXPECT_GE(add->started, sink.Find("create alice")->finished);
  auto* remove = sink.Find("remove-member old dave");
  EXPECT_GE(sink.Find("delete old")->started, remove->finished);
  EXPECT_GE(sink.Find("delete dave")->started, remove->finished);
  // The references creates returned reach the memberships.
  EXPECT_EQ(sink.refs_seen["add-member staff alice"],
            (std::pair<std::string, std::string>{"ref-staff", "ref-alice"}));
  EXPECT_EQ(refs.at("guid-alice"), "ref-alice");
}

TEST_F(ApplyTest, MembershipsOfOneGroupTravelInChunksOfTheSinksLimit) {
  FakeSink sink(Remote(100));
  options.max_in_flight = 4;
  std::vector<Operation> ops;
  ops.reserve(251);
  for (int i = 0; i < 250; ++i)
    ops.push_back(Member(OpType::kAddMember, "big", "u" + std::to_string(i)));
  ops.push_back(Member(OpType::kRemoveMember, "big", "gone"));
  ApplyReport report = Run(sink, ops);
  ASSERT_FALSE(report.fatal);
  ASSERT_EQ(sink.requests.size(), 4u);
  EXPECT_EQ(sink.requests[0].ops.size(), 100u);
  EXPECT_EQ(sink.requests[1].ops.size(), 100u);
  EXPECT_EQ(sink.requests[2].ops.size(), 50u);
  EXPECT_EQ(sink.requests[3].ops, std::vector<std::string>{"remove-member big gone"});
  // One group's requests go one after the other.
  for (size_t i = 1; i < sink.requests.size(); ++i) {
    EXPECT_GE(sink.requests[i].started, sink.requests[i - 1].finished);
  }
}

TEST_F(ApplyTest, RetryAfterIsHonouredAndCounted) {
  FakeSink sink(Remote());
  sink.scripts["create alice"] = {{OpOutcome::Retry("HTTP 429", 150ms), OpOutcome::Applied("r")}};
  ApplyReport report =
      Run(sink, {Create(ObjectKind::kUser, "alice"), Create(ObjectKind::kUser, "bob")});
  ASSERT_FALSE(report.fatal);
  EXPECT_EQ(report.throttled, 1);
  EXPECT_EQ(report.retries, 1);
  ASSERT_EQ(sink.requests.size(), 3u);
  // The second try of alice, and bob after it, wait for the store's word.
  EXPECT_GE(sink.requests[1].started - sink.requests[0].finished, 150ms);
  EXPECT_EQ(BySeq()[0].status, ItemStatus::kApplied);
  EXPECT_EQ(BySeq()[0].detail, "r");
}

// Recording a result (the journal's fsync) blocks the walk's thread; a
// token that falls due meanwhile must not be lost, or the store gets less
// than the rate (a first sync into SCIM at 25/s ran at 19/s).
TEST_F(ApplyTest, SlowRecordingDoesNotLowerTheRate) {
  FakeSink sink(Remote());
  sink.latency = 15ms;
  record_delay = 15ms;
  options.max_in_flight = 4;
  options.rate_limit = 50;  // a token every 20 ms
  std::vector<Operation> ops;
  ops.reserve(40);
  for (int i = 0; i < 40; ++i) ops.push_back(Create(ObjectKind::kUser, "u" + std::to_string(i)));
  const auto started = Clock::now();
  ApplyReport report = Run(sink, ops);
  const auto took = Clock::now() - started;
  ASSERT_FALSE(report.fatal);
  ASSERT_EQ(sink.requests.size(), 40u);
  // At the rate: 0.8 s less the burst (0.6 s); 0.85-0.95 s here with the
  // thread blocked 0.6 s in all. Losing the tokens that fall due while it is
  // blocked (a burst of one): 1.3-1.5 s.
  EXPECT_LT(took, 1100ms);
  // Still paced: no more than the burst (a fifth of a second's worth) at once.
  EXPECT_GE(sink.requests.back().started - sink.requests.front().started, 580ms);
}

TEST_F(ApplyTest, RetriesBackOffThenDeferAfterMaxAttempts) {
  FakeSink sink(Remote());
  options.max_attempts = 3;
  sink.scripts["create alice"] = {{OpOutcome::Retry("HTTP 503")}};
  ApplyReport report =
      Run(sink, {Create(ObjectKind::kUser, "alice"), Member(OpType::kAddMember, "staff", "alice")});
  ASSERT_FALSE(report.fatal);
  ASSERT_EQ(sink.Find("add-member staff alice"), nullptr) << "never sent without its member";
  ASSERT_EQ(sink.requests.size(), 3u);
  // Backoff doubles: 20 ms * (0.5 + 0.25) = 15 ms, then 30 ms.
  EXPECT_GE(sink.requests[1].started - sink.requests[0].finished, 15ms);
  EXPECT_GE(sink.requests[2].started - sink.requests[1].finished, 30ms);
  auto results = BySeq();
  EXPECT_EQ(results[0].status, ItemStatus::kDeferred);
  EXPECT_NE(results[0].detail.find("HTTP 503 (3 tries)"), std::string::npos) << results[0].detail;
  EXPECT_EQ(results[1].status, ItemStatus::kDeferred);
  EXPECT_NE(results[1].detail.find("waits for create user alice"), std::string::npos)
      << results[1].detail;
}

TEST_F(ApplyTest, RefusedObjectIsReportedAndTheRestApplies) {
  FakeSink sink(Remote());
  options.max_in_flight = 2;
  sink.scripts["create alice"] = {{OpOutcome::Refused("lacks givenName")}};
  ApplyReport report =
      Run(sink, {Create(ObjectKind::kUser, "alice"), Create(ObjectKind::kUser, "bob"),
                 Member(OpType::kAddMember, "staff", "alice"),
                 Member(OpType::kAddMember, "staff", "bob")});
  ASSERT_FALSE(report.fatal);
  auto results = BySeq();
  EXPECT_EQ(results[0].status, ItemStatus::kRefused);
  EXPECT_EQ(results[0].detail, "create user alice: lacks givenName");
  EXPECT_EQ(results[1].status, ItemStatus::kApplied);
  EXPECT_EQ(results[2].status, ItemStatus::kDeferred) << "not refused: the group is fine";
  EXPECT_EQ(results[3].status, ItemStatus::kApplied);
}

TEST_F(ApplyTest, RefusedCreateGetsASecondTryAfterTheRestAndTakesItsMembershipsAlong) {
  FakeSink sink(Remote());
  // The name is taken until the end of the run frees it.
  sink.scripts["create alice"] = {{OpOutcome::Refused("userName taken"), OpOutcome::Applied("a")}};
  ApplyReport report =
      Run(sink, {Create(ObjectKind::kUser, "alice"), Member(OpType::kAddMember, "staff", "alice"),
                 Delete(ObjectKind::kUser, "old-alice")});
  ASSERT_FALSE(report.fatal);
  auto results = BySeq();
  EXPECT_EQ(results[0].status, ItemStatus::kApplied);
  EXPECT_EQ(results[1].status, ItemStatus::kApplied);
  EXPECT_EQ(sink.requests.back().ops, std::vector<std::string>{"add-member staff alice"});
}

TEST_F(ApplyTest, FatalOutcomeStopsTheRunAndLeavesTheRestPending) {
  FakeSink sink(Remote());
  sink.scripts["create bob"] = {{OpOutcome::Fatal("HTTP 401: the token was refused")}};
  ApplyReport report =
      Run(sink, {Create(ObjectKind::kUser, "alice"), Create(ObjectKind::kUser, "bob"),
                 Create(ObjectKind::kUser, "carol")});
  ASSERT_TRUE(report.fatal);
  EXPECT_NE(report.fatal->message().find("HTTP 401"), std::string::npos);
  auto results = BySeq();
  EXPECT_EQ(results.size(), 1u) << "only alice landed; bob and carol stay pending";
  EXPECT_EQ(sink.Find("create carol"), nullptr);
}

// SIGTERM in the daemon: the deadline moves to now from another thread.
TEST_F(ApplyTest, DeadlineMovedEarlierDefersTheRestAfterTheRequestInFlight) {
  FakeSink sink(Remote());
  sink.latency = 50ms;
  std::atomic<Clock::time_point> deadline{Clock::time_point::max()};
  options.deadline = &deadline;
  options.rate_limit = 10;  // one every 100 ms
  std::vector<Operation> ops;
  ops.reserve(20);
  for (int i = 0; i < 20; ++i) ops.push_back(Create(ObjectKind::kUser, "u" + std::to_string(i)));
  std::thread stopper([&deadline] {
    std::this_thread::sleep_for(250ms);
    deadline = Clock::now();
  });
  const auto started = Clock::now();
  ApplyReport report = Run(sink, ops);
  stopper.join();
  EXPECT_FALSE(report.stopped);
  EXPECT_FALSE(report.fatal);
  EXPECT_LT(Clock::now() - started, 1s);
  EXPECT_GE(sink.requests.size(), 2u);
  EXPECT_LT(sink.requests.size(), 6u);
  // Every operation has a result: what was sent applied, the rest deferred.
  auto results = BySeq();
  ASSERT_EQ(results.size(), ops.size());
  size_t applied = 0;
  for (const auto& [seq, r] : results) {
    if (r.status == ItemStatus::kApplied) {
      ++applied;
    } else {
      EXPECT_EQ(r.status, ItemStatus::kDeferred);
      EXPECT_NE(r.detail.find("time ran out"), std::string::npos) << r.detail;
    }
  }
  EXPECT_EQ(applied, sink.requests.size());
}

TEST_F(ApplyTest, CancellationReturnsPromptlyWithRequestsInFlight) {
  FakeSink sink(Remote());
  sink.latency = 10s;
  options.max_in_flight = 3;
  std::vector<Operation> ops;
  ops.reserve(5);
  for (int i = 0; i < 5; ++i) ops.push_back(Create(ObjectKind::kUser, "u" + std::to_string(i)));
  std::vector<ApplyItem> items;
  items.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) items.push_back({static_cast<int64_t>(i), &ops[i]});
  RecordResults record = [this](std::span<const ItemResult> r) {
    recorded.insert(recorded.end(), r.begin(), r.end());
    return Status::Ok();
  };
  asio::io_context loop;
  using asio::experimental::awaitable_operators::operator||;
  auto deadline = []() -> asio::awaitable<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 100ms);
    co_await timer.async_wait(asio::use_awaitable);
  };
  const auto started = Clock::now();
  auto future = asio::co_spawn(loop, ApplyItems(sink, items, refs, options, record) || deadline(),
                               asio::use_future);
  loop.run();
  auto outcome = future.get();
  EXPECT_EQ(outcome.index(), 1u);
  EXPECT_LT(Clock::now() - started, 2s);
  EXPECT_TRUE(recorded.empty()) << "nothing landed";
}

TEST_F(ApplyTest, AtomicSinkRecordsOnceAfterCommit) {
  SinkCapabilities atomic;
  atomic.atomic_batches = true;
  FakeSink sink(atomic);
  ApplyReport report =
      Run(sink, {Create(ObjectKind::kUser, "alice"), Create(ObjectKind::kUser, "bob")});
  ASSERT_FALSE(report.fatal);
  EXPECT_EQ(record_calls, 1);
  EXPECT_EQ(recorded.size(), 2u);
}

TEST_F(ApplyTest, AtomicSinkFailedCommitRecordsNothing) {
  SinkCapabilities atomic;
  atomic.atomic_batches = true;
  FakeSink sink(atomic);
  sink.fail_commit = true;
  ApplyReport report = Run(sink, {Create(ObjectKind::kUser, "alice")});
  ASSERT_TRUE(report.fatal);
  EXPECT_NE(report.fatal->message().find("disk full"), std::string::npos);
  EXPECT_EQ(record_calls, 0);
}

TEST_F(ApplyTest, RecorderFailureStopsTheRun) {
  FakeSink sink(Remote());
  fail_record = true;
  ApplyReport report =
      Run(sink, {Create(ObjectKind::kUser, "alice"), Create(ObjectKind::kUser, "bob")});
  ASSERT_TRUE(report.fatal);
  EXPECT_NE(report.fatal->message().find("state went away"), std::string::npos);
  EXPECT_EQ(sink.requests.size(), 1u);
}

TEST(TokenBucketTest, PacesAtTheRateAfterTheBurst) {
  const Clock::time_point t0{};
  TokenBucket bucket(/*rate=*/4, /*burst=*/1, t0);
  EXPECT_EQ(bucket.Wait(t0), Clock::duration::zero());
  bucket.Take(t0);
  EXPECT_EQ(bucket.Wait(t0), std::chrono::duration_cast<Clock::duration>(250ms));
  EXPECT_EQ(bucket.Wait(t0 + 250ms), Clock::duration::zero());
  bucket.Take(t0 + 250ms);
  bucket.PauseUntil(t0 + 2s);
  EXPECT_EQ(bucket.Wait(t0 + 1s), std::chrono::duration_cast<Clock::duration>(1s));
  // After a pause, no burst: the next token comes a quarter second later.
  EXPECT_EQ(bucket.Wait(t0 + 2s), std::chrono::duration_cast<Clock::duration>(250ms));
}

TEST(TokenBucketTest, RateZeroNeverWaits) {
  TokenBucket bucket(0, 1, Clock::time_point{});
  for (int i = 0; i < 100; ++i) bucket.Take(Clock::time_point{});
  EXPECT_EQ(bucket.Wait(Clock::time_point{}), Clock::duration::zero());
}

TEST(FullJitterTest, AnywhereFromZeroToTheDoublingCeiling) {
  EXPECT_EQ(FullJitter(1, 100ms, 10s, 0.0), 0ms);
  EXPECT_EQ(FullJitter(1, 100ms, 10s, 0.5), 50ms);
  EXPECT_EQ(FullJitter(3, 100ms, 10s, 0.999), 399ms);
  EXPECT_EQ(FullJitter(3, 100ms, 10s, 1.0), 400ms);
  EXPECT_EQ(FullJitter(20, 100ms, 10s, 0.5), 5000ms);  // capped
}

TEST(BackoffTest, DoublesUpToTheCapWithJitterAndNeverUndercutsRetryAfter) {
  EXPECT_EQ(Backoff(1, 100ms, 10s, 0.0), 50ms);
  EXPECT_EQ(Backoff(1, 100ms, 10s, 0.999), 99ms);
  EXPECT_EQ(Backoff(4, 100ms, 10s, 0.0), 400ms);
  EXPECT_EQ(Backoff(30, 100ms, 10s, 0.0), 5s);
  EXPECT_EQ(Backoff(1, 100ms, 10s, 0.0, 2s), 2s);
}

}  // namespace
}  // namespace syncd
