// The job syncd exists for, end to end with real parts: domain A synced by
// syncd through the SCIM sink into IAM Identity Center (the AWS test peer:
// moto with a SCIM front and a fault layer), assignments made there by the
// operator, captured into the ledger with their AD identity keys; then the
// identity source is switched (every principal and assignment gone) and the
// config moves to domain B, where the accounts were migrated. syncd
// provisions B into the new identity store and reapplies, through SSO Admin,
// every assignment that has a unique match.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "ldap/codec.h"
#include "tests/integration/aws_testbed.h"
#include "tests/integration/testbed.h"

namespace syncd::testing {
namespace {

namespace json = boost::json;

// The operator's assignments in the console, by userName and displayName:
// users and a group on two accounts and two permission sets, and users on
// an application.
const char kOperatorAssigns[] = R"(
def uid(name):
    return ids.get_user_id(IdentityStoreId=store, AlternateIdentifier={'UniqueAttribute': {
        'AttributePath': 'userName', 'AttributeValue': name}})['UserId']
def gid(name):
    return ids.get_group_id(IdentityStoreId=store, AlternateIdentifier={'UniqueAttribute': {
        'AttributePath': 'displayName', 'AttributeValue': name}})['GroupId']
ps = sorted(sso.list_permission_sets(InstanceArn=arn)['PermissionSets'])
app = sso.list_applications(InstanceArn=arn)['Applications'][0]['ApplicationArn']
def assign(account, p, kind, pid):
    sso.create_account_assignment(InstanceArn=arn, TargetId=account, TargetType='AWS_ACCOUNT',
                                  PermissionSetArn=p, PrincipalType=kind, PrincipalId=pid)
assign(accounts[0], ps[0], 'USER', uid('seedalice@corp.example.com'))
sso.create_application_assignment(ApplicationArn=app, PrincipalType='USER',
                                  PrincipalId=uid('seedalice@corp.example.com'))
assign(accounts[0], ps[1], 'USER', uid('seedbob@corp.example.com'))
assign(accounts[1], ps[0], 'USER', uid('seedcarol@corp.example.com'))
sso.create_application_assignment(ApplicationArn=app, PrincipalType='USER',
                                  PrincipalId=uid('seeddave@corp.example.com'))
assign(accounts[1], ps[1], 'USER', uid('seederin@corp.example.com'))
assign(accounts[0], ps[0], 'USER', uid('seedfrank@corp.example.com'))
assign(accounts[1], ps[0], 'GROUP', gid('SeedEngineers'))
)";

// Every assignment the instance holds now, as "KIND name account-index
// permission-set-index" or "KIND name app", sorted.
const char kLiveAssignments[] = R"(
ps = sorted(sso.list_permission_sets(InstanceArn=arn)['PermissionSets'])
app = sso.list_applications(InstanceArn=arn)['Applications'][0]['ApplicationArn']
def name(kind, pid):
    if kind == 'USER':
        return ids.describe_user(IdentityStoreId=store, UserId=pid)['UserName']
    return ids.describe_group(IdentityStoreId=store, GroupId=pid)['DisplayName']
lines = []
for a, account in enumerate(accounts):
    for p, permission_set in enumerate(ps):
        for x in sso.list_account_assignments(InstanceArn=arn, AccountId=account,
                                              PermissionSetArn=permission_set)['AccountAssignments']:
            lines.append('%s %s %d %d' % (x['PrincipalType'], name(x['PrincipalType'], x['PrincipalId']), a, p))
for x in sso.list_application_assignments(ApplicationArn=app)['ApplicationAssignments']:
    lines.append('%s %s app' % (x['PrincipalType'], name(x['PrincipalType'], x['PrincipalId'])))
print('\n'.join(sorted(lines)))
)";

std::set<std::string> Lines(const std::string& text) {
  std::set<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.insert(line);
  }
  return lines;
}

// Calls that change something, from the peer's counters.
int64_t ChangingCalls(const json::object& stats) {
  int64_t n = 0;
  for (const auto& [name, count] : stats.at("calls").as_object()) {
    if (name.find(":Create") != std::string::npos || name.find(":Delete") != std::string::npos) {
      n += count.as_int64();
    }
  }
  return n;
}

// The ledger entry granting `target` (by its AWS name prefix) to the user
// whose UPN is `upn`, from `assignments list --json`.
json::object LedgerEntry(const AwsRun& run, const std::string& upn) {
  CommandResult listed = run.Syncd("assignments list --json");
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  const json::value ledger = json::parse(listed.out);
  for (const auto& e : ledger.as_array()) {
    const auto& principal = e.at("principal").as_object();
    if (principal.contains("userPrincipalName") &&
        principal.at("userPrincipalName").as_string() == upn) {
      return e.as_object();
    }
  }
  ADD_FAILURE() << "no ledger entry for " << upn << "\n" << listed.out;
  return {};
}

TEST(AwsSeedScenario, AssignmentsCapturedInDomainAAreReappliedInDomainBAfterTheSourceSwitch) {
  AwsPeer peer("--permission-sets 2 --applications 1 --accounts 2");
  ASSERT_TRUE(peer.ok()) << "the AWS peer did not start";
  TestDc& a = TestDc::Get();
  const std::string ou = a.FreshOu("AwsSeed");
  // AddUser sets givenName; the aws profile also needs sn and displayName.
  for (const char* name : {"alice", "bob", "erin", "frank"}) {
    a.AddUser(ou, std::string("Seed ") + name, std::string("seed") + name,
              "sn: Seed\ndisplayName: Seed " + std::string(name) + "\n");
  }
  for (const char* name : {"carol", "dave"}) {
    a.AddUser(ou, std::string("Seed ") + name, std::string("seed") + name,
              "sn: Seed\ndisplayName: Seed " + std::string(name) + "\nmail: " + name +
                  "@seed.example.com\n");
  }
  a.Modify("dn: CN=SeedEngineers," + ou +
           "\nchangetype: add\nobjectClass: group\nsAMAccountName: SeedEngineers\n");

  AwsRun run(peer, ou, "", "[assignments]\napplier = \"aws\"\n");
  CommandResult synced = run.Syncd("--once");
  ASSERT_EQ(synced.exit_code, 0) << synced.out << synced.err;
  CommandResult assigned = peer.Admin(kOperatorAssigns);
  ASSERT_EQ(assigned.exit_code, 0) << assigned.err;
  const std::set<std::string> granted_in_a = Lines(peer.Admin(kLiveAssignments).out);
  ASSERT_EQ(granted_in_a.size(), 8u);

  // The capture: every assignment, linked to its AD principal.
  CommandResult captured = run.Syncd("assignments import --from aws --json");
  ASSERT_EQ(captured.exit_code, 0) << captured.out << captured.err;
  const json::object capture = json::parse(captured.out).as_object();
  EXPECT_EQ(capture.at("counts").at("linked").as_int64(), 8) << captured.out;
  const json::object alice = LedgerEntry(run, "seedalice@corp.example.com");
  ASSERT_FALSE(alice.empty());
  const std::string alice_sid = std::string(alice.at("principal").at("objectSid").as_string());
  EXPECT_EQ(alice.at("principal").at("sAMAccountName").as_string(), "seedalice");
  const json::object frank = LedgerEntry(run, "seedfrank@corp.example.com");
  ASSERT_FALSE(frank.empty());
  const std::string frank_guid = std::string(frank.at("principal").at("objectGUID").as_string());
  const json::object dave = LedgerEntry(run, "seeddave@corp.example.com");
  ASSERT_FALSE(dave.empty());
  const std::string dave_guid = std::string(dave.at("principal").at("objectGUID").as_string());

  // The switch: the identity source changes in AWS (every principal and
  // assignment gone) and AD moves to domain B, where the accounts were
  // migrated.
  json::value switched = peer.Control("/switch-source");
  ASSERT_TRUE(switched.is_object());
  std::optional<HaltedDc> halted;
  halted.emplace();
  auto b = TestDc::StartRealm("NEWCORP.EXAMPLE.NET");
  const std::string b_ou = "OU=Migrated," + b->BaseDn();
  b->Modify("dn: " + b_ou + "\nchangetype: add\nobjectClass: organizationalUnit\n");
  auto add = [&](const std::string& cn, const std::string& sam, const std::string& upn,
                 const std::string& extra) {
    b->Modify("dn: CN=" + cn + "," + b_ou +
              "\nchangetype: add\nobjectClass: user\nsn: Seed\ngivenName: " + cn + "\n" +
              "displayName: " + cn + "\nsAMAccountName: " + sam + "\nuserPrincipalName: " + upn +
              "\nuserAccountControl: 514\n" + extra);
  };
  add("Alice B", "alice.b", "alice.b@newcorp.example.net", "");  // by sIDHistory
  b->AddSidHistory("CN=Alice B," + b_ou, alice_sid);
  add("Robert", "robert", "seedbob@corp.example.com", "");  // by UPN only
  add("Carol B", "carol.b", "carol.b@newcorp.example.net", "mail: carol@seed.example.com\n");
  // Renamed, carrying the old objectGUID as its anchor.
  add("Francis", "francis", "francis@newcorp.example.net",
      "mS-DS-ConsistencyGuid:: " + Base64Encode(*ldap::GuidFromString(frank_guid)) + "\n");
  // A migration run twice: both copies carry dave's anchor (an ambiguous
  // pair; a shared mail would not do here, as the identity store refuses
  // a second user with the same email).
  const std::string dave_anchor =
      "mS-DS-ConsistencyGuid:: " + Base64Encode(*ldap::GuidFromString(dave_guid)) + "\n";
  add("Dave One", "dave.one", "dave.one@newcorp.example.net", dave_anchor);
  add("Dave Two", "dave.two", "dave.two@newcorp.example.net", dave_anchor);
  b->Modify("dn: CN=SeedEngineers," + b_ou +
            "\nchangetype: add\nobjectClass: group\nsAMAccountName: SeedEngineers\n");
  // erin has no counterpart.

  std::string config = run.config();
  const size_t source_at = config.find("[source]");
  const size_t store_at = config.find("[store]");
  ASSERT_TRUE(source_at != std::string::npos && store_at != std::string::npos) << config;
  config.replace(source_at, store_at - source_at,
                 "[source]\nuris = [\"" + b->Value("URI") + "\"]\nbase_dn = \"" + b->BaseDn() +
                     "\"\nbind_dn = \"" + b->Value("BIND_DN") + "\"\npassword_file = \"" +
                     b->Value("PASSWORD_FILE") + "\"\ntls_ca_file = \"" + b->Value("CA_FILE") +
                     "\"\n[scope]\n" + OuScope(b_ou) + "\n");
  run.WriteConfig(config);

  // The run after the switch rebuilds the new identity store from B.
  CommandResult provisioned = run.Syncd("--once");
  EXPECT_NE(provisioned.err.find("changed from " + peer.Str("identity_store_id")),
            std::string::npos)
      << provisioned.err;
  CommandResult status = run.Syncd("status");
  EXPECT_NE(status.out.find("(was " + peer.Str("identity_store_id")), std::string::npos)
      << status.out;
  CommandResult users = peer.Admin(
      "print('\\n'.join(sorted(u['UserName'] for u in ids.list_users(IdentityStoreId=store)"
      "['Users'])))");
  EXPECT_EQ(Lines(users.out),
            (std::set<std::string>{"alice.b@newcorp.example.net", "seedbob@corp.example.com",
                                   "carol.b@newcorp.example.net", "francis@newcorp.example.net",
                                   "dave.one@newcorp.example.net", "dave.two@newcorp.example.net"}))
      << provisioned.out << provisioned.err;

  // The dry run: exactly the calls, and nothing changes.
  const int64_t changing_before = ChangingCalls(peer.Stats());
  CommandResult dry = run.Syncd("assignments reapply --dry-run");
  EXPECT_EQ(dry.exit_code, 2) << dry.out << dry.err;
  size_t create_calls = 0;
  for (const auto& line : Lines(dry.out)) {
    if (line.starts_with("CreateAccountAssignment ") ||
        line.starts_with("CreateApplicationAssignment ")) {
      ++create_calls;
    }
  }
  EXPECT_EQ(create_calls, 6u) << dry.out;
  EXPECT_EQ(ChangingCalls(peer.Stats()), changing_before) << "a dry run changes nothing";

  // The reapply: every unique match restored; the ambiguous and the missing
  // one reported.
  CommandResult reapplied = run.Syncd("assignments reapply");
  EXPECT_EQ(reapplied.exit_code, 2) << reapplied.out << reapplied.err;
  EXPECT_NE(reapplied.out.find("ambiguous"), std::string::npos) << reapplied.out;
  EXPECT_NE(reapplied.out.find("missing"), std::string::npos) << reapplied.out;
  EXPECT_EQ(Lines(peer.Admin(kLiveAssignments).out), (std::set<std::string>{
                                                         "USER alice.b@newcorp.example.net 0 0",
                                                         "USER alice.b@newcorp.example.net app",
                                                         "USER seedbob@corp.example.com 0 1",
                                                         "USER carol.b@newcorp.example.net 1 0",
                                                         "USER francis@newcorp.example.net 0 0",
                                                         "GROUP SeedEngineers 1 0",
                                                     }));
  EXPECT_TRUE(peer.Stats().at("duplicate_creates").as_object().empty());

  // Again: no call that changes anything.
  const int64_t changing_after = ChangingCalls(peer.Stats());
  CommandResult again = run.Syncd("assignments reapply");
  EXPECT_EQ(again.exit_code, 2) << again.out << again.err;
  EXPECT_EQ(ChangingCalls(peer.Stats()), changing_after) << again.out;
  b.reset();
  halted.reset();
}

}  // namespace
}  // namespace syncd::testing
