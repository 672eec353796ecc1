#include "store/scim/scim_sink.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "store/factory.h"
#include "store/scim/scim_mapping.h"
#include "tests/scim_peer.h"
#include "tests/unit/test_util.h"

namespace syncd {
namespace {

namespace json = boost::json;
using testing::MakeOp;
using testing::MemberOp;
using testing::RunOn;
using testing::ScimPeer;
using testing::TestGroup;
using testing::TestGuid;
using testing::TestUser;

std::string Guid(int n) { return TestGuid(n); }

SyncObject User(int n, const std::string& name) {
  SyncObject o = TestUser(n, name);
  o.attributes["department"] = "Engineering";
  o.attributes["employeeNumber"] = std::to_string(1000 + n);
  return o;
}

SyncObject Group(int n, const std::string& name) { return TestGroup(n, name); }

class ScimSinkTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    peer_ = &ScimPeer::Get(GetParam());
    ASSERT_FALSE(peer_->url().empty());
    peer_->Reset();
    token_file_ = dir_.path() + "/token";
    config_ = peer_->Config(token_file_);
    sink_ = MakeSink(config_);
    ASSERT_NE(sink_, nullptr);
  }

  std::unique_ptr<ScimSink> MakeSink(const StoreConfig& config) {
    auto sink = ScimSink::Create(loop_.get_executor(), config);
    EXPECT_TRUE(sink.ok()) << sink.status().ToString();
    return sink.ok() ? std::move(*sink) : nullptr;
  }

  OpOutcome ApplyOne(const Operation& op, const std::string& ref = "",
                     const std::string& member_ref = "") {
    return ApplyWith(*sink_, op, ref, member_ref);
  }
  OpOutcome ApplyWith(ScimSink& sink, const Operation& op, const std::string& ref = "",
                      const std::string& member_ref = "") {
    std::vector<SinkOp> ops{{&op, ref, member_ref}};
    OpOutcome outcome = RunOn(loop_, sink.Apply(ops)).at(0);
    reasons_.push_back(outcome.reason);
    return outcome;
  }
  OwnedContents Owned() {
    auto owned = RunOn(loop_, sink_->ReadOwned());
    EXPECT_TRUE(owned.ok()) << owned.status().ToString();
    return owned.ok() ? *owned : OwnedContents{};
  }
  // A user made by hand in the target (not by syncd).
  std::string HandMadeUser(const std::string& name, const std::string& external_id = "") {
    json::object user{{"userName", name},
                      {"displayName", "Hand " + name},
                      {"name", json::object{{"givenName", "Hand"}, {"familyName", name}}}};
    if (!external_id.empty()) user["externalId"] = external_id;
    json::value made = peer_->Control("POST", "/users", json::serialize(user));
    return made.is_object() ? std::string(made.as_object().at("id").as_string()) : "";
  }
  json::object PeerUser(const std::string& id) {
    json::value user = peer_->Control("GET", "/users/" + id);
    return user.is_object() ? user.as_object() : json::object{};
  }
  int64_t Writes() { return peer_->Stats().at("writes").as_int64(); }
  int64_t Requests() { return peer_->Stats().at("requests").as_int64(); }

  void TearDown() override {
    // No reason any test produced may carry the token.
    for (const auto& reason : reasons_) {
      EXPECT_EQ(reason.find(peer_->token()), std::string::npos) << reason;
    }
  }

  testing::TempDir dir_;
  boost::asio::io_context loop_;
  ScimPeer* peer_ = nullptr;
  std::string token_file_;
  StoreConfig config_;
  std::unique_ptr<ScimSink> sink_;
  std::vector<std::string> reasons_;
};

TEST_P(ScimSinkTest, ReadOwnedReturnsExactlyWhatWasWritten) {
  std::vector<SyncObject> users;
  for (int i = 1; i <= 3; ++i) users.push_back(User(i, "user" + std::to_string(i)));
  users[2].attributes.erase("email");
  users[2].attributes["active"] = "false";
  users[1].attributes["manager"] = "mgr-ref";
  SyncObject group = Group(10, "staff");
  std::vector<std::string> refs;
  for (const auto& u : users) {
    OpOutcome outcome = ApplyOne(MakeOp(OpType::kCreate, u));
    EXPECT_OUTCOME(kApplied, outcome);
    EXPECT_FALSE(outcome.ref.empty());
    refs.push_back(outcome.ref);
  }
  OpOutcome made = ApplyOne(MakeOp(OpType::kCreate, group));
  EXPECT_OUTCOME(kApplied, made);
  EXPECT_OUTCOME(kApplied, ApplyOne(MemberOp(OpType::kAddMember, group, users[0]), made.ref));
  EXPECT_OUTCOME(kApplied, ApplyOne(MemberOp(OpType::kAddMember, group, users[2])));

  OwnedContents owned = Owned();
  ASSERT_EQ(owned.objects.size(), 4U);
  for (size_t i = 0; i < users.size(); ++i) {
    const StoredObject& o = owned.objects[i];
    EXPECT_EQ(o.kind, ObjectKind::kUser);
    EXPECT_EQ(o.external_id, users[i].external_id);
    EXPECT_EQ(o.name, users[i].name);
    EXPECT_EQ(o.ref, refs[i]);
    EXPECT_EQ(o.attributes, users[i].attributes);
  }
  EXPECT_EQ(owned.objects[3].name, "staff");
  EXPECT_EQ(owned.objects[3].ref, made.ref);
  EXPECT_EQ(owned.objects[3].attributes, group.attributes);
  std::vector<StoredMembership> expected{{group.external_id, users[0].external_id},
                                         {group.external_id, users[2].external_id}};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(owned.memberships, expected);
}

TEST_P(ScimSinkTest, ReadOwnedPagesPastTheFirstPage) {
  // 120 users: more than one page in either profile (aws pages hold 50).
  json::array users;
  for (int i = 1; i <= 120; ++i) {
    users.emplace_back(
        json::object{{"userName", "p" + std::to_string(i)},
                     {"displayName", "P"},
                     {"externalId", Guid(i)},
                     {"name", json::object{{"givenName", "P"}, {"familyName", "Q"}}}});
  }
  peer_->Control("POST", "/users", json::serialize(users));
  EXPECT_EQ(Owned().objects.size(), 120U);
}

TEST_P(ScimSinkTest, HandMadeObjectsAreNotOwnedAndNeverChanged) {
  const std::string plain = HandMadeUser("carol");
  const std::string tagged = HandMadeUser("dave", "HR-4711");
  const json::object carol = PeerUser(plain);
  const json::object dave = PeerUser(tagged);
  EXPECT_TRUE(Owned().objects.empty());
  // syncd's own "carol" meets the hand-made one: refused, not overwritten.
  OpOutcome outcome = ApplyOne(MakeOp(OpType::kCreate, User(1, "carol")));
  EXPECT_OUTCOME(kRefused, outcome);
  EXPECT_NE(outcome.reason.find("conflict: a user named carol already exists in the target and "
                                "is not syncd's (no externalId"),
            std::string::npos)
      << outcome.reason;
  // An update or delete whose ref points at a hand-made object is refused.
  Operation update = MakeOp(OpType::kUpdate, User(2, "dave"));
  update.changes = std::vector<AttributeChange>{{"displayName", "Hand dave", "User dave"}};
  EXPECT_OUTCOME(kRefused, ApplyOne(update, tagged));
  EXPECT_OUTCOME(kRefused, ApplyOne(MakeOp(OpType::kDelete, User(2, "dave")), tagged));
  EXPECT_OUTCOME(kApplied, ApplyOne(MakeOp(OpType::kDelete, User(1, "carol"))));
  EXPECT_EQ(PeerUser(plain), carol);
  EXPECT_EQ(PeerUser(tagged), dave);
}

TEST_P(ScimSinkTest, ConflictIsAdoptedByUserNameOnlyWhenConfigured) {
  const std::string carol = HandMadeUser("carol");
  config_.adopt = "userName";
  auto sink = MakeSink(config_);
  OpOutcome outcome = ApplyWith(*sink, MakeOp(OpType::kCreate, User(1, "carol")));
  EXPECT_OUTCOME(kApplied, outcome);
  EXPECT_EQ(outcome.ref, carol);
  EXPECT_EQ(PeerUser(carol).at("externalId").as_string(), Guid(1));
  EXPECT_EQ(PeerUser(carol).at("displayName").as_string(), "User carol");
  // A same-named object with another externalId is never taken.
  HandMadeUser("erin", "HR-1");
  EXPECT_OUTCOME(kRefused, ApplyWith(*sink, MakeOp(OpType::kCreate, User(2, "erin"))));
}

TEST_P(ScimSinkTest, AdoptNoneRefusesEvenSyncdsExternalIdWithoutItsRef) {
  OpOutcome first = ApplyOne(MakeOp(OpType::kCreate, User(1, "alice")));
  ASSERT_EQ(first.kind, OpOutcome::Kind::kApplied);
  config_.adopt = "none";
  auto sink = MakeSink(config_);
  EXPECT_OUTCOME(kRefused, ApplyWith(*sink, MakeOp(OpType::kCreate, User(1, "alice"))));
  EXPECT_OUTCOME(kApplied, ApplyWith(*sink, MakeOp(OpType::kCreate, User(1, "alice")), first.ref));
}

TEST_P(ScimSinkTest, UpdatePatchesTheChangedAttributesOnly) {
  SyncObject alice = User(1, "alice");
  OpOutcome made = ApplyOne(MakeOp(OpType::kCreate, alice));
  ASSERT_EQ(made.kind, OpOutcome::Kind::kApplied);
  SyncObject renamed = alice;
  renamed.name = "alice.b";
  renamed.attributes["userName"] = "alice.b";
  renamed.attributes["familyName"] = "Bee";
  renamed.attributes.erase("department");
  Operation update = MakeOp(OpType::kUpdate, renamed);
  update.changes = std::vector<AttributeChange>{{"userName", "alice", "alice.b"},
                                                {"familyName", "Familyalice", "Bee"},
                                                {"department", "Engineering", std::nullopt}};
  peer_->ResetStats();
  EXPECT_OUTCOME(kApplied, ApplyOne(update, made.ref));
  EXPECT_EQ(peer_->Requests("PATCH /Users"), 1);
  json::object user = PeerUser(made.ref);
  EXPECT_EQ(user.at("userName").as_string(), "alice.b");
  EXPECT_EQ(user.at("name").at("familyName").as_string(), "Bee");
  EXPECT_EQ(user.at("name").at("givenName").as_string(), "Givenalice");
  // Without a ref the object is found by externalId.
  update.changes = std::vector<AttributeChange>{{"familyName", "Bee", "Cee"}};
  testing::SetAttribute(&update, "familyName", "Cee");
  EXPECT_OUTCOME(kApplied, ApplyOne(update));
  ASSERT_EQ(Owned().objects.size(), 1U);
  EXPECT_EQ(Owned().objects[0].attributes, update.object->attributes);
}

TEST_P(ScimSinkTest, UpdateOfAnObjectDeletedBehindSyncdsBackRecreatesIt) {
  SyncObject alice = User(1, "alice");
  OpOutcome made = ApplyOne(MakeOp(OpType::kCreate, alice));
  peer_->Control("DELETE", "/users/" + made.ref);
  Operation update = MakeOp(OpType::kUpdate, alice);
  update.changes = std::vector<AttributeChange>{{"givenName", "x", "Givenalice"}};
  auto next_run = MakeSink(config_);
  ASSERT_NE(next_run, nullptr);
  OpOutcome outcome = ApplyWith(*next_run, update, made.ref);
  EXPECT_OUTCOME(kApplied, outcome);
  EXPECT_NE(outcome.ref, made.ref);
  EXPECT_EQ(Owned().objects.size(), 1U);
}

TEST_P(ScimSinkTest, DeleteByRefAndOfAbsentObjects) {
  SyncObject alice = User(1, "alice");
  OpOutcome made = ApplyOne(MakeOp(OpType::kCreate, alice));
  EXPECT_OUTCOME(kApplied, ApplyOne(MakeOp(OpType::kDelete, alice), made.ref));
  EXPECT_TRUE(Owned().objects.empty());
  EXPECT_OUTCOME(kApplied, ApplyOne(MakeOp(OpType::kDelete, alice), made.ref));
  EXPECT_OUTCOME(kApplied, ApplyOne(MakeOp(OpType::kDelete, alice)));
}

TEST_P(ScimSinkTest, MembershipsGoInRequestsOfAtMostAHundred) {
  json::array users;
  for (int i = 1; i <= 250; ++i) {
    users.emplace_back(
        json::object{{"userName", "m" + std::to_string(i)},
                     {"displayName", "M"},
                     {"externalId", Guid(i)},
                     {"name", json::object{{"givenName", "M"}, {"familyName", "N"}}}});
  }
  json::value made = peer_->Control("POST", "/users", json::serialize(users));
  SyncObject group = Group(1000, "big");
  OpOutcome created = ApplyOne(MakeOp(OpType::kCreate, group));
  ASSERT_EQ(created.kind, OpOutcome::Kind::kApplied);
  std::vector<Operation> adds;
  std::vector<Operation> removes;
  for (int i = 1; i <= 250; ++i) {
    SyncObject member = User(i, "m" + std::to_string(i));
    adds.push_back(MemberOp(OpType::kAddMember, group, member));
    removes.push_back(MemberOp(OpType::kRemoveMember, group, member));
  }
  std::vector<SinkOp> add_ops;
  std::vector<SinkOp> remove_ops;
  for (size_t i = 0; i < adds.size(); ++i) {
    const std::string id(made.as_array()[i].as_object().at("id").as_string());
    add_ops.push_back({&adds[i], created.ref, id});
    remove_ops.push_back({&removes[i], created.ref, id});
  }
  peer_->ResetStats();
  for (const auto& outcome : RunOn(loop_, sink_->Apply(add_ops))) {
    EXPECT_OUTCOME(kApplied, outcome);
  }
  EXPECT_EQ(peer_->Requests("PATCH /Groups"), 3);
  EXPECT_EQ(Writes(), 3);
  EXPECT_EQ(Owned().memberships.size(), 250U);
  peer_->ResetStats();
  remove_ops.resize(150);
  for (const auto& outcome : RunOn(loop_, sink_->Apply(remove_ops))) {
    EXPECT_OUTCOME(kApplied, outcome);
  }
  EXPECT_EQ(peer_->Requests("PATCH /Groups"), 2);
  EXPECT_EQ(Owned().memberships.size(), 100U);
}

// The sink is opened per run: what it created in this run is syncd's
// without asking again, so the first sync costs one request per write; an
// object a previous run (another sink) created is checked first.
TEST_P(ScimSinkTest, ObjectsCreatedInThisRunAreNotReadBackBeforeAWrite) {
  SyncObject group = Group(1000, "staff");
  SyncObject alice = User(1, "alice");
  OpOutcome made_group = ApplyOne(MakeOp(OpType::kCreate, group));
  OpOutcome made_alice = ApplyOne(MakeOp(OpType::kCreate, alice));
  ASSERT_EQ(made_group.kind, OpOutcome::Kind::kApplied);
  ASSERT_EQ(made_alice.kind, OpOutcome::Kind::kApplied);
  Operation add = MemberOp(OpType::kAddMember, group, alice);
  Operation update = MakeOp(OpType::kUpdate, alice);
  testing::SetAttribute(&update, "displayName", "Alice A.");
  update.changes = std::vector<AttributeChange>{{"displayName", "User alice", "Alice A."}};
  peer_->ResetStats();
  EXPECT_OUTCOME(kApplied, ApplyOne(add, made_group.ref, made_alice.ref));
  EXPECT_OUTCOME(kApplied, ApplyOne(update, made_alice.ref));
  EXPECT_EQ(Requests(), 2);  // the two PATCHes, no GET
  EXPECT_EQ(Owned().memberships.size(), 1U);

  auto next_run = MakeSink(config_);
  ASSERT_NE(next_run, nullptr);
  Operation remove = MemberOp(OpType::kRemoveMember, group, alice);
  peer_->ResetStats();
  EXPECT_OUTCOME(kApplied, ApplyWith(*next_run, remove, made_group.ref, made_alice.ref));
  EXPECT_EQ(peer_->Requests("GET /Groups"), 1);  // is it still syncd's group?
  EXPECT_EQ(peer_->Requests("PATCH /Groups"), 1);
}

// An object created in this run and deleted behind syncd's back meanwhile:
// the write's 404 makes syncd look it up again, as for any other object.
TEST_P(ScimSinkTest, ObjectCreatedInThisRunThenDeletedIsLookedUpAgain) {
  SyncObject alice = User(1, "alice");
  OpOutcome made = ApplyOne(MakeOp(OpType::kCreate, alice));
  ASSERT_EQ(made.kind, OpOutcome::Kind::kApplied);
  peer_->Control("DELETE", "/users/" + made.ref);
  Operation update = MakeOp(OpType::kUpdate, alice);
  update.changes = std::vector<AttributeChange>{{"givenName", "x", "Givenalice"}};
  EXPECT_OUTCOME(kRetry, ApplyOne(update, made.ref));
  OpOutcome again = ApplyOne(update, made.ref);
  EXPECT_OUTCOME(kApplied, again);
  EXPECT_NE(again.ref, made.ref);
  EXPECT_EQ(Owned().objects.size(), 1U);
}

TEST_P(ScimSinkTest, MemberMissingFromTheTargetIsRefusedAloneInItsChunk) {
  SyncObject group = Group(1000, "staff");
  SyncObject alice = User(1, "alice");
  SyncObject ghost = User(2, "ghost");
  ASSERT_EQ(ApplyOne(MakeOp(OpType::kCreate, group)).kind, OpOutcome::Kind::kApplied);
  ASSERT_EQ(ApplyOne(MakeOp(OpType::kCreate, alice)).kind, OpOutcome::Kind::kApplied);
  Operation add_alice = MemberOp(OpType::kAddMember, group, alice);
  Operation add_ghost = MemberOp(OpType::kAddMember, group, ghost);
  // A stale ref for the ghost: the chunk fails, then each goes alone.
  std::vector<SinkOp> ops{{&add_alice, "", ""}, {&add_ghost, "", "no-such-id"}};
  auto outcomes = RunOn(loop_, sink_->Apply(ops));
  EXPECT_OUTCOME(kApplied, outcomes[0]);
  EXPECT_OUTCOME(kRefused, outcomes[1]);
  EXPECT_EQ(Owned().memberships.size(), 1U);
}

TEST_P(ScimSinkTest, ThrottlingIsRetryWithTheServersDelay) {
  peer_->SetFaults(R"({"every_429": 1, "retry_after": 7})");
  OpOutcome outcome = ApplyOne(MakeOp(OpType::kCreate, User(1, "alice")));
  EXPECT_OUTCOME(kRetry, outcome);
  ASSERT_TRUE(outcome.retry_after.has_value());
  EXPECT_EQ(*outcome.retry_after, std::chrono::seconds(7));
  peer_->SetFaults(R"({"every_429": 0})");
  EXPECT_OUTCOME(kApplied, ApplyOne(MakeOp(OpType::kCreate, User(1, "alice"))));
}

TEST_P(ScimSinkTest, ServerErrorsAndDroppedConnectionsAreRetry) {
  peer_->SetFaults(R"({"every_500": 1})");
  EXPECT_OUTCOME(kRetry, ApplyOne(MakeOp(OpType::kCreate, User(1, "alice"))));
  peer_->SetFaults(R"({"every_500": 0, "drop_every": 1})");
  EXPECT_OUTCOME(kRetry, ApplyOne(MakeOp(OpType::kCreate, User(1, "alice"))));
  // The answer lost after the write: the retry adopts what was made.
  peer_->SetFaults(R"({"drop_every": 0, "drop_after_every": 1})");
  EXPECT_OUTCOME(kRetry, ApplyOne(MakeOp(OpType::kCreate, User(2, "bob"))));
  peer_->SetFaults(R"({"drop_after_every": 0})");
  EXPECT_OUTCOME(kApplied, ApplyOne(MakeOp(OpType::kCreate, User(2, "bob"))));
  EXPECT_EQ(Owned().objects.size(), 1U);
}

TEST_P(ScimSinkTest, RefusedTokenIsFatalAndNamesTheFileNotTheToken) {
  peer_->Control("POST", "/tokens", R"({"tokens": ["another-token"]})");
  OpOutcome outcome = ApplyOne(MakeOp(OpType::kCreate, User(1, "alice")));
  EXPECT_OUTCOME(kFatal, outcome);
  EXPECT_NE(outcome.reason.find("the SCIM token was refused (HTTP 401)"), std::string::npos)
      << outcome.reason;
  EXPECT_NE(outcome.reason.find(token_file_), std::string::npos) << outcome.reason;
  auto identity = RunOn(loop_, sink_->Identify());
  EXPECT_FALSE(identity.ok());
  EXPECT_EQ(identity.status().message().find(peer_->token()), std::string::npos);
  // A new token in the file, re-read (SIGHUP), is used from then on.
  {
    std::ofstream out(token_file_);
    out << "another-token\n";
  }
  ASSERT_TRUE(sink_->ReloadToken().ok());
  EXPECT_OUTCOME(kApplied, ApplyOne(MakeOp(OpType::kCreate, User(1, "alice"))));
}

TEST_P(ScimSinkTest, IdentifyNamesTheUrlAndSeesSyncdsObjects) {
  auto empty = RunOn(loop_, sink_->Identify());
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->id, "scim:" + peer_->url());
  EXPECT_FALSE(empty->holds_owned);
  HandMadeUser("carol");
  EXPECT_FALSE(RunOn(loop_, sink_->Identify())->holds_owned);
  ApplyOne(MakeOp(OpType::kCreate, Group(1, "staff")));
  EXPECT_TRUE(RunOn(loop_, sink_->Identify())->holds_owned);
  auto peeked = RunOn(loop_, PeekStore(loop_.get_executor(), config_));
  ASSERT_TRUE(peeked.ok()) << peeked.status().ToString();
  ASSERT_TRUE(peeked->has_value());
  EXPECT_EQ((*peeked)->id, "scim:" + peer_->url());
  EXPECT_TRUE((*peeked)->holds_owned);
}

INSTANTIATE_TEST_SUITE_P(Profiles, ScimSinkTest, ::testing::Values("rfc", "aws"));

// ---- the aws profile's own rules

class ScimAwsTest : public ScimSinkTest {};

TEST_P(ScimAwsTest, UserLackingARequiredNameIsRefusedBeforeAnyRequest) {
  SyncObject alice = User(1, "alice");
  alice.attributes.erase("givenName");
  peer_->ResetStats();
  OpOutcome outcome = ApplyOne(MakeOp(OpType::kCreate, alice));
  EXPECT_OUTCOME(kRefused, outcome);
  EXPECT_EQ(outcome.reason, "user alice lacks givenName, which IAM Identity Center requires");
  Operation update = MakeOp(OpType::kUpdate, alice);
  update.changes = std::vector<AttributeChange>{{"givenName", "Givenalice", std::nullopt}};
  EXPECT_OUTCOME(kRefused, ApplyOne(update));
  EXPECT_OUTCOME(kRefused, ApplyOne(MakeOp(OpType::kCreate, User(2, "Administrator"))));
  EXPECT_OUTCOME(kRefused, ApplyOne(MakeOp(OpType::kCreate, Group(3, "AWSAdministrators"))));
  EXPECT_EQ(Requests(), 0);
}

TEST_P(ScimAwsTest, NestedGroupMembersAreRefused) {
  SyncObject outer = Group(1, "outer");
  SyncObject inner = Group(2, "inner");
  ASSERT_EQ(ApplyOne(MakeOp(OpType::kCreate, outer)).kind, OpOutcome::Kind::kApplied);
  ASSERT_EQ(ApplyOne(MakeOp(OpType::kCreate, inner)).kind, OpOutcome::Kind::kApplied);
  EXPECT_OUTCOME(kRefused, ApplyOne(MemberOp(OpType::kAddMember, outer, inner)));
  EXPECT_FALSE(sink_->capabilities().nested_groups);
  EXPECT_EQ(sink_->capabilities().members_per_request, 100U);
  EXPECT_EQ(sink_->capabilities().rate_limit, 20);
}

INSTANTIATE_TEST_SUITE_P(Aws, ScimAwsTest, ::testing::Values("aws"));

// ---- configuration

TEST(ScimConfigTest, UrlMustBeHttpsUnlessLoopback) {
  EXPECT_TRUE(CheckScimUrl("https://scim.us-east-1.amazonaws.com/abc/scim/v2").ok());
  EXPECT_TRUE(CheckScimUrl("http://127.0.0.1:8080/scim/v2").ok());
  EXPECT_TRUE(CheckScimUrl("http://localhost/scim/v2").ok());
  Status st = CheckScimUrl("http://scim.example.com/scim/v2");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("only for a loopback host"), std::string::npos) << st.message();
  EXPECT_FALSE(CheckScimUrl("ftp://x/").ok());
  EXPECT_FALSE(CheckScimUrl("https://x/scim?a=b").ok());
  EXPECT_EQ(*ScimSink::IdOf("HTTPS://Scim.Example.COM:443/t/scim/v2/"),
            "scim:https://scim.example.com/t/scim/v2");
}

TEST(ScimConfigTest, BadValuesNameTheKey) {
  StoreConfig config;
  config.kind = "scim";
  config.url = "https://scim.example.com/scim/v2";
  config.token_file = "/nonexistent";
  config.profile = "okta";
  EXPECT_NE(CheckScimConfig(config).message().find("store.profile"), std::string::npos);
  config.profile = "aws";
  config.nested_groups = "direct";
  EXPECT_NE(CheckScimConfig(config).message().find("store.nested_groups"), std::string::npos);
  config.nested_groups = "";
  config.adopt = "anything";
  EXPECT_NE(CheckScimConfig(config).message().find("store.adopt"), std::string::npos);
}

TEST(ScimConfigTest, TokenFileMustBePrivate) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/token";
  {
    std::ofstream out(path);
    out << "s3cr3t-token\n";
  }
  chmod(path.c_str(), 0644);
  StoreConfig config;
  config.kind = "scim";
  config.url = "http://127.0.0.1:1/scim/v2";
  config.token_file = path;
  boost::asio::io_context loop;
  auto sink = ScimSink::Create(loop.get_executor(), config);
  ASSERT_FALSE(sink.ok());
  EXPECT_NE(sink.status().message().find("chmod 600"), std::string::npos);
  EXPECT_EQ(sink.status().message().find("s3cr3t"), std::string::npos);
  chmod(path.c_str(), 0600);
  EXPECT_TRUE(ScimSink::Create(loop.get_executor(), config).ok());
}

}  // namespace
}  // namespace syncd
