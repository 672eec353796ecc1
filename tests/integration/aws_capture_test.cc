// The IAM Identity Center capture end to end: the real Samba DC synced by
// syncd through the SCIM sink into the AWS test peer (tests/aws-peer: moto
// with a SCIM front that writes into its identity store), assignments made
// there with the admin keys as an operator would in the console, then
// `syncd assignments import --from aws` and the switch detection of runs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/integration/testbed.h"

namespace syncd::testing {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

std::string SourceDir() {
  const char* dir = std::getenv("SYNCD_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

// tests/aws-peer/peer.py, started for one test and stopped after it.
class AwsPeer {
 public:
  explicit AwsPeer(const std::string& flags) {
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      ExecChild({"sh", "-c",
                 "exec python3 " + ShellQuote(SourceDir() + "/tests/aws-peer/peer.py") +
                     " --port 0 " + flags});
    }
    close(out[1]);
    FILE* stream = fdopen(out[0], "r");
    std::string line;
    for (int c = 0; stream != nullptr && (c = std::fgetc(stream)) != EOF && c != '\n';) {
      line.push_back(static_cast<char>(c));
    }
    if (stream != nullptr) (void)std::fclose(stream);
    if (!line.empty()) config_ = json::parse(line).as_object();
  }
  ~AwsPeer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  AwsPeer(const AwsPeer&) = delete;
  AwsPeer& operator=(const AwsPeer&) = delete;

  bool ok() const { return !config_.empty(); }
  std::string Str(const char* key) const { return std::string(config_.at(key).as_string()); }

  // Runs Python with boto3 clients of the admin (sso, ids), `arn`, `store`
  // (the instance's identity store now), `accounts`, and `control(path,
  // body)` for the peer's control API; returns its stdout.
  CommandResult Admin(const std::string& code) const {
    const std::string preamble =
        "import boto3, json, os, urllib.request\n"
        "cfg = json.loads(os.environ['AWS_PEER'])\n"
        "kw = dict(region_name=cfg['region'], endpoint_url=cfg['url'],\n"
        "          aws_access_key_id=cfg['admin_access_key_id'],\n"
        "          aws_secret_access_key=cfg['admin_secret_access_key'])\n"
        "sso = boto3.client('sso-admin', **kw)\n"
        "ids = boto3.client('identitystore', **kw)\n"
        "inst = sso.list_instances()['Instances'][0]\n"
        "arn, store, accounts = inst['InstanceArn'], inst['IdentityStoreId'], cfg['accounts']\n"
        "def control(path, body=None):\n"
        "    req = urllib.request.Request(cfg['url'] + '/_peer' + path, method='POST',\n"
        "        data=json.dumps(body or {}).encode(), headers={'Content-Type': "
        "'application/json'})\n"
        "    return json.loads(urllib.request.urlopen(req).read())\n"
        "def stats():\n"
        "    return json.loads(urllib.request.urlopen(cfg['url'] + '/_peer/stats').read())\n";
    return RunCommand("AWS_PEER=" + ShellQuote(json::serialize(config_)) + " python3 -c " +
                      ShellQuote(preamble + code));
  }

 private:
  pid_t pid_ = -1;
  json::object config_;
};

// A syncd whose [store] is the peer's SCIM front and whose [aws] is the
// peer, with syncd's least-privilege keys in a 0600 credentials file.
class AwsRun {
 public:
  AwsRun(const AwsPeer& peer, const std::string& ou, const std::string& aws_keys = "")
      : run_(OuScope(ou)) {
    const fs::path dir = fs::path(run_.config_path()).parent_path();
    const std::string token_file = dir / "scim-token";
    const std::string credentials = dir / "aws-credentials";
    std::ofstream(token_file) << peer.Str("scim_token") << "\n";
    chmod(token_file.c_str(), 0600);
    std::ofstream(credentials) << "[syncd]\naws_access_key_id = " << peer.Str("access_key_id")
                               << "\naws_secret_access_key = " << peer.Str("secret_access_key")
                               << "\n";
    chmod(credentials.c_str(), 0600);
    std::string config = run_.BaseConfig();
    const std::string local = "[store]\npath = \"" + run_.store_path() + "\"\n";
    const size_t at = config.find(local);
    EXPECT_NE(at, std::string::npos);
    config.replace(at, local.size(),
                   "[store]\nkind = \"scim\"\nurl = \"" + peer.Str("scim_url") +
                       "\"\ntoken_file = \"" + token_file +
                       "\"\nprofile = \"aws\"\nrate_limit = 1000\n");
    config += "\n[safety]\nmax_deletes = -1\nmax_delete_percent = 100\n[aws]\nregion = \"" +
              peer.Str("region") + "\"\nendpoint_url = \"" + peer.Str("url") +
              "\"\nprofile = \"syncd\"\ncredentials_file = \"" + credentials + "\"\n" + aws_keys;
    run_.WriteConfig(config);
    secret_ = peer.Str("secret_access_key");
  }

  CommandResult Syncd(const std::string& args) const {
    CommandResult r = run_.Syncd(args);
    EXPECT_EQ((r.out + r.err).find(secret_), std::string::npos) << "the secret key leaked";
    return r;
  }
  const SyncdRun& run() const { return run_; }

 private:
  SyncdRun run_;
  std::string secret_;
};

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
