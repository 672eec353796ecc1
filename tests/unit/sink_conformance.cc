#include "tests/unit/sink_conformance.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "apply/apply.h"
#include "core/sqlite.h"
#include "store/local/local_store.h"
#include "store/scim/scim_mapping.h"
#include "store/scim/scim_sink.h"
#include "tests/scim_peer.h"
#include "tests/unit/test_util.h"

namespace syncd::testing {
namespace {

namespace json = boost::json;

SyncObject User(int n, const std::string& name) { return TestUser(n, name); }
SyncObject Group(int n, const std::string& name) { return TestGroup(n, name); }

// ---- the local store

class LocalUnderTest : public SinkUnderTest {
 public:
  LocalUnderTest() : path_(dir_.path() + "/store.db") {
    EXPECT_TRUE(LocalStore::Open(path_).ok());  // the schema, for AddForeignUser
  }
  std::unique_ptr<Sink> Open(boost::asio::any_io_executor /*executor*/) override {
    auto store = LocalStore::Open(path_);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::unique_ptr<Sink>(std::move(*store)) : nullptr;
  }
  std::string AddForeignUser(const std::string& name, const std::string& external_id) override {
    auto db = sql::Database::Open(path_, /*read_only=*/false);
    EXPECT_TRUE(db.ok());
    EXPECT_TRUE((*db)
                    ->Exec("INSERT INTO users (external_id, user_name, display_name, managed_by) "
                           "VALUES ('" +
                           external_id + "', '" + name + "', 'Foreign " + name + "', 'hr-tool')")
                    .ok());
    return "";
  }
  Attributes ForeignUser(const std::string& /*ref*/, const std::string& external_id) override {
    for (const auto& o : List()) {
      if (o.external_id == external_id) return o.attributes;
    }
    return {};
  }
  int UsersNamed(const std::string& name) override {
    auto users = List();
    return static_cast<int>(std::count_if(users.begin(), users.end(),
                                          [&](const StoredObject& o) { return o.name == name; }));
  }
  std::optional<int64_t> MembershipRequests() override { return std::nullopt; }

 private:
  std::vector<StoredObject> List() {
    auto store = LocalStore::Open(path_);
    auto users = (*store)->List(ObjectKind::kUser);
    return users.ok() ? *users : std::vector<StoredObject>{};
  }
  TempDir dir_;
  std::string path_;
};

// ---- the SCIM sink against the test peer

class ScimUnderTest : public SinkUnderTest {
 public:
  explicit ScimUnderTest(const std::string& profile) : peer_(ScimPeer::Get(profile)) {
    peer_.Reset();
    config_ = peer_.Config(dir_.path() + "/token");
  }
  std::unique_ptr<Sink> Open(boost::asio::any_io_executor executor) override {
    auto sink = ScimSink::Create(std::move(executor), config_);
    EXPECT_TRUE(sink.ok()) << sink.status().ToString();
    return sink.ok() ? std::unique_ptr<Sink>(std::move(*sink)) : nullptr;
  }
  // A user made by hand in the target: same name, no externalId.
  std::string AddForeignUser(const std::string& name, const std::string& /*external_id*/) override {
    json::object user{{"userName", name},
                      {"displayName", "Foreign " + name},
                      {"name", json::object{{"givenName", "F"}, {"familyName", "Oreign"}}}};
    json::value made = peer_.Control("POST", "/users", json::serialize(user));
    return made.is_object() ? std::string(made.as_object().at("id").as_string()) : "";
  }
  Attributes ForeignUser(const std::string& ref, const std::string& /*external_id*/) override {
    json::value user = peer_.Control("GET", "/users/" + ref);
    if (!user.is_object()) return {};
    StoredObject o = scim::FromResource(ObjectKind::kUser, user.as_object());
    o.attributes["externalId"] = o.external_id;
    return o.attributes;
  }
  int UsersNamed(const std::string& name) override {
    int n = 0;
    const json::object dump = peer_.Dump();
    for (const auto& u : dump.at("users").as_array()) {
      n += u.as_object().at("userName").as_string() == name ? 1 : 0;
    }
    return n;
  }
  std::optional<int64_t> MembershipRequests() override { return peer_.Requests("PATCH /Groups"); }

 private:
  ScimPeer& peer_;
  TempDir dir_;
  StoreConfig config_;
};

// ---- the suite

class SinkConformance : public ::testing::TestWithParam<SinkFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam().make();
    sink_ = store_->Open(loop_.get_executor());
    ASSERT_NE(sink_, nullptr);
  }

  std::vector<OpOutcome> Apply(Sink& sink, const std::vector<Operation>& ops,
                               const std::vector<std::string>& refs = {}) {
    std::vector<SinkOp> sink_ops;
    for (size_t i = 0; i < ops.size(); ++i) {
      sink_ops.push_back({&ops[i], i < refs.size() ? refs[i] : "", ""});
    }
    return RunOn(loop_, sink.Apply(sink_ops));
  }
  OpOutcome ApplyOne(const Operation& op, const std::string& ref = "") {
    return Apply(*sink_, {op}, {ref}).at(0);
  }
  OwnedContents Owned() {
    auto owned = RunOn(loop_, sink_->ReadOwned());
    EXPECT_TRUE(owned.ok()) << owned.status().ToString();
    return owned.ok() ? *owned : OwnedContents{};
  }
  static std::vector<std::string> Names(const OwnedContents& owned) {
    std::vector<std::string> names;
    for (const auto& o : owned.objects)
      names.push_back(std::string(KindName(o.kind)) + ":" + o.name);
    std::sort(names.begin(), names.end());
    return names;
  }

  boost::asio::io_context loop_;
  std::unique_ptr<SinkUnderTest> store_;
  std::unique_ptr<Sink> sink_;
};

// Forwards to a real sink, and stops the run with a fatal outcome at the
// operation named `fail_on` (the connection lost for good, say).
class FailingSink : public Sink {
 public:
  FailingSink(Sink& real, std::string fail_on) : real_(real), fail_on_(std::move(fail_on)) {}
  const SinkCapabilities& capabilities() const override { return real_.capabilities(); }
  std::string Describe() const override { return "failing " + real_.Describe(); }
  boost::asio::awaitable<Result<StoreIdentity>> Identify() override { return real_.Identify(); }
  boost::asio::awaitable<Result<OwnedContents>> ReadOwned() override { return real_.ReadOwned(); }
  boost::asio::awaitable<std::vector<OpOutcome>> Apply(std::span<const SinkOp> ops) override {
    for (const SinkOp& op : ops) {
      if (op.op->object->name == fail_on_) {
        co_return std::vector<OpOutcome>(ops.size(), OpOutcome::Fatal("the store went away"));
      }
    }
    co_return co_await real_.Apply(ops);
  }
  Status BeginBatch() override { return real_.BeginBatch(); }
  Status CommitBatch() override { return real_.CommitBatch(); }
  void AbortBatch() override { real_.AbortBatch(); }

 private:
  Sink& real_;
  std::string fail_on_;
};

// A run that fails part way, then a restarted one that applies what the
// first did not record as applied: every object lands exactly once, for
// stores with atomic batches (nothing of the first landed) and without
// (the first's applied operations are not sent again).
TEST_P(SinkConformance, ResumeAfterAFailureLandsEverythingOnce) {
  std::vector<Operation> ops;
  ops.reserve(5);
  for (int i = 1; i <= 5; ++i)
    ops.push_back(MakeOp(OpType::kCreate, User(i, "u" + std::to_string(i))));
  std::vector<ApplyItem> items;
  items.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) items.push_back({static_cast<int64_t>(i), &ops[i]});
  std::vector<ItemResult> recorded;
  RecordResults record = [&](std::span<const ItemResult> results) {
    recorded.insert(recorded.end(), results.begin(), results.end());
    return Status::Ok();
  };
  SinkRefs refs;
  ApplyOptions options;
  FailingSink failing(*sink_, "u3");
  ApplyReport first = RunOn(loop_, ApplyItems(failing, items, refs, options, record));
  ASSERT_TRUE(first.fatal.has_value());
  std::vector<ApplyItem> rest;
  for (const auto& item : items) {
    const bool done = std::any_of(recorded.begin(), recorded.end(),
                                  [&](const ItemResult& r) { return r.seq == item.seq; });
    if (!done) rest.push_back(item);
  }
  auto restarted = store_->Open(loop_.get_executor());
  ASSERT_NE(restarted, nullptr);
  const size_t before = recorded.size();
  ApplyReport second = RunOn(loop_, ApplyItems(*restarted, rest, refs, options, record));
  ASSERT_FALSE(second.fatal.has_value()) << second.fatal->ToString();
  EXPECT_EQ(recorded.size() - before, rest.size());
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(store_->UsersNamed("u" + std::to_string(i)), 1) << i;
  EXPECT_EQ(Owned().objects.size(), 5u);
}

TEST_P(SinkConformance, CreateTwiceIsAppliedBothTimesAndMakesOneObject) {
  Operation create = MakeOp(OpType::kCreate, User(1, "alice"));
  OpOutcome first = ApplyOne(create);
  OpOutcome second = ApplyOne(create);
  EXPECT_OUTCOME(kApplied, first);
  EXPECT_OUTCOME(kApplied, second);
  EXPECT_EQ(first.ref, second.ref);
  EXPECT_EQ(store_->UsersNamed("alice"), 1);
  EXPECT_EQ(Names(Owned()), std::vector<std::string>{"user:alice"});
}

TEST_P(SinkConformance, RecreateAfterACrashAdoptsWhatTheFirstCreateMade) {
  ASSERT_EQ(ApplyOne(MakeOp(OpType::kCreate, User(1, "alice"))).kind, OpOutcome::Kind::kApplied);
  // A restarted syncd that never learned the outcome creates again, with a
  // newer image and no reference.
  std::unique_ptr<Sink> restarted = store_->Open(loop_.get_executor());
  SyncObject newer = User(1, "alice");
  newer.attributes["displayName"] = "Alice Again";
  OpOutcome outcome = Apply(*restarted, {MakeOp(OpType::kCreate, newer)}).at(0);
  EXPECT_OUTCOME(kApplied, outcome);
  EXPECT_EQ(store_->UsersNamed("alice"), 1);
  OwnedContents owned = Owned();
  ASSERT_EQ(owned.objects.size(), 1U);
  EXPECT_EQ(owned.objects[0].attributes.at("displayName"), "Alice Again");
}

TEST_P(SinkConformance, DeleteOfAnAbsentObjectIsApplied) {
  EXPECT_OUTCOME(kApplied, ApplyOne(MakeOp(OpType::kDelete, User(7, "ghost"))));
  EXPECT_OUTCOME(kApplied, ApplyOne(MakeOp(OpType::kDelete, Group(8, "ghosts"))));
}

TEST_P(SinkConformance, UpdateOfAnObjectSyncdDoesNotOwnIsRefusedAndLeavesIt) {
  SyncObject alice = User(1, "alice");
  const std::string ref = store_->AddForeignUser("alice", alice.external_id);
  const Attributes before = store_->ForeignUser(ref, alice.external_id);
  Operation update = MakeOp(OpType::kUpdate, alice);
  update.changes = std::vector<AttributeChange>{{"displayName", "Foreign alice", "User alice"}};
  EXPECT_OUTCOME(kRefused, ApplyOne(update));
  EXPECT_EQ(store_->ForeignUser(ref, alice.external_id), before);
  EXPECT_TRUE(Owned().objects.empty());
}

TEST_P(SinkConformance, DeleteOfAnObjectSyncdDoesNotOwnIsRefusedAndLeavesIt) {
  SyncObject alice = User(1, "alice");
  // The reference syncd would hold had the object changed hands.
  const std::string ref = store_->AddForeignUser("alice", alice.external_id);
  const Attributes before = store_->ForeignUser(ref, alice.external_id);
  EXPECT_OUTCOME(kRefused, ApplyOne(MakeOp(OpType::kDelete, alice), ref));
  EXPECT_EQ(store_->UsersNamed("alice"), 1);
  EXPECT_EQ(store_->ForeignUser(ref, alice.external_id), before);
}

TEST_P(SinkConformance, MembershipsGoInChunksOfMembersPerRequest) {
  const size_t per_request = sink_->capabilities().members_per_request;
  ASSERT_GE(per_request, 1U);
  const int members = static_cast<int>(2 * per_request + 1);
  SyncObject group = Group(1000, "staff");
  ASSERT_EQ(ApplyOne(MakeOp(OpType::kCreate, group)).kind, OpOutcome::Kind::kApplied);
  std::vector<Operation> adds;
  std::vector<std::string> member_refs;
  for (int i = 0; i < members; ++i) {
    SyncObject user = User(i + 1, "u" + std::to_string(i));
    OpOutcome created = ApplyOne(MakeOp(OpType::kCreate, user));
    ASSERT_EQ(created.kind, OpOutcome::Kind::kApplied) << created.reason;
    adds.push_back(MemberOp(OpType::kAddMember, group, user));
    member_refs.push_back(created.ref);
  }
  const std::optional<int64_t> before = store_->MembershipRequests();
  // As the apply module hands them over: up to members_per_request at once.
  for (size_t begin = 0; begin < adds.size(); begin += per_request) {
    std::vector<SinkOp> chunk;
    for (size_t i = begin; i < std::min(adds.size(), begin + per_request); ++i) {
      chunk.push_back({&adds[i], "", member_refs[i]});
    }
    for (const OpOutcome& outcome : RunOn(loop_, sink_->Apply(chunk))) {
      EXPECT_OUTCOME(kApplied, outcome);
    }
  }
  if (before) {
    EXPECT_EQ(*store_->MembershipRequests() - *before, 3) << "members_per_request " << per_request;
  }
  EXPECT_EQ(Owned().memberships.size(), static_cast<size_t>(members));
}

TEST_P(SinkConformance, ReadOwnedReflectsAppliedOperations) {
  SyncObject alice = User(1, "alice");
  SyncObject bob = User(2, "bob");
  SyncObject staff = Group(3, "staff");
  for (const auto& o : {alice, bob, staff}) {
    ASSERT_EQ(ApplyOne(MakeOp(OpType::kCreate, o)).kind, OpOutcome::Kind::kApplied);
  }
  EXPECT_OUTCOME(kApplied, ApplyOne(MemberOp(OpType::kAddMember, staff, alice)));
  EXPECT_OUTCOME(kApplied, ApplyOne(MemberOp(OpType::kAddMember, staff, bob)));
  SyncObject renamed = alice;
  renamed.name = "alice2";
  renamed.attributes["userName"] = "alice2";
  Operation update = MakeOp(OpType::kUpdate, renamed);
  update.changes = std::vector<AttributeChange>{{"userName", "alice", "alice2"}};
  EXPECT_OUTCOME(kApplied, ApplyOne(update));
  EXPECT_OUTCOME(kApplied, ApplyOne(MemberOp(OpType::kRemoveMember, staff, bob)));
  EXPECT_OUTCOME(kApplied, ApplyOne(MakeOp(OpType::kDelete, bob)));

  OwnedContents owned = Owned();
  EXPECT_EQ(Names(owned), (std::vector<std::string>{"group:staff", "user:alice2"}));
  EXPECT_EQ(owned.memberships,
            (std::vector<StoredMembership>{{staff.external_id, alice.external_id}}));
  for (const auto& o : owned.objects) {
    if (o.kind == ObjectKind::kUser) {
      EXPECT_EQ(o.attributes, renamed.attributes);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Sinks, SinkConformance,
    ::testing::Values(
        SinkFactory{"local", [] { return std::make_unique<LocalUnderTest>(); }},
        SinkFactory{"scim_rfc", [] { return std::make_unique<ScimUnderTest>("rfc"); }},
        SinkFactory{"scim_aws", [] { return std::make_unique<ScimUnderTest>("aws"); }}),
    [](const ::testing::TestParamInfo<SinkFactory>& param) { return param.param.name; });

}  // namespace
}  // namespace syncd::testing
