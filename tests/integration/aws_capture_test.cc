// The IAM Identity Center capture end to end: the real Samba DC synced by
// syncd through the SCIM sink into the AWS test peer (tests/aws-peer: moto
// with a SCIM front that writes into its identity store), assignments made
// there with the admin keys as an operator would in the console, then
// `syncd assignments import --from aws` and the switch detection of runs.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cctype>
#include <cstdlib>
#include <string>

#include "tests/integration/aws_testbed.h"
#include "tests/integration/testbed.h"

namespace syncd::testing {
namespace {

namespace json = boost::json;

// Adds the users and the group the tests assign, under `ou`.
void AddPrincipals(TestDc& dc, const std::string& ou) {
  for (const char* name : {"Alice", "Bob", "Carol"}) {
    const std::string sam =
        std::string("aws") + static_cast<char>(std::tolower(name[0])) + std::string(name + 1);
    dc.AddUser(ou, name, sam,
               "sn: Tester\ndisplayName: " + std::string(name) + " Tester\nmail: " + sam +
                   "@example.com\n");
  }
  dc.Modify("dn: CN=AwsAdmins," + ou +
            "\nchangetype: add\nobjectClass: group\nsAMAccountName: awsadmins\n");
}

// The operator's assignments: alice and the group on two accounts, bob on
// the application; a user made by hand in the identity store (no AD
// match) and one deleted after its assignment (an orphan).
const char kAssign[] = R"(
def uid(name):
    return ids.get_user_id(IdentityStoreId=store, AlternateIdentifier={'UniqueAttribute': {
        'AttributePath': 'userName', 'AttributeValue': name}})['UserId']
gid = ids.get_group_id(IdentityStoreId=store, AlternateIdentifier={'UniqueAttribute': {
    'AttributePath': 'displayName', 'AttributeValue': 'AwsAdmins'}})['GroupId']
ps = sorted(sso.list_permission_sets(InstanceArn=arn)['PermissionSets'])
app = sso.list_applications(InstanceArn=arn)['Applications'][0]['ApplicationArn']
def assign(account, p, kind, pid):
    sso.create_account_assignment(InstanceArn=arn, TargetId=account, TargetType='AWS_ACCOUNT',
                                  PermissionSetArn=p, PrincipalType=kind, PrincipalId=pid)
def hand_made(name):
    return ids.create_user(IdentityStoreId=store, UserName=name, DisplayName=name,
                           Name={'GivenName': name, 'FamilyName': 'Hand'})['UserId']
assign(accounts[0], ps[0], 'USER', uid('awsalice@corp.example.com'))
assign(accounts[1], ps[1], 'GROUP', gid)
sso.create_application_assignment(ApplicationArn=app, PrincipalType='USER',
                                  PrincipalId=uid('awsbob@corp.example.com'))
assign(accounts[0], ps[1], 'USER', hand_made('stranger'))
ghost = hand_made('ghost')
assign(accounts[1], ps[0], 'USER', ghost)
ids.delete_user(IdentityStoreId=store, UserId=ghost)
print(json.dumps({'store': store}))
)";

int CountOf(const json::object& doc, const char* status) {
  return static_cast<int>(doc.at("counts").at(status).as_int64());
}

class AwsCapture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(peer_.ok()) << "the AWS peer did not start";
    // One OU for every test: FreshOu removes the last one's principals,
    // whose sAMAccountNames the next test takes again.
    ou_ = TestDc::Get().FreshOu("AwsCapture");
    AddPrincipals(TestDc::Get(), ou_);
  }

  AwsPeer peer_{"--permission-sets 2 --applications 1 --accounts 2"};
  std::string ou_;
};

TEST_F(AwsCapture, ImportsEveryAssignmentWithItsAdKeysAndReportsTheRest) {
  AwsRun run(peer_, ou_);
  CommandResult once = run.Syncd("--once");
  ASSERT_EQ(once.exit_code, 0) << once.out << once.err;
  CommandResult assigned = peer_.Admin(kAssign);
  ASSERT_EQ(assigned.exit_code, 0) << assigned.err;

  // --dry-run says what it would record and records nothing.
  CommandResult dry = run.Syncd("assignments import --from aws --dry-run --json");
  ASSERT_EQ(dry.exit_code, 2) << dry.out << dry.err;
  json::object preview = json::parse(dry.out).as_object();
  EXPECT_EQ(CountOf(preview, "added"), 3);
  EXPECT_EQ(run.run().StateSql("SELECT count(*) FROM assignments").out, "0\n");
  EXPECT_EQ(run.run().StateSql("SELECT count(*) FROM aws_capture").out, "0\n");

  CommandResult imported = run.Syncd("assignments import --from aws --json");
  ASSERT_EQ(imported.exit_code, 2) << imported.out << imported.err;
  json::object doc = json::parse(imported.out).as_object();
  EXPECT_EQ(CountOf(doc, "linked"), 3);
  EXPECT_EQ(CountOf(doc, "unmatched"), 1);
  EXPECT_EQ(CountOf(doc, "orphan"), 1);
  EXPECT_EQ(CountOf(doc, "added"), 3);
  EXPECT_EQ(doc.at("identityStoreId").as_string(), peer_.Str("identity_store_id"));

  // The ledger carries the AD keys and the ARNs.
  CommandResult ledger = run.run().StateSql(
      "SELECT kind, user_principal_name, sam_account_name, target, "
      "json_extract(target_ref, '$.instanceArn') = '" +
      peer_.Str("instance_arn") + "', status FROM assignments ORDER BY target, kind");
  ASSERT_EQ(ledger.exit_code, 0) << ledger.err;
  EXPECT_NE(ledger.out.find("user|awsalice@corp.example.com|awsalice|aws:account/"),
            std::string::npos)
      << ledger.out;
  EXPECT_NE(ledger.out.find("group||awsadmins|aws:account/"), std::string::npos) << ledger.out;
  EXPECT_NE(ledger.out.find("user|awsbob@corp.example.com|awsbob|aws:application/"),
            std::string::npos)
      << ledger.out;
  EXPECT_EQ(ledger.out.find("|0|"), std::string::npos) << "a target_ref without the instance";

  // The capture rows: linked rows point at their ledger entry.
  CommandResult rows = run.run().StateSql(
      "SELECT status, principal_name, ledger_id IS NOT NULL FROM aws_capture ORDER BY status, "
      "principal_name");
  EXPECT_NE(rows.out.find("linked|AwsAdmins|1"), std::string::npos) << rows.out;
  EXPECT_NE(rows.out.find("unmatched|stranger|0"), std::string::npos) << rows.out;
  EXPECT_NE(rows.out.find("orphan||0"), std::string::npos) << rows.out;

  // Text: a line per status and per unmatched or orphaned assignment; a
  // second import adds nothing.
  CommandResult again = run.Syncd("assignments import --from aws");
  EXPECT_EQ(again.exit_code, 2) << again.err;
  EXPECT_NE(again.out.find("linked: 3 (0 new ledger entries)"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("unmatched aws:account/"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("user stranger ("), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("orphan aws:account/"), std::string::npos) << again.out;
  EXPECT_EQ(run.run().StateSql("SELECT count(*) FROM assignments").out, "3\n");

  // The file import still works beside --from.
  CommandResult both = run.Syncd("assignments import some.json --from aws");
  EXPECT_NE(both.exit_code, 0);
}

TEST_F(AwsCapture, AThrottledListCallIsRetriedAndTheCaptureIsComplete) {
  AwsRun run(peer_, ou_);
  ASSERT_EQ(run.Syncd("--once").exit_code, 0);
  ASSERT_EQ(peer_.Admin(kAssign).exit_code, 0);
  CommandResult faults = peer_.Admin("print(control('/faults', {'list_throttle_every': 2}))");
  ASSERT_EQ(faults.exit_code, 0) << faults.err;
  CommandResult imported = run.Syncd("assignments import --from aws --json");
  ASSERT_EQ(imported.exit_code, 2) << imported.out << imported.err;
  json::object doc = json::parse(imported.out).as_object();
  EXPECT_EQ(CountOf(doc, "linked"), 3);
  EXPECT_EQ(CountOf(doc, "unmatched"), 1);
  EXPECT_EQ(CountOf(doc, "orphan"), 1);
  CommandResult stats = peer_.Admin("print(stats()['throttles_by_reason'].get('list', 0))");
  EXPECT_GT(std::atoi(stats.out.c_str()), 0) << stats.out << stats.err;
}

TEST_F(AwsCapture, AListCallThatKeepsFailingLeavesEverythingAsItWas) {
  AwsRun run(peer_, ou_);
  ASSERT_EQ(run.Syncd("--once").exit_code, 0);
  ASSERT_EQ(peer_.Admin(kAssign).exit_code, 0);
  ASSERT_EQ(run.Syncd("assignments import --from aws").exit_code, 2);
  const std::string before =
      run.run().StateSql("SELECT * FROM assignments; SELECT * FROM aws_capture").out;
  // Every ListApplicationAssignments is throttled: after its retries the
  // capture stops, naming the call, and changes nothing.
  CommandResult faults = peer_.Admin(
      "control('/faults', {'list_throttle_every': 1, "
      "'list_throttle_ops': ['ListApplicationAssignments']})");
  ASSERT_EQ(faults.exit_code, 0) << faults.err;
  CommandResult failed = run.Syncd("assignments import --from aws");
  EXPECT_EQ(failed.exit_code, 1) << failed.out << failed.err;
  EXPECT_NE(failed.err.find("capture incomplete"), std::string::npos) << failed.err;
  EXPECT_NE(failed.err.find("ListApplicationAssignments"), std::string::npos) << failed.err;
  EXPECT_EQ(run.run().StateSql("SELECT * FROM assignments; SELECT * FROM aws_capture").out, before);
}

TEST_F(AwsCapture, ASourceSwitchFreezesDeletesUntilTheReapply) {
  AwsRun run(peer_, ou_, "capture = true\n");
  CommandResult first = run.Syncd("--once");
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_EQ(run.run().StateSql("SELECT identity_store_id, reapply_pending FROM aws_instance").out,
            peer_.Str("identity_store_id") + "|0\n");

  CommandResult switched = peer_.Admin("print(control('/switch-source')['identity_store_id'])");
  ASSERT_EQ(switched.exit_code, 0) << switched.err;
  CommandResult second = run.Syncd("--once");
  EXPECT_NE(second.err.find("deletes are frozen"), std::string::npos) << second.err;
  EXPECT_EQ(run.run()
                .StateSql("SELECT identity_store_id, previous_identity_store_id, "
                          "reapply_pending, switched_at > 0 FROM aws_instance")
                .out,
            switched.out.substr(0, switched.out.size() - 1) + "|" + peer_.Str("identity_store_id") +
                "|1|1\n");

  // A user leaves AD: its delete is held while the reapply is pending.
  TestDc::Get().Modify("dn: CN=Carol," + ou_ + "\nchangetype: delete\n");
  CommandResult plan = run.Syncd("--dry-run --json");
  json::object parsed = ParsePlan(plan);
  const std::string text = json::serialize(parsed);
  EXPECT_NE(text.find("IAM Identity Center source switch: deletes frozen"), std::string::npos)
      << text;
  EXPECT_EQ(Count(parsed, "user", "held"), 1) << text;
  EXPECT_EQ(Count(parsed, "user", "delete"), 0) << text;
  EXPECT_NE(json::serialize(parsed.at("held")).find("awscarol@"), std::string::npos) << text;
  // The real run holds it too: the state still caches the user.
  CommandResult third = run.Syncd("--once");
  EXPECT_EQ(third.exit_code, 2) << third.out << third.err;
  EXPECT_EQ(run.run().StateSql("SELECT count(*) FROM objects WHERE name LIKE 'awscarol@%'").out,
            "1\n");
}

}  // namespace
}  // namespace syncd::testing
