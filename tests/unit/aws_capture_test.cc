// IAM Identity Center targets, the linking of captured principals to AD
// objects, and the capture's state API.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "state/state_db.h"
#include "store/aws/capture.h"
#include "store/aws/identity_center.h"
#include "tests/unit/test_util.h"

namespace syncd::identity_center {
namespace {

constexpr char kInstance[] = "arn:aws:sso:::instance/ssoins-1234567890abcdef";
constexpr char kPermissionSetArn[] =
    "arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-0123456789abcdef";
constexpr char kApplicationArn[] =
    "arn:aws:sso::123456789012:application/ssoins-1234567890abcdef/apl-0123456789abcdef";

TEST(AwsTargetTest, ParsesAccountTargets) {
  auto target = ParseTarget("aws:account/123456789012/permission-set/AdminAccess");
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  EXPECT_EQ(target->type, TargetType::kAccount);
  EXPECT_EQ(target->account_id, "123456789012");
  EXPECT_EQ(target->permission_set_name, "AdminAccess");
  EXPECT_EQ(target->Name(), "aws:account/123456789012/permission-set/AdminAccess");
}

TEST(AwsTargetTest, ParsesApplicationTargets) {
  auto target = ParseTarget("aws:application/Payroll and HR");
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  EXPECT_EQ(target->type, TargetType::kApplication);
  EXPECT_EQ(target->application_name, "Payroll and HR");
  EXPECT_EQ(target->Name(), "aws:application/Payroll and HR");
}

TEST(AwsTargetTest, RefusesOtherForms) {
  for (const char* name :
       {"app:payroll", "aws:account/12345678901/permission-set/X",
        "aws:account/12345678901a/permission-set/X", "aws:account/123456789012/permission-set/",
        "aws:account/123456789012/permission-set/a/b", "aws:account/123456789012/AdminAccess",
        "aws:application/", ""}) {
    auto target = ParseTarget(name);
    ASSERT_FALSE(target.ok()) << name;
    EXPECT_EQ(target.status().code(), Status::Code::kInvalidArgument) << name;
    EXPECT_NE(target.status().message().find("aws:account/ACCOUNT/permission-set/NAME"),
              std::string::npos)
        << target.status().message();
  }
}

TEST(AwsTargetTest, RefJsonCarriesTheArnsAndReadsBack) {
  Target account = *ParseTarget("aws:account/123456789012/permission-set/ReadOnly");
  account.permission_set_arn = kPermissionSetArn;
  const std::string account_ref = account.RefJson(kInstance);
  EXPECT_EQ(account_ref, std::string("{\"instanceArn\":\"") + kInstance +
                             "\",\"accountId\":\"123456789012\",\"permissionSetArn\":\"" +
                             kPermissionSetArn + "\"}");
  auto back = TargetFromLedger(account.Name(), account_ref);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, account);

  Target application = *ParseTarget("aws:application/Payroll");
  application.application_arn = kApplicationArn;
  const std::string application_ref = application.RefJson(kInstance);
  EXPECT_EQ(application_ref, std::string("{\"instanceArn\":\"") + kInstance +
                                 "\",\"applicationArn\":\"" + kApplicationArn + "\"}");
  auto app_back = TargetFromLedger(application.Name(), application_ref);
  ASSERT_TRUE(app_back.ok()) << app_back.status().ToString();
  EXPECT_EQ(*app_back, application);
}

TEST(AwsTargetTest, TargetFromLedgerWithoutRefHasNoArns) {
  auto target = TargetFromLedger("aws:account/123456789012/permission-set/ReadOnly", "");
  ASSERT_TRUE(target.ok());
  EXPECT_TRUE(target->permission_set_arn.empty());
}

TEST(AwsTargetTest, TargetFromLedgerRefusesABadRef) {
  EXPECT_FALSE(TargetFromLedger("aws:application/Payroll", "not json").ok());
  EXPECT_FALSE(TargetFromLedger("aws:application/Payroll", "[1]").ok());
  // The ref names another account than the target.
  auto other = TargetFromLedger("aws:account/123456789012/permission-set/ReadOnly",
                                R"({"accountId":"210987654321","permissionSetArn":"x"})");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("210987654321"), std::string::npos);
  EXPECT_FALSE(TargetFromLedger("app:payroll", "").ok());
}

TEST(AwsTargetTest, CatalogResolvesByNameAndArn) {
  Catalog catalog;
  catalog.permission_sets["ReadOnly"] = kPermissionSetArn;
  catalog.applications["Payroll"] = kApplicationArn;
  Target account = *ParseTarget("aws:account/123456789012/permission-set/ReadOnly");
  ASSERT_TRUE(catalog.Resolve(&account).ok());
  EXPECT_EQ(account.permission_set_arn, kPermissionSetArn);
  Target application = *ParseTarget("aws:application/Payroll");
  ASSERT_TRUE(catalog.Resolve(&application).ok());
  EXPECT_EQ(application.application_arn, kApplicationArn);
  Target missing = *ParseTarget("aws:account/123456789012/permission-set/Gone");
  Status st = catalog.Resolve(&missing);
  EXPECT_EQ(st.code(), Status::Code::kNotFound);
  EXPECT_NE(st.message().find("Gone"), std::string::npos);
  EXPECT_EQ(catalog.PermissionSetName(kPermissionSetArn), "ReadOnly");
  EXPECT_EQ(catalog.ApplicationName(kApplicationArn), "Payroll");
  EXPECT_EQ(catalog.ApplicationName("arn:unknown"), "");
}

// ---- linking ------------------------------------------------------------

SyncObject User(char tag, const std::string& upn, const std::string& mail) {
  SyncObject o;
  o.guid = std::string(16, tag);
  o.kind = ObjectKind::kUser;
  o.external_id = std::string("0000000") + tag + "-0000-0000-0000-000000000000";
  o.name = upn;
  o.source.Mutable().user_principal_name = upn;
  o.source.Mutable().mail = mail;
  return o;
}

SyncObject Group(char tag, const std::string& name) {
  SyncObject o;
  o.guid = std::string(16, tag);
  o.kind = ObjectKind::kGroup;
  o.external_id = std::string("0000000") + tag + "-0000-0000-0000-000000000000";
  o.name = name;
  o.attributes["displayName"] = name;
  return o;
}

Principal UserPrincipal(const std::string& id, const std::string& user_name,
                        std::vector<std::string> emails = {},
                        std::vector<std::string> external_ids = {}) {
  return Principal{.type = PrincipalType::kUser,
                   .id = id,
                   .name = user_name,
                   .emails = std::move(emails),
                   .external_ids = std::move(external_ids)};
}

Principal GroupPrincipal(const std::string& id, const std::string& display_name,
                         std::vector<std::string> external_ids = {}) {
  return Principal{.type = PrincipalType::kGroup,
                   .id = id,
                   .name = display_name,
                   .emails = {},
                   .external_ids = std::move(external_ids)};
}

class LinkTest : public ::testing::Test {
 protected:
  LinkTest()
      : objects_({User('a', "alice@corp.example", "alice@example.com"),
                  User('b', "bob@corp.example", "bob@example.com"),
                  User('c', "carol@corp.example", "shared@example.com"),
                  User('d', "dave@corp.example", "shared@example.com"), Group('e', "Engineers"),
                  Group('f', "Finance")}),
        index_(objects_) {}

  std::vector<SyncObject> objects_;
  LinkIndex index_;
};

TEST_F(LinkTest, ExternalIdLinksFirstIgnoringCase) {
  // Its userName names bob, but the externalId syncd set is alice's.
  auto link = index_.Link(
      UserPrincipal("u1", "bob@corp.example", {}, {"0000000A-0000-0000-0000-000000000000"}));
  EXPECT_EQ(link.status, LinkStatus::kLinked);
  EXPECT_EQ(link.rule, LinkRule::kExternalId);
  EXPECT_EQ(link.object, 0U);
  EXPECT_NE(link.detail.find("alice@corp.example"), std::string::npos) << link.detail;
}

TEST_F(LinkTest, UserNameMatchesUserPrincipalNameIgnoringCase) {
  auto link = index_.Link(
      UserPrincipal("u2", "BOB@Corp.Example", {"nobody@example.com"}, {"not-a-known-id"}));
  EXPECT_EQ(link.status, LinkStatus::kLinked);
  EXPECT_EQ(link.rule, LinkRule::kUserName);
  EXPECT_EQ(link.object, 1U);
}

TEST_F(LinkTest, AnEmailMatchesMail) {
  auto link = index_.Link(UserPrincipal("u3", "a.smith", {"other@x.example", "ALICE@example.com"}));
  EXPECT_EQ(link.status, LinkStatus::kLinked);
  EXPECT_EQ(link.rule, LinkRule::kEmail);
  EXPECT_EQ(link.object, 0U);
}

TEST_F(LinkTest, SeveralMatchesLeaveItUnmatchedNamingThem) {
  auto link = index_.Link(UserPrincipal("u4", "c.d", {"shared@example.com"}));
  EXPECT_EQ(link.status, LinkStatus::kUnmatched);
  EXPECT_EQ(link.rule, LinkRule::kEmail);
  EXPECT_EQ(link.candidates, (std::vector<size_t>{2, 3}));
  EXPECT_FALSE(link.object);
  EXPECT_NE(link.detail.find("carol@corp.example"), std::string::npos) << link.detail;
  EXPECT_NE(link.detail.find("dave@corp.example"), std::string::npos) << link.detail;
}

TEST_F(LinkTest, TheFirstRuleThatFindsAnyoneDecides) {
  // userName finds bob: the email, which would find carol and dave, is not
  // consulted.
  auto link = index_.Link(UserPrincipal("u5", "bob@corp.example", {"shared@example.com"}));
  EXPECT_EQ(link.status, LinkStatus::kLinked);
  EXPECT_EQ(link.object, 1U);
}

TEST_F(LinkTest, NothingMatchesSaysWhatWasTried) {
  auto link = index_.Link(UserPrincipal("u6", "mallory", {"mallory@example.com"}));
  EXPECT_EQ(link.status, LinkStatus::kUnmatched);
  EXPECT_FALSE(link.rule);
  EXPECT_NE(link.detail.find("no AD user"), std::string::npos) << link.detail;
}

TEST_F(LinkTest, GroupsLinkByDisplayNameIgnoringCase) {
  auto link = index_.Link(GroupPrincipal("g1", "ENGINEERS"));
  EXPECT_EQ(link.status, LinkStatus::kLinked);
  EXPECT_EQ(link.rule, LinkRule::kDisplayName);
  EXPECT_EQ(link.object, 4U);
}

TEST_F(LinkTest, APrincipalLinksOnlyToItsKind) {
  // A group whose ExternalIds name a user's externalId, a user named like a
  // group: neither links across kinds.
  EXPECT_EQ(
      index_.Link(GroupPrincipal("g2", "Nobody", {"0000000a-0000-0000-0000-000000000000"})).status,
      LinkStatus::kUnmatched);
  EXPECT_EQ(index_.Link(UserPrincipal("u7", "Finance")).status, LinkStatus::kUnmatched);
}

TEST_F(LinkTest, GroupsByExternalId) {
  auto link =
      index_.Link(GroupPrincipal("g3", "Renamed", {"0000000f-0000-0000-0000-000000000000"}));
  EXPECT_EQ(link.status, LinkStatus::kLinked);
  EXPECT_EQ(link.rule, LinkRule::kExternalId);
  EXPECT_EQ(link.object, 5U);
}

TEST_F(LinkTest, LinkAssignmentsMarksPrincipalsNotDescribedAsOrphans) {
  Target target = *ParseTarget("aws:application/Payroll");
  std::vector<LiveAssignment> live = {
      {.target = target, .principal_type = PrincipalType::kUser, .principal_id = "u1"},
      {.target = target, .principal_type = PrincipalType::kUser, .principal_id = "gone"},
      {.target = target, .principal_type = PrincipalType::kGroup, .principal_id = "g1"},
      {.target = target, .principal_type = PrincipalType::kUser, .principal_id = "u6"}};
  std::map<std::string, Principal> principals = {{"u1", UserPrincipal("u1", "alice@corp.example")},
                                                 {"g1", GroupPrincipal("g1", "Finance")},
                                                 {"u6", UserPrincipal("u6", "mallory")}};
  auto captured = LinkAssignments(live, principals, objects_);
  ASSERT_EQ(captured.size(), 4U);
  EXPECT_EQ(captured[0].link.status, LinkStatus::kLinked);
  EXPECT_EQ(captured[0].principal_name, "alice@corp.example");
  EXPECT_EQ(captured[1].link.status, LinkStatus::kOrphan);
  EXPECT_EQ(captured[1].principal_name, "");
  EXPECT_NE(captured[1].link.detail.find("gone"), std::string::npos);
  EXPECT_EQ(captured[2].link.status, LinkStatus::kLinked);
  EXPECT_EQ(captured[2].link.object, 5U);
  EXPECT_EQ(captured[3].link.status, LinkStatus::kUnmatched);
  EXPECT_EQ(captured[3].assignment, live[3]);
}

// ---- the capture's state API ---------------------------------------------

class CaptureStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    auto db = StateDb::Open(dir_.path() + "/state.db");
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
  }

  static AwsCaptureRow Row(const std::string& target, const std::string& principal_id,
                           AwsCaptureStatus status, const std::string& guid = "") {
    AwsCaptureRow row;
    row.target = target;
    row.target_ref = "{}";
    row.principal_type = "USER";
    row.principal_id = principal_id;
    row.principal_name = principal_id + "-name";
    row.status = status;
    row.guid = guid;
    row.detail = "why " + principal_id;
    row.captured_at = 1000;
    return row;
  }

  syncd::testing::TempDir dir_;
  std::unique_ptr<StateDb> db_;
};

TEST_F(CaptureStateTest, SavesAdditionsAndRowsTogether) {
  const SyncObject alice = User('a', "alice@corp.example", "alice@example.com");
  const std::string target = "aws:application/Payroll";
  std::vector<LedgerEntry> additions = {LedgerEntryFor(alice, target)};
  additions[0].target_ref = R"({"instanceArn":"i","applicationArn":"a"})";
  additions[0].created_at = additions[0].changed_at = 1000;
  std::vector<AwsCaptureRow> rows = {Row(target, "u1", AwsCaptureStatus::kLinked, alice.guid),
                                     Row(target, "u2", AwsCaptureStatus::kOrphan),
                                     Row(target, "u3", AwsCaptureStatus::kUnmatched)};
  ASSERT_TRUE(db_->SaveAwsCapture("d-1", &additions, rows).ok());
  ASSERT_NE(additions[0].id, 0);

  auto ledger = db_->LoadLedger();
  ASSERT_TRUE(ledger.ok());
  ASSERT_EQ(ledger->size(), 1U);
  EXPECT_EQ((*ledger)[0].target_ref, additions[0].target_ref);
  EXPECT_EQ((*ledger)[0].principal.source->user_principal_name, "alice@corp.example");

  auto loaded = db_->LoadAwsCapture("d-1");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 3U);
  // Unmatched, orphan, then linked.
  EXPECT_EQ((*loaded)[0].principal_id, "u3");
  EXPECT_EQ((*loaded)[1].principal_id, "u2");
  EXPECT_EQ((*loaded)[1].status, AwsCaptureStatus::kOrphan);
  EXPECT_EQ((*loaded)[1].ledger_id, 0);
  const AwsCaptureRow& linked = (*loaded)[2];
  EXPECT_EQ(linked.status, AwsCaptureStatus::kLinked);
  EXPECT_EQ(linked.ledger_id, additions[0].id);
  EXPECT_EQ(linked.guid, alice.guid);
  EXPECT_EQ(linked.detail, "why u1");
  EXPECT_EQ(linked.principal_name, "u1-name");
  EXPECT_EQ(linked.captured_at, 1000);
}

TEST_F(CaptureStateTest, ReplacesOnlyTheSameIdentityStore) {
  std::vector<LedgerEntry> none;
  ASSERT_TRUE(db_->SaveAwsCapture("d-1", &none,
                                  {Row("aws:application/A", "u1", AwsCaptureStatus::kOrphan),
                                   Row("aws:application/B", "u2", AwsCaptureStatus::kOrphan)})
                  .ok());
  ASSERT_TRUE(
      db_->SaveAwsCapture("d-2", &none, {Row("aws:application/A", "u9", AwsCaptureStatus::kOrphan)})
          .ok());
  ASSERT_TRUE(
      db_->SaveAwsCapture("d-1", &none, {Row("aws:application/C", "u3", AwsCaptureStatus::kOrphan)})
          .ok());
  auto first = db_->LoadAwsCapture("d-1");
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1U);
  EXPECT_EQ((*first)[0].principal_id, "u3");
  auto second = db_->LoadAwsCapture("d-2");
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 1U);
}

TEST_F(CaptureStateTest, AFailureSavesNothing) {
  const SyncObject alice = User('a', "alice@corp.example", "alice@example.com");
  std::vector<LedgerEntry> none;
  ASSERT_TRUE(
      db_->SaveAwsCapture("d-1", &none, {Row("aws:application/A", "u1", AwsCaptureStatus::kOrphan)})
          .ok());
  // Two active entries for one principal and target: refused, and neither
  // the ledger nor the capture changes.
  std::vector<LedgerEntry> twice = {LedgerEntryFor(alice, "aws:application/A"),
                                    LedgerEntryFor(alice, "aws:application/A")};
  EXPECT_FALSE(db_->SaveAwsCapture("d-1", &twice,
                                   {Row("aws:application/B", "u2", AwsCaptureStatus::kOrphan)})
                   .ok());
  auto ledger = db_->LoadLedger();
  ASSERT_TRUE(ledger.ok());
  EXPECT_TRUE(ledger->empty());
  auto rows = db_->LoadAwsCapture("d-1");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1U);
  EXPECT_EQ((*rows)[0].principal_id, "u1");
}

TEST_F(CaptureStateTest, ADryRunStateRefusesToSave) {
  db_.reset();
  auto read_only = StateDb::Open(dir_.path() + "/state.db", /*read_only=*/true);
  ASSERT_TRUE(read_only.ok());
  std::vector<LedgerEntry> none;
  EXPECT_FALSE((*read_only)->SaveAwsCapture("d-1", &none, {}).ok());
  auto rows = (*read_only)->LoadAwsCapture("d-1");
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->empty());
}

}  // namespace
}  // namespace syncd::identity_center
