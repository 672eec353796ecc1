// The IAM Identity Center reapply end to end: principals of the real Samba
// DC provisioned by syncd's SCIM sink into the AWS test peer, assignments
// made there with the admin keys and captured with `import --from aws`,
// the source switched (every principal and assignment gone), the principals
// provisioned again by a run, then `syncd assignments reapply` through SSO
// Admin under the peer's faults. One peer serves the suite (each test
// starts from a switch: a fresh identity store); only the policy test
// needs a peer of its own.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "tests/integration/aws_testbed.h"
#include "tests/integration/testbed.h"

namespace syncd::testing {
namespace {

namespace json = boost::json;
using std::chrono::seconds;

// Python helpers for AwsPeer::Admin: the principals syncd provisioned (by
// sAMAccountName), the permission sets and application, assignments made
// and removed as the console does (waiting for the operation), and `live()`:
// every account and application assignment, as sorted text lines.
const char kHelpers[] = R"(
import time
def uid(sam):
    return ids.get_user_id(IdentityStoreId=store, AlternateIdentifier={'UniqueAttribute': {
        'AttributePath': 'userName', 'AttributeValue': sam + '@corp.example.com'}})['UserId']
def gid(name):
    return ids.get_group_id(IdentityStoreId=store, AlternateIdentifier={'UniqueAttribute': {
        'AttributePath': 'displayName', 'AttributeValue': name}})['GroupId']
ps = sorted(sso.list_permission_sets(InstanceArn=arn)['PermissionSets'])
app = sso.list_applications(InstanceArn=arn)['Applications'][0]['ApplicationArn']
def settle(status, describe, key, answer):
    while status['Status'] == 'IN_PROGRESS':
        time.sleep(0.05)
        status = describe(InstanceArn=arn, **{key: status['RequestId']})[answer]
    assert status['Status'] == 'SUCCEEDED', status
def assign(account, p, kind, pid):
    s = sso.create_account_assignment(InstanceArn=arn, TargetId=account, TargetType='AWS_ACCOUNT',
        PermissionSetArn=p, PrincipalType=kind, PrincipalId=pid)['AccountAssignmentCreationStatus']
    settle(s, sso.describe_account_assignment_creation_status,
           'AccountAssignmentCreationRequestId', 'AccountAssignmentCreationStatus')
def unassign(account, p, kind, pid):
    s = sso.delete_account_assignment(InstanceArn=arn, TargetId=account, TargetType='AWS_ACCOUNT',
        PermissionSetArn=p, PrincipalType=kind, PrincipalId=pid)['AccountAssignmentDeletionStatus']
    settle(s, sso.describe_account_assignment_deletion_status,
           'AccountAssignmentDeletionRequestId', 'AccountAssignmentDeletionStatus')
def assign_app(kind, pid):
    sso.create_application_assignment(ApplicationArn=app, PrincipalType=kind, PrincipalId=pid)
def live():
    out = []
    for a in accounts:
        for p in ps:
            for x in sso.list_account_assignments(InstanceArn=arn, AccountId=a,
                                                  PermissionSetArn=p)['AccountAssignments']:
                out.append('%s %s %s %s' % (a, p, x['PrincipalType'], x['PrincipalId']))
    for x in sso.list_application_assignments(ApplicationArn=app)['ApplicationAssignments']:
        out.append('app %s %s' % (x['PrincipalType'], x['PrincipalId']))
    return sorted(out)
)";

// The AD principals: four users and a group, once for the suite.
const char* const kUsers[] = {"rpalice", "rpbob", "rpcarol", "rpdave"};
const char kGroup[] = "RpAdmins";

int64_t Num(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_int64() ? v->as_int64() : 0;
}

// stats.calls["sso-admin:Create..."] summed over both create operations.
int64_t Creates(const json::object& stats) {
  const json::object& calls = stats.at("calls").as_object();
  return Num(calls, "sso-admin:CreateAccountAssignment") +
         Num(calls, "sso-admin:CreateApplicationAssignment");
}

// The shell command line of `syncd ARGS` on `run`'s config.
std::string SyncdCommand(const AwsRun& run, const std::string& args);

class AwsReapply : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Polls 300 ms after a create, then every 300 ms up to 1 s: the peer's
    // provisioning delays are seconds, not AWS's minutes.
    setenv("SYNCD_AWS_POLL_MS", "300,300,1000", 1);  // NOLINT(concurrency-mt-unsafe)
    peer_ = new AwsPeer("--permission-sets 3 --applications 1 --accounts 2");
    TestDc& dc = TestDc::Get();
    ou_ = new std::string(dc.FreshOu("AwsReapply"));
    for (const char* sam : kUsers) {
      std::string cn = sam + 2;
      cn[0] = static_cast<char>(cn[0] - 'a' + 'A');
      dc.AddUser(*ou_, cn, sam, "sn: Tester\ndisplayName: " + cn + " Tester\n");
    }
    dc.Modify("dn: CN=" + std::string(kGroup) + "," + *ou_ +
              "\nchangetype: add\nobjectClass: group\nsAMAccountName: rpadmins\n");
  }
  static void TearDownTestSuite() {
    delete peer_;
    peer_ = nullptr;
    delete ou_;
    ou_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(peer_ != nullptr && peer_->ok()) << "the AWS peer did not start";
    // A fresh identity store and the default faults for every test.
    peer_->Control("/faults", R"({"replace": true})");
    peer_->Control("/switch-source");
  }

  static std::unique_ptr<AwsRun> MakeRun(const std::string& aws_keys = "") {
    return std::make_unique<AwsRun>(*peer_, *ou_, aws_keys,
                                    "[assignments]\napplier = \"aws\"\nreapply = \"manual\"\n");
  }

  static CommandResult Admin(const std::string& code) {
    return peer_->Admin(std::string(kHelpers) + code);
  }
  static std::string Live() {
    CommandResult r = Admin("print('\\n'.join(live()))");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
  static int LiveCount() {
    const std::string live = Live();
    int lines = 0;
    for (char c : live) lines += c == '\n' ? 1 : 0;
    return live == "\n" ? 0 : lines;
  }

  // Provisions the principals, makes `assign_code`'s assignments with the
  // admin keys, captures them into the ledger, switches the source and
  // provisions the principals again into the new identity store.
  static void CaptureAndSwitch(const AwsRun& run, const std::string& assign_code, int captured) {
    CommandResult once = run.Syncd("--once");
    ASSERT_EQ(once.exit_code, 0) << once.out << once.err;
    CommandResult assigned = Admin(assign_code);
    ASSERT_EQ(assigned.exit_code, 0) << assigned.err;
    CommandResult imported = run.Syncd("assignments import --from aws --json");
    ASSERT_NE(imported.exit_code, 1) << imported.out << imported.err;
    EXPECT_EQ(run.run().StateSql("SELECT count(*) FROM assignments").out,
              std::to_string(captured) + "\n");
    peer_->Control("/switch-source");
    CommandResult again = run.Syncd("--once");
    ASSERT_NE(again.exit_code, 1) << again.out << again.err;
    ASSERT_EQ(LiveCount(), 0);
    peer_->Control("/reset-stats");
  }

  // A reapply gone right after AWS accepted its third create, before its
  // RequestId was journaled.
  static void CrashAfterTheThirdCreate(const AwsRun& run) {
    CommandResult crash =
        RunCommand("SYNCD_AWS_CRASH_AFTER_CREATES=3 " + SyncdCommand(run, "assignments reapply"));
    EXPECT_EQ(crash.exit_code, 137) << crash.out << crash.err;
    EXPECT_EQ(Creates(peer_->Stats()), 3);
  }

  // A finishing reapply, then every one of the 30 assignments live, each
  // created once.
  static void ExpectAllThirtyCreatedOnce(const AwsRun& run) {
    json::object done = ReapplyJson(run, 0);
    ASSERT_FALSE(done.empty());
    EXPECT_EQ(LiveCount(), 30) << Live();
    const json::object stats = peer_->Stats();
    EXPECT_TRUE(stats.at("duplicate_creates").as_object().empty()) << json::serialize(stats);
    EXPECT_EQ(Creates(stats), 30) << json::serialize(stats.at("calls"));
  }

  static json::object ReapplyJson(const AwsRun& run, int expected_exit) {
    CommandResult r = run.Syncd("assignments reapply --json");
    EXPECT_EQ(r.exit_code, expected_exit) << r.out << r.err;
    if (r.out.empty()) return {};
    return json::parse(r.out).as_object();
  }

  static AwsPeer* peer_;
  static std::string* ou_;
};

AwsPeer* AwsReapply::peer_ = nullptr;
std::string* AwsReapply::ou_ = nullptr;

// alice on account 0 / set 0, the group on account 1 / set 1, carol on
// account 0 / set 1, bob on the application.
const char kFourAssignments[] = R"(
assign(accounts[0], ps[0], 'USER', uid('rpalice'))
assign(accounts[1], ps[1], 'GROUP', gid('RpAdmins'))
assign(accounts[0], ps[1], 'USER', uid('rpcarol'))
assign_app('USER', uid('rpbob'))
)";

// Every principal on both accounts with the first permission set.
const char kTenAssignments[] = R"(
for a in accounts:
    for u in ['rpalice', 'rpbob', 'rpcarol', 'rpdave']:
        assign(a, ps[0], 'USER', uid(u))
    assign(a, ps[0], 'GROUP', gid('RpAdmins'))
)";

// Every principal on every account and permission set: 30 assignments.
const char kManyAssignments[] = R"(
for a in accounts:
    for p in ps:
        for u in ['rpalice', 'rpbob', 'rpcarol', 'rpdave']:
            assign(a, p, 'USER', uid(u))
        assign(a, p, 'GROUP', gid('RpAdmins'))
)";

TEST_F(AwsReapply, EverythingLandsAndASecondReapplyChangesNothing) {
  auto run = MakeRun();
  ASSERT_NO_FATAL_FAILURE(CaptureAndSwitch(*run, kFourAssignments, 4));

  // --dry-run prints exactly the creates, in AWS's own parameter names, and
  // makes none.
  CommandResult expected = Admin(R"(
def line(a, p, kind, pid):
    return ('CreateAccountAssignment InstanceArn=%s TargetId=%s TargetType=AWS_ACCOUNT '
            'PermissionSetArn=%s PrincipalType=%s PrincipalId=%s' % (arn, a, p, kind, pid))
print(line(accounts[0], ps[0], 'USER', uid('rpalice')))
print(line(accounts[1], ps[1], 'GROUP', gid('RpAdmins')))
print(line(accounts[0], ps[1], 'USER', uid('rpcarol')))
print('CreateApplicationAssignment ApplicationArn=%s PrincipalType=USER PrincipalId=%s'
      % (app, uid('rpbob')))
)");
  ASSERT_EQ(expected.exit_code, 0) << expected.err;
  CommandResult dry = run->Syncd("assignments reapply --dry-run");
  EXPECT_EQ(dry.exit_code, 2) << dry.out << dry.err;
  size_t calls = 0;
  for (size_t at = 0; (at = dry.out.find("\nCreate", at)) != std::string::npos; ++at) ++calls;
  EXPECT_EQ(calls, 4u) << dry.out;
  for (size_t from = 0, to; (to = expected.out.find('\n', from)) != std::string::npos;
       from = to + 1) {
    EXPECT_NE(dry.out.find("\n" + expected.out.substr(from, to - from) + "\n"), std::string::npos)
        << expected.out.substr(from, to - from) << "\nnot in\n"
        << dry.out;
  }
  EXPECT_EQ(Creates(peer_->Stats()), 0);
  EXPECT_EQ(LiveCount(), 0);

  json::object done = ReapplyJson(*run, 0);
  ASSERT_FALSE(done.empty());
  EXPECT_EQ(Num(done.at("summary").as_object(), "created"), 4) << json::serialize(done);
  EXPECT_EQ(LiveCount(), 4) << Live();
  const json::object after_first = peer_->Stats();
  EXPECT_EQ(Creates(after_first), 4);

  // The second reapply finds everything in place (journaled as its own
  // creates) and changes nothing.
  json::object again = ReapplyJson(*run, 0);
  ASSERT_FALSE(again.empty());
  const json::object& summary = again.at("summary").as_object();
  EXPECT_EQ(Num(summary, "created") + Num(summary, "present"), 4) << json::serialize(again);
  const json::object after_second = peer_->Stats();
  EXPECT_EQ(Creates(after_second), 4) << json::serialize(after_second.at("calls"));
  EXPECT_TRUE(after_second.at("duplicate_creates").as_object().empty());
  EXPECT_TRUE(after_second.at("duplicate_application_creates").as_object().empty());
}

TEST_F(AwsReapply, DriftIsReportedAndRestoredAndHandMadeAssignmentsAreKept) {
  auto run = MakeRun();
  ASSERT_NO_FATAL_FAILURE(CaptureAndSwitch(*run, kFourAssignments, 4));
  ReapplyJson(*run, 0);
  ASSERT_EQ(LiveCount(), 4);
  CommandResult clean = run->Syncd("assignments check");
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;

  // The operator removes alice's assignment and gives dave one by hand.
  CommandResult drift = Admin(R"(
unassign(accounts[0], ps[0], 'USER', uid('rpalice'))
assign(accounts[1], ps[2], 'USER', uid('rpdave'))
)");
  ASSERT_EQ(drift.exit_code, 0) << drift.err;
  CommandResult check = run->Syncd("assignments check --json");
  EXPECT_EQ(check.exit_code, 2) << check.out << check.err;
  const json::object report = json::parse(check.out).as_object();
  const json::array& entries = report.at("entries").as_array();
  ASSERT_EQ(entries.size(), 1u) << check.out;
  EXPECT_EQ(entries[0].at("action").as_string(), "restore") << check.out;
  EXPECT_NE(json::serialize(entries[0]).find("rpalice"), std::string::npos) << check.out;
  ASSERT_EQ(report.at("unrecorded").as_array().size(), 1u) << check.out;

  peer_->Control("/reset-stats");
  json::object restored = ReapplyJson(*run, 0);
  EXPECT_EQ(Num(restored.at("summary").as_object(), "created"), 4) << json::serialize(restored);
  EXPECT_EQ(Creates(peer_->Stats()), 1);
  // Dave's hand-made assignment is still there, reported, never removed.
  EXPECT_EQ(LiveCount(), 5) << Live();
  EXPECT_EQ(Num(peer_->Stats().at("calls").as_object(), "sso-admin:DeleteAccountAssignment"), 0);
  CommandResult still = run->Syncd("assignments check");
  EXPECT_EQ(still.exit_code, 2) << still.out;
  EXPECT_NE(still.out.find("unrecorded"), std::string::npos) << still.out;
}

TEST_F(AwsReapply, ThrottlingConflictsAndTheOutstandingCapStillLandEverything) {
  auto run = MakeRun("max_outstanding = 4\n");
  ASSERT_NO_FATAL_FAILURE(CaptureAndSwitch(*run, kTenAssignments, 10));
  // The reads are limited to fewer calls a second than syncd's rate_limit
  // (10), the creates to fewer in flight than its max_outstanding (4). Each
  // limit has its own operations (as AWS limits each API) so that both are
  // met on every run: with one rate over every call, a create throttled by
  // the rate halved syncd's limit to the peer's cap before the cap was ever
  // hit (the flaky CI failure of stop 17).
  // And every fourth create that gets past the cap answers
  // ConflictException (another operation on the same permission set).
  peer_->Control("/faults", R"({"rate": 3, "burst": 2, "max_outstanding": 2,
                                "provision_delay": 2, "conflict_every": 4,
                                "rate_ops": ["ListAccountAssignments", "ListPermissionSets",
                                             "DescribePermissionSet",
                                             "ListAccountAssignmentCreationStatus",
                                             "DescribeAccountAssignmentCreationStatus"]})");
  json::object done = ReapplyJson(*run, 0);
  ASSERT_FALSE(done.empty());
  EXPECT_EQ(Num(done.at("summary").as_object(), "created"), 10) << json::serialize(done);
  peer_->Control("/faults", R"({"replace": true})");
  EXPECT_EQ(LiveCount(), 10);
  const json::object stats = peer_->Stats();
  const json::object& throttles = stats.at("throttles_by_reason").as_object();
  EXPECT_GT(Num(throttles, "rate"), 0) << json::serialize(stats);
  EXPECT_GT(Num(throttles, "outstanding"), 0) << json::serialize(stats);
  EXPECT_GE(Num(stats, "conflicts_sent"), 2) << json::serialize(stats);
  EXPECT_LE(Num(stats, "max_outstanding_seen"), 2);
  EXPECT_TRUE(stats.at("duplicate_creates").as_object().empty()) << json::serialize(stats);
}

TEST_F(AwsReapply, ASlowPrincipalWaitsAndAnAsyncFailureKeepsItsReason) {
  auto run = MakeRun();
  CommandResult once = run->Syncd("--once");
  ASSERT_EQ(once.exit_code, 0) << once.out << once.err;
  ASSERT_EQ(Admin("assign(accounts[0], ps[0], 'USER', uid('rpalice'))\n"
                  "assign(accounts[1], ps[0], 'USER', uid('rpbob'))\n")
                .exit_code,
            0);
  ASSERT_NE(run->Syncd("assignments import --from aws").exit_code, 1);
  peer_->Control("/switch-source");
  // AWS's side of the sync is slow: the principals syncd provisions now
  // stay invisible to the identity store API for a while.
  const std::string account1 = std::string(peer_->config().at("accounts").at(1).as_string());
  std::string rule = R"({"principal_delay": 8, "fail": [{"account_id": ")" + account1 +
                     R"(", "reason": "Received a 404 status error: Not supported policy"}]})";
  peer_->Control("/faults", rule);
  ASSERT_NE(run->Syncd("--once").exit_code, 1);
  const auto provisioned = std::chrono::steady_clock::now();
  peer_->Control("/reset-stats");

  json::object waiting = ReapplyJson(*run, 2);
  ASSERT_FALSE(waiting.empty());
  EXPECT_EQ(Num(waiting.at("summary").as_object(), "unresolved"), 2) << json::serialize(waiting);
  EXPECT_EQ(Creates(peer_->Stats()), 0);
  CommandResult status = run->Syncd("status");
  EXPECT_NE(status.out.find("2 pending (not in the identity store yet)"), std::string::npos)
      << status.out;

  // Once they appear, a later reapply restores alice's and reports bob's
  // asynchronous failure with AWS's reason.
  std::this_thread::sleep_until(provisioned + seconds(9));
  CommandResult later = run->Syncd("assignments reapply");
  EXPECT_EQ(later.exit_code, 2) << later.out << later.err;
  EXPECT_NE(later.out.find("1 created"), std::string::npos) << later.out;
  EXPECT_NE(later.out.find("1 failed"), std::string::npos) << later.out;
  EXPECT_NE(later.out.find("Received a 404 status error: Not supported policy"), std::string::npos)
      << later.out;
  EXPECT_EQ(LiveCount(), 1);
  CommandResult failed_status = run->Syncd("status");
  EXPECT_NE(failed_status.out.find("failed: aws:account/" + account1), std::string::npos)
      << failed_status.out;
  EXPECT_EQ(Num(peer_->Stats(), "failures_sent"), 1);
}

TEST_F(AwsReapply, WithReapplyAutoTheRunThatSeesTheSwitchRestoresEverything) {
  auto run = std::make_unique<AwsRun>(*peer_, *ou_, "",
                                      "[assignments]\napplier = \"aws\"\nreapply = \"auto\"\n");
  CommandResult once = run->Syncd("--once");
  ASSERT_EQ(once.exit_code, 0) << once.out << once.err;
  ASSERT_EQ(Admin(kFourAssignments).exit_code, 0);
  CommandResult imported = run->Syncd("assignments import --from aws");
  ASSERT_NE(imported.exit_code, 1) << imported.out << imported.err;
  peer_->Control("/switch-source");
  ASSERT_EQ(LiveCount(), 0);

  // No command from the operator: the next run provisions the new store
  // and reapplies the ledger into it.
  CommandResult switched = run->Syncd("--once");
  EXPECT_EQ(switched.exit_code, 0) << switched.out << switched.err;
  EXPECT_EQ(LiveCount(), 4) << switched.out << switched.err;
  CommandResult status = run->Syncd("status");
  EXPECT_NE(status.out.find("assignments: 4 restored"), std::string::npos) << status.out;

  // Done once: the run after it creates nothing.
  peer_->Control("/reset-stats");
  CommandResult again = run->Syncd("--once");
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(Creates(peer_->Stats()), 0);
  EXPECT_EQ(LiveCount(), 4);
}

std::string SyncdCommand(const AwsRun& run, const std::string& args) {
  const char* binary = std::getenv("SYNCD_BINARY");  // NOLINT(concurrency-mt-unsafe)
  const std::string path = binary != nullptr ? binary : "syncd";
  return ShellQuote(path) + " --config " + ShellQuote(run.run().config_path()) + " " + args;
}

// Starts `syncd assignments reapply` in the background; its pid.
pid_t StartReapply(const AwsRun& run) {
  CommandResult started =
      RunCommand(SyncdCommand(run, "assignments reapply") + " >/dev/null 2>&1 & echo $!");
  return static_cast<pid_t>(std::strtol(started.out.c_str(), nullptr, 10));
}

TEST_F(AwsReapply, KillNineDuringTheReapplyThenARerunDuplicatesNothingAndLosesNothing) {
  auto run = MakeRun("max_outstanding = 5\n");
  ASSERT_NO_FATAL_FAILURE(CaptureAndSwitch(*run, kManyAssignments, 30));
  peer_->Control("/faults", R"({"provision_delay": 2})");
  CrashAfterTheThirdCreate(*run);

  // SIGKILL while creates are in flight.
  const pid_t pid = StartReapply(*run);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(Eventually([] { return Creates(peer_->Stats()) >= 9; }, seconds(30)));
  kill(pid, SIGKILL);
  ASSERT_TRUE(Eventually([pid] { return kill(pid, 0) != 0; }, seconds(5)));
  ExpectAllThirtyCreatedOnce(*run);
}

// Regression: after a crash with creates AWS had accepted, a request that
// finished between the resume's read of the targets and its list of the
// requests in progress was in neither, and was sent again (a duplicate the
// kill -9 test above met once under load).
TEST_F(AwsReapply, ACreateThatFinishesWhileTheResumeLooksIsNotSentAgain) {
  auto run = MakeRun("max_outstanding = 5\n");
  ASSERT_NO_FATAL_FAILURE(CaptureAndSwitch(*run, kManyAssignments, 30));
  peer_->Control("/faults", R"({"provision_delay": 60})");
  CrashAfterTheThirdCreate(*run);

  // In progress while the resume reads the targets; finished by the time
  // it lists what is in progress.
  peer_->Control("/faults", R"({"provision_delay": 60, "finish_on_status_list": true})");
  ExpectAllThirtyCreatedOnce(*run);
}

// Writes `text` to `path` with `mode`.
void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
}

TEST_F(AwsReapply, CredentialsFromAProfileOrAProcessAndClearErrors) {
  auto run = MakeRun();
  // The named profile "syncd" of the credentials file.
  CommandResult profile = run->Syncd("assignments check");
  EXPECT_EQ(profile.exit_code, 0) << profile.out << profile.err;

  // credential_process: a script printing the JSON, named by a profile of
  // the config file.
  const std::string script = run->dir() + "/credential-helper";
  WriteFile(script,
            "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"" + peer_->Str("access_key_id") +
                "\", \"SecretAccessKey\": \"" + peer_->Str("secret_access_key") + "\"}'\n",
            0700);
  WriteFile(run->dir() + "/aws-config", "[profile helper]\ncredential_process = " + script + "\n",
            0600);
  const std::string by_profile = run->config();
  std::string by_process = by_profile;
  const std::string named = "profile = \"syncd\"\n";
  by_process.replace(by_process.find(named), named.size(),
                     "profile = \"helper\"\nconfig_file = \"" + run->dir() + "/aws-config\"\n");
  run->WriteConfig(by_process);
  peer_->Control("/reset-stats");
  CommandResult process = run->Syncd("assignments check");
  EXPECT_EQ(process.exit_code, 0) << process.out << process.err;
  EXPECT_EQ(Num(peer_->Stats(), "signature_errors_sent"), 0);

  // A wrong secret: a clear error that never shows it.
  const std::string wrong = "WrongSecretKeyThatMustNeverBeShown0123456";
  run->WriteConfig(by_profile);
  const std::string credentials = run->dir() + "/aws-credentials";
  std::ifstream in(credentials);
  const std::string right((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string bad = right;
  bad.replace(bad.find(peer_->Str("secret_access_key")), peer_->Str("secret_access_key").size(),
              wrong);
  WriteFile(credentials, bad, 0600);
  CommandResult refused = run->Syncd("assignments check");
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("InvalidSignatureException"), std::string::npos) << refused.err;
  EXPECT_EQ((refused.out + refused.err).find(wrong), std::string::npos) << refused.err;
  WriteFile(credentials, right, 0600);

  // The peer's clock 15 min ahead, beyond its 5 min: syncd learns AWS's time
  // from the refusal and signs with it.
  peer_->Control("/faults", R"({"clock_offset": 900})");
  peer_->Control("/reset-stats");
  CommandResult skewed = run->Syncd("assignments check");
  EXPECT_EQ(skewed.exit_code, 0) << skewed.out << skewed.err;
  EXPECT_GT(Num(peer_->Stats(), "skew_rejections"), 0);
  EXPECT_NE(skewed.err.find("clock is off by"), std::string::npos) << skewed.err;
  // A peer that refuses every time whatever the clock: reported as such.
  peer_->Control("/faults", R"({"clock_offset": 900, "max_skew": -1})");
  CommandResult hopeless = run->Syncd("assignments check");
  EXPECT_EQ(hopeless.exit_code, 1) << hopeless.out << hopeless.err;
  EXPECT_NE(hopeless.err.find("clock"), std::string::npos) << hopeless.err;
}

TEST_F(AwsReapply, OneActionLessThanTheShippedPolicyIsNamedInTheError) {
  // Every other test runs as the peer's default user, whose policy is
  // conf/aws-iam-policy.json: that proves it is enough. Here the user lacks
  // sso:CreateAccountAssignment.
  const std::string policy = ::testing::TempDir() + "/aws-policy-no-create.json";
  CommandResult written = RunCommand(
      "python3 -c " +
      ShellQuote(
          "import json, sys\n"
          "p = json.load(open(sys.argv[1]))\n"
          "for s in p['Statement']:\n"
          "    s['Action'] = [a for a in s['Action'] if a != 'sso:CreateAccountAssignment']\n"
          "json.dump(p, open(sys.argv[2], 'w'))\n") +
      " " + ShellQuote(SourceDir() + "/conf/aws-iam-policy.json") + " " + ShellQuote(policy));
  ASSERT_EQ(written.exit_code, 0) << written.err;
  AwsPeer limited("--permission-sets 3 --applications 1 --accounts 2 --policy " +
                  ShellQuote(policy));
  ASSERT_TRUE(limited.ok());
  struct Swap {
    explicit Swap(AwsPeer* with) : shared(std::exchange(peer_, with)) {}
    ~Swap() { peer_ = shared; }
    AwsPeer* shared;
  } swap(&limited);
  auto run = MakeRun();
  ASSERT_NO_FATAL_FAILURE(
      CaptureAndSwitch(*run, "assign(accounts[0], ps[0], 'USER', uid('rpalice'))\n", 1));
  CommandResult denied = run->Syncd("assignments reapply");
  EXPECT_EQ(denied.exit_code, 1) << denied.out << denied.err;
  EXPECT_NE(denied.err.find("AccessDenied"), std::string::npos) << denied.err;
  EXPECT_NE(denied.err.find("sso:CreateAccountAssignment"), std::string::npos) << denied.err;
  EXPECT_EQ(LiveCount(), 0);
}

}  // namespace
}  // namespace syncd::testing
