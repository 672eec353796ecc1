// Full sync against a real Samba AD DC: the store must equal an independent
// ldapsearch of the same scope, and every failure mode must change nothing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>

#include "tests/integration/fault_proxy.h"
#include "tests/integration/testbed.h"

namespace syncd::testing {
namespace {
namespace fs = std::filesystem;

class StopDcAtExit : public ::testing::Environment {
 public:
  void TearDown() override { TestDc::Get().Stop(); }
};
[[maybe_unused]] auto* const kStopDc = ::testing::AddGlobalTestEnvironment(new StopDcAtExit);

std::string People() { return "OU=People," + TestDc::Get().SyncOu(); }
std::string Groups() { return "OU=Groups," + TestDc::Get().SyncOu(); }
std::string SampleScope() {
  return "user_bases = [\"" + People() + "\"]\ngroup_bases = [\"" + Groups() + "\"]\n";
}
const char kUserFilter[] = "(&(objectCategory=person)(objectClass=user))";

std::set<std::string> Keys(const std::map<std::string, std::string>& m) {
  std::set<std::string> keys;
  for (const auto& [k, v] : m) keys.insert(k);
  return keys;
}

std::string GuidOf(const std::string& dn) {
  auto guids = TestDc::Get().SearchGuids(dn, "(objectClass=*)");
  return guids.size() == 1 ? *guids.begin() : "";
}

TEST(FullSync, StoreMatchesIndependentLdapsearch) {
  TestDc& dc = TestDc::Get();
  // A small range step walks the range loop on the 1,600-member group.
  SyncdRun run(SampleScope(), "range_step = 500\n");
  CommandResult r = run.Once();
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;

  // Same objects by objectGUID, under the same names (userName is the UPN,
  // a group's displayName its name, by the default mapping).
  auto users = run.StoreObjects("users");
  EXPECT_EQ(users, dc.SearchGuidMap(People(), kUserFilter, "userPrincipalName"));
  EXPECT_GE(users.size(), 1600u);
  auto groups = run.StoreObjects("groups");
  EXPECT_EQ(groups, dc.SearchGuidMap(Groups(), "(objectClass=group)", "name"));

  // More than 1,500 members, read through the range loop.
  auto big = run.StoreMembers("Big Group");
  EXPECT_EQ(big.size(), 1600u);
  EXPECT_EQ(big.size(), dc.SearchValues("CN=Big Group," + Groups(), "member").size());

  // Non-ASCII names arrive intact.
  bool found_jose = false;
  for (const auto& [id, name] : users) found_jose |= name == "jmuller@corp.example.com";
  EXPECT_TRUE(found_jose);
  CommandResult listing = run.Syncd("store users");
  EXPECT_NE(listing.out.find("José Müller"), std::string::npos);
  EXPECT_NE(run.StoreObjects("groups").size(), 0u);
  EXPECT_EQ(run.StoreMembers("Équipe Café").size(),
            dc.SearchValues("CN=Équipe Café," + Groups(), "member").size());
}

// A migrated account carries its old domain's SID in sIDHistory (set here
// the way testdc.sh can: ldbmodify --relax on the DC's sam.ldb). The state
// keeps it as an identity key, picked up by the next incremental run.
TEST(FullSync, SidHistoryIsCachedAsAnIdentityKey) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("SidHistory");
  dc.AddUser(ou, "Migrated Mia", "migrated.mia");
  SyncdRun run(OuScope(ou));
  ASSERT_EQ(run.Once().exit_code, 0);
  EXPECT_EQ(run.StateSql("SELECT count(*) FROM sid_history").out, "0\n");

  dc.AddSidHistory("CN=Migrated Mia," + ou, "S-1-5-21-1-2-3-1001");
  CommandResult again = run.Once();
  ASSERT_EQ(again.exit_code, 0) << again.err;
  // S-1-5-21-1-2-3-1001 in binary: revision 1, 5 sub-authorities, authority 5.
  EXPECT_EQ(run.StateSql("SELECT hex(sid) FROM sid_history").out,
            "010500000000000515000000010000000200000003000000E9030000\n");
}

TEST(FullSync, NestedGroupsAndPrimaryGroupMembership) {
  TestDc& dc = TestDc::Get();
  SyncdRun run(SampleScope());
  ASSERT_EQ(run.Once().exit_code, 0);
  // Direct members of the outermost group include the next level; effective
  // members reach the innermost group's users.
  auto direct = run.StoreMembers("Nest Level 1");
  auto effective = run.StoreMembers("Nest Level 1", true);
  EXPECT_TRUE(direct.contains(GuidOf("CN=Nest Level 2," + Groups())));
  for (const auto& dn : dc.SearchValues("CN=Nest Level 3," + Groups(), "member")) {
    EXPECT_TRUE(effective.contains(GuidOf(dn))) << dn;
  }
  EXPECT_GT(effective.size(), direct.size());
  // Users whose primaryGroupID points at Primary Staff are members although
  // AD does not list them in `member`.
  auto primary_members = run.StoreMembers("Primary Staff");
  auto listed = dc.SearchValues("CN=Primary Staff," + Groups(), "member");
  EXPECT_GT(primary_members.size(), listed.size());
}

TEST(FullSync, DryRunChangesNothingAndMatchesNextApply) {
  SyncdRun run(SampleScope());
  CommandResult dry = run.DryRunJson();
  ASSERT_EQ(dry.exit_code, 2) << dry.err;
  EXPECT_EQ(FileDigest(run.store_path()), "") << "dry run must not create the store";
  EXPECT_EQ(FileDigest(run.state_path()), "") << "dry run must not create the state";
  boost::json::object planned = ParsePlan(dry);
  EXPECT_GT(Count(planned, "user", "create"), 0);

  CommandResult applied = run.Syncd("--once --json");
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  EXPECT_EQ(ParsePlan(applied).at("operations"), planned.at("operations"));

  const std::string store = FileDigest(run.store_path()), state = FileDigest(run.state_path());
  CommandResult again = run.DryRunJson();
  EXPECT_EQ(again.exit_code, 0) << "a second run with no AD change plans nothing\n" << again.out;
  EXPECT_EQ(ParsePlan(again).at("operations").as_array().size(), 0u);
  EXPECT_EQ(FileDigest(run.store_path()), store);
  EXPECT_EQ(FileDigest(run.state_path()), state);
  CommandResult second = run.Once();
  EXPECT_EQ(second.exit_code, 0);
  EXPECT_NE(second.out.find("nothing to do"), std::string::npos) << second.out;
}

// A full read printing JSON writes its creates to a file in $TMPDIR as it
// reads. Regression: when that file could not be made, an applying run
// still kept twins of what it created and printed creates without their
// attributes. Now both runs say why and print from the images.
TEST(FullSync, WithoutRoomForItsRenderedCreatesAJsonRunPrintsTheImages) {
  SyncdRun run(SampleScope());
  const char* binary = std::getenv("SYNCD_BINARY");
  auto without_tmp = [&](const std::string& args) {
    return RunCommand("TMPDIR=/nonexistent/syncd-tmp " + ShellQuote(binary ? binary : "syncd") +
                      " --config " + ShellQuote(run.config_path()) + " " + args);
  };
  CommandResult dry = run.DryRunJson();
  ASSERT_EQ(dry.exit_code, 2) << dry.err;
  const boost::json::object planned = ParsePlan(dry);
  ASSERT_GT(Count(planned, "user", "create"), 0);

  CommandResult dry_without = without_tmp("--dry-run --json");
  ASSERT_EQ(dry_without.exit_code, 2) << dry_without.err;
  EXPECT_NE(dry_without.err.find("/nonexistent/syncd-tmp"), std::string::npos) << dry_without.err;
  EXPECT_EQ(ParsePlan(dry_without).at("operations"), planned.at("operations"));

  CommandResult applied = without_tmp("--once --json");
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  EXPECT_NE(applied.err.find("/nonexistent/syncd-tmp"), std::string::npos) << applied.err;
  EXPECT_EQ(ParsePlan(applied).at("operations"), planned.at("operations"));
}

TEST(FullSync, AttributeChangeRenameAndMoveUpdateInPlace) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-Rename");
  const std::string sub = "OU=Sub," + ou;
  dc.Modify("dn: " + sub + "\nchangetype: add\nobjectClass: organizationalUnit\n");
  dc.AddUser(ou, "Ren User", "ren.user");
  SyncdRun run(OuScope(ou));
  ASSERT_EQ(run.Once().exit_code, 0);
  const std::string guid = GuidOf("CN=Ren User," + ou);
  ASSERT_EQ(run.StoreObjects("users").count(guid), 1u);

  auto expect_update_only = [&](const std::string& attribute) {
    CommandResult dry = run.DryRunJson();
    auto plan = ParsePlan(dry);
    ASSERT_EQ(plan.at("operations").as_array().size(), 1u) << dry.out;
    const auto& op = plan.at("operations").at(0).as_object();
    EXPECT_EQ(op.at("op"), "update");
    EXPECT_EQ(op.at("externalId").as_string(), guid);
    EXPECT_TRUE(op.at("changes").as_object().contains(attribute)) << dry.out;
    ASSERT_EQ(run.Once().exit_code, 0);
    EXPECT_EQ(run.StoreObjects("users").count(guid), 1u);
  };

  dc.Modify("dn: CN=Ren User," + ou +
            "\nchangetype: modify\nreplace: givenName\ngivenName: Renée\n");
  expect_update_only("givenName");
  dc.Ldap("ldapmodrdn",
          "-r " + ShellQuote("CN=Ren User," + ou) + " " + ShellQuote("CN=Renamed User"));
  expect_update_only("displayName");
  dc.Ldap("ldapmodrdn", "-r -s " + ShellQuote(sub) + " " + ShellQuote("CN=Renamed User," + ou) +
                            " " + ShellQuote("CN=Renamed User"));
  expect_update_only("dn");
  EXPECT_EQ(run.StoreObjects("users").at(guid), "ren.user@corp.example.com");
}

// A group that names a member the user filter leaves out (a computer in the
// same OU) is read a second time, by GUID with Extended-DN, against the real
// DC: its other members stay, the computer stays out, and the next run finds
// nothing to do.
TEST(FullSync, GroupNamingAMemberTheFilterLeavesOutIsReadAgainByGuid) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-Reread");
  dc.AddUser(ou, "Rr User", "rr.user");
  dc.Modify("dn: CN=RRPC," + ou +
            "\nchangetype: add\nobjectClass: computer\nsAMAccountName: RRPC$\n"
            "userAccountControl: 4096\n");
  dc.Modify("dn: CN=Rr Group," + ou +
            "\nchangetype: add\nobjectClass: group\nsAMAccountName: rrgroup\nmember: CN=Rr User," +
            ou + "\nmember: CN=RRPC," + ou + "\n");
  SyncdRun run(OuScope(ou));
  CommandResult first = run.Syncd("--once -v");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("reading the members of 1 groups again by GUID"), std::string::npos)
      << first.err;
  EXPECT_EQ(run.StoreMembers("Rr Group"), (std::set<std::string>{GuidOf("CN=Rr User," + ou)}));
  auto plan = ParsePlan(run.DryRunJson());
  EXPECT_EQ(plan.at("operations").as_array().size(), 0u);
}

TEST(FullSync, MoveOutOfScopeAndDeleteRemove) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-Remove");
  const std::string outside = dc.FreshOu("T-Outside");
  for (int i = 0; i < 4; ++i) dc.AddUser(ou, "Rm " + std::to_string(i), "rm" + std::to_string(i));
  SyncdRun run(OuScope(ou), "", "[safety]\nmax_deletes = -1\nmax_delete_percent = 100\n");
  ASSERT_EQ(run.Once().exit_code, 0);
  const std::string moved = GuidOf("CN=Rm 0," + ou), deleted = GuidOf("CN=Rm 1," + ou);
  dc.Ldap("ldapmodrdn", "-r -s " + ShellQuote(outside) + " " + ShellQuote("CN=Rm 0," + ou) + " " +
                            ShellQuote("CN=Rm 0"));
  dc.Ldap("ldapdelete", ShellQuote("CN=Rm 1," + ou));
  auto plan = ParsePlan(run.DryRunJson());
  EXPECT_EQ(Count(plan, "user", "delete"), 2);
  EXPECT_EQ(plan.at("operations").as_array().size(), 2u);
  ASSERT_EQ(run.Once().exit_code, 0);
  auto users = run.StoreObjects("users");
  EXPECT_FALSE(users.contains(moved));
  EXPECT_FALSE(users.contains(deleted));
  EXPECT_EQ(users.size(), 2u);
}

TEST(FullSync, DeletionOverBudgetIsHeldWhileTheRestApplies) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-Budget");
  for (int i = 0; i < 6; ++i) dc.AddUser(ou, "Bud " + std::to_string(i), "bud" + std::to_string(i));
  SyncdRun run(OuScope(ou), "", "[safety]\nmax_deletes = 2\nmax_delete_percent = 100\n");
  ASSERT_EQ(run.Once().exit_code, 0);
  for (int i = 0; i < 3; ++i)
    dc.Ldap("ldapdelete", ShellQuote("CN=Bud " + std::to_string(i) + "," + ou));
  dc.Modify("dn: CN=Bud 5," + ou +
            "\nchangetype: modify\nreplace: givenName\ngivenName: Changed\n");
  dc.AddUser(ou, "Bud New", "budnew");

  CommandResult r = run.Syncd("--once --json");
  EXPECT_EQ(r.exit_code, 2) << "held work is pending\n" << r.err;
  auto plan = ParsePlan(r);
  EXPECT_EQ(plan.at("held").as_array().size(), 3u);
  EXPECT_NE(std::string(plan.at("held").at(0).at("reason").as_string()).find("max_deletes = 2"),
            std::string::npos);
  EXPECT_EQ(Count(plan, "user", "create"), 1);
  EXPECT_EQ(Count(plan, "user", "update"), 1);
  EXPECT_EQ(run.StoreObjects("users").size(), 7u) << "held deletions stay in the store";
  CommandResult text = run.Syncd("--dry-run");
  EXPECT_NE(text.out.find("held"), std::string::npos);
}

TEST(FullSync, DownUriFallsOverToNext) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-Failover");
  dc.AddUser(ou, "Fo User", "fo.user");
  SyncdRun run(OuScope(ou));
  std::string config = run.BaseConfig();
  const std::string uris = "uris = [\"" + dc.Value("URI") + "\"]";
  config.replace(config.find(uris), uris.size(),
                 "uris = [\"ldaps://dc1.corp.example.com:1\", \"" + dc.Value("URI") + "\"]");
  run.WriteConfig(config);
  CommandResult r = run.Once();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("ldaps://dc1.corp.example.com:1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("trying the next DC"), std::string::npos) << r.err;
  EXPECT_EQ(run.StoreObjects("users").size(), 1u);
}

// Each failure: a clear message, exit 1, and neither store nor state touched.
void ExpectCleanFailure(const SyncdRun& run, const std::string& message) {
  CommandResult r = run.Once();
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  EXPECT_EQ(FileDigest(run.state_path()), "") << "state created after: " << r.err;
  EXPECT_EQ(FileDigest(run.store_path()), "") << "store created after: " << r.err;
}

TEST(FullSync, ErrorsAreClearAndChangeNothing) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-Errors");
  dc.AddUser(ou, "Err User", "err.user");
  auto with = [&](const std::string& from, const std::string& to) {
    auto run = std::make_unique<SyncdRun>(OuScope(ou));
    std::string config = run->BaseConfig();
    config.replace(config.find(from), from.size(), to);
    run->WriteConfig(config);
    return run;
  };
  // Wrong password.
  auto wrong_password = with("password_file = \"" + dc.Value("PASSWORD_FILE") + "\"",
                             "password_file = \"/tmp/syncd-it-wrong.pass\"");
  RunCommand("echo not-the-password > /tmp/syncd-it-wrong.pass");
  CommandResult r = wrong_password->Once();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("Invalid credentials"), std::string::npos) << r.err;
  EXPECT_EQ(FileDigest(wrong_password->store_path()), "");
  EXPECT_EQ(FileDigest(wrong_password->state_path()), "");
  // Wrong CA: the system bundle does not hold the test domain's CA.
  auto wrong_ca = with("tls_ca_file = \"" + dc.Value("CA_FILE") + "\"",
                       "tls_ca_file = \"/etc/ssl/certs/ca-certificates.crt\"");
  ExpectCleanFailure(*wrong_ca, "TLS handshake failed");
  // Unreachable DC.
  auto unreachable = with("uris = [\"" + dc.Value("URI") + "\"]",
                          "uris = [\"ldaps://dc1.corp.example.com:1\"]\nconnect_timeout = 3");
  ExpectCleanFailure(*unreachable, "no domain controller could be reached");
  // Malformed config.
  auto malformed = with("user_bases = [\"" + ou + "\"]", "user_bases = 42");
  CommandResult bad = malformed->Once();
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("scope.user_bases must be a string or an array of strings"),
            std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("line"), std::string::npos) << bad.err;
  EXPECT_EQ(FileDigest(malformed->store_path()), "");
}

TEST(FullSync, ReadCutShortDeletesNothing) {
  TestDc& dc = TestDc::Get();
  SyncdRun run(SampleScope(), "", "[safety]\nmax_deletes = -1\nmax_delete_percent = 100\n");
  ASSERT_EQ(run.Once().exit_code, 0);
  const size_t before = run.StoreObjects("users").size();

  // A DC that hangs up past the TLS handshake and bind, mid-way through users.
  FaultProxy proxy(636, FaultProxy::Fault::kHangUpAfter, size_t{64} * 1024);
  std::string config = run.BaseConfig();
  const std::string uris = "uris = [\"" + dc.Value("URI") + "\"]";
  config.replace(config.find(uris), uris.size(),
                 "uris = [\"ldaps://dc1.corp.example.com:" + std::to_string(proxy.port()) + "\"]");
  run.WriteConfig(config);
  CommandResult r = run.Syncd("--once --full --json");
  EXPECT_EQ(r.exit_code, 1) << "a read cut short is a failed run\n" << r.err << r.out;
  auto plan = ParsePlan(r);
  EXPECT_EQ(plan.at("readComplete"), false);
  EXPECT_EQ(Count(plan, "user", "delete"), 0);
  EXPECT_GT(plan.at("held").as_array().size(), 100u) << "the unseen users would have gone";
  EXPECT_NE(r.err.find("incomplete read"), std::string::npos) << r.err;
  EXPECT_EQ(run.StoreObjects("users").size(), before);
}

TEST(FullSync, KillDuringApplyThenRerunConvergesToAd) {
  TestDc& dc = TestDc::Get();
  std::unique_ptr<SyncdRun> attempt;
  bool killed = false;
  for (int i = 0; i < 5 && !killed; ++i) {
    attempt = std::make_unique<SyncdRun>(SampleScope());
    killed = KillOnceApplying(*attempt);
  }
  ASSERT_TRUE(killed) << "in 5 attempts every run finished before it was seen applying";
  const SyncdRun& run = *attempt;
  // The store batch is atomic: all or nothing landed.
  if (FileDigest(run.store_path()) != "") {
    auto partial = run.StoreObjects("users").size();
    EXPECT_TRUE(partial == 0 || partial == dc.SearchGuids(People(), kUserFilter).size()) << partial;
  }
  CommandResult rerun = run.Once();
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_NE(rerun.err.find("was interrupted"), std::string::npos) << rerun.err;
  EXPECT_EQ(Keys(run.StoreObjects("users")), dc.SearchGuids(People(), kUserFilter));
  EXPECT_EQ(Keys(run.StoreObjects("groups")), dc.SearchGuids(Groups(), "(objectClass=group)"));
  EXPECT_EQ(run.StoreMembers("Big Group").size(), 1600u);
  EXPECT_EQ(run.DryRunJson().exit_code, 0) << "converged: nothing left to do";
}

TEST(FullSync, StartTlsOnPlainPortWithVerifiedCertificate) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-StartTls");
  dc.AddUser(ou, "Tls User", "tls.user");
  SyncdRun run(OuScope(ou), "starttls = true\n");
  std::string config = run.BaseConfig();
  const std::string uris = "uris = [\"" + dc.Value("URI") + "\"]";
  config.replace(config.find(uris), uris.size(), "uris = [\"ldap://dc1.corp.example.com\"]");
  run.WriteConfig(config);
  CommandResult r = run.Once();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(run.StoreObjects("users").size(), 1u);
}

TEST(FullSync, GroupBasedScopeSyncsListedGroupsAndNestedMembersOnly) {
  TestDc& dc = TestDc::Get();
  SyncdRun run(SampleScope() + "groups = [\"CN=Nest Level 1," + Groups() + "\"]\n");
  ASSERT_EQ(run.Once().exit_code, 0);
  auto groups = run.StoreObjects("groups");
  std::set<std::string> names;
  for (const auto& [id, name] : groups) names.insert(name);
  EXPECT_EQ(names, (std::set<std::string>{"Nest Level 1", "Nest Level 2", "Nest Level 3"}));
  // Every user in the store is an effective member of the listed group.
  auto effective = run.StoreMembers("Nest Level 1", true);
  auto users = run.StoreObjects("users");
  EXPECT_FALSE(users.empty());
  for (const auto& [id, name] : users) EXPECT_TRUE(effective.contains(id)) << name;
  for (const auto& dn : dc.SearchValues("CN=Nest Level 3," + Groups(), "member")) {
    EXPECT_TRUE(users.contains(GuidOf(dn))) << dn;
  }
}

TEST(FullSync, ObjectTheStoreRefusesIsReportedAndTheRestApplies) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-Conflict");
  dc.AddUser(ou, "Taken User", "taken.user");
  dc.AddUser(ou, "Free User", "free.user");
  SyncdRun run(OuScope(ou));
  CommandResult r = run.Once();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Someone replaces syncd's account with one of their own, same userName.
  CommandResult owned =
      RunCommand("sqlite3 " + ShellQuote(run.store_path()) +
                 " \"DELETE FROM users WHERE user_name = 'taken.user@corp.example.com';"
                 " INSERT INTO users (external_id, user_name, active) VALUES ('manual-1', "
                 "'taken.user@corp.example.com', 1);\"");
  ASSERT_EQ(owned.exit_code, 0) << owned.err;
  // The state still says syncd created taken.user; make AD change both users.
  for (const char* cn : {"Taken User", "Free User"}) {
    dc.Modify("dn: CN=" + std::string(cn) + "," + ou +
              "\nchangetype: modify\nreplace: sn\nsn: Changed\n");
  }
  CommandResult second = run.Once();
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_NE(second.err.find("taken.user@corp.example.com"), std::string::npos) << second.err;
  // The refused object is quarantined: not sent again until AD changes it.
  CommandResult quarantined = run.Syncd("quarantine list");
  EXPECT_NE(quarantined.out.find("taken.user@corp.example.com"), std::string::npos)
      << quarantined.out << quarantined.err;
  auto plan = ParsePlan(run.DryRunJson());
  EXPECT_TRUE(plan.at("operations").as_array().empty()) << "nothing else remains";
  EXPECT_EQ(plan.at("quarantined").as_array().size(), 1u) << "the refused update waits";
}

TEST(FullSync, SecondApplyingRunIsRefusedWhileOneHoldsTheLock) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-Lock");
  dc.AddUser(ou, "Lock User", "lock.user");
  SyncdRun run(OuScope(ou));
  const std::string lock_path = run.state_path() + ".lock";
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX), 0);
  CommandResult refused = run.Once();
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("another syncd run is applying changes"), std::string::npos)
      << refused.err;
  EXPECT_EQ(FileDigest(run.state_path()), "");
  EXPECT_EQ(run.DryRunJson().exit_code, 2) << "a dry run needs no lock";
  close(fd);
  EXPECT_EQ(run.Once().exit_code, 0);
}

TEST(FullSync, GssapiBindWithKeytabNeedsNoPassword) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-Kerberos");
  dc.AddUser(ou, "Krb User", "krb.user");
  // A service account with keys, exported to a keytab.
  const std::string svc = "CN=svc-krb," + ou;
  // unicodePwd is the quoted password in UTF-16LE.
  std::string encoded =
      RunCommand(
          "python3 -c 'import base64; print(base64.b64encode(\"\\\"Svc-Krb-Pass-1!\\\"\"."
          "encode(\"utf-16-le\")).decode(), end=\"\")'")
          .out;
  dc.Modify("dn: " + svc +
            "\nchangetype: add\nobjectClass: user\nsAMAccountName: svc-krb\n"
            "unicodePwd:: " +
            encoded + "\nuserAccountControl: 66048\n");
  SyncdRun run(OuScope(ou));
  const std::string keytab = run.config_path() + ".keytab";
  CommandResult exported = RunCommand(
      ShellQuote(std::string(std::getenv("SYNCD_SOURCE_DIR")) + "/scripts/testdc.sh") + " keytab " +
      ShellQuote(dc.dir()) + " svc-krb@CORP.EXAMPLE.COM " + ShellQuote(keytab));
  ASSERT_EQ(exported.exit_code, 0) << exported.err;

  const std::string source = "[source]\nuris = [\"ldap://dc1.corp.example.com\"]\nbase_dn = \"" +
                             dc.BaseDn() + "\"\nauth = \"gssapi\"\nkeytab = \"" + keytab +
                             "\"\nprincipal = \"svc-krb\"\n";
  std::string config = run.BaseConfig();
  config.replace(0, config.find("[scope]"), source);
  run.WriteConfig(config);
  const std::string env = "KRB5_CONFIG=" + ShellQuote(dc.Value("KRB5_CONFIG")) + " ";
  CommandResult r = RunCommand(env + ShellQuote(std::getenv("SYNCD_BINARY")) + " --config " +
                               ShellQuote(run.config_path()) + " --once");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("connected to ldap://dc1.corp.example.com"), std::string::npos) << r.err;
  EXPECT_EQ(run.StoreObjects("users").size(), 2u);

  // The daemon with the same keytab: Kerberos for its runs and for its
  // change-notification connections, no password anywhere.
  {
    DaemonProcess daemon(run, {"KRB5_CONFIG=" + dc.Value("KRB5_CONFIG")});
    EXPECT_TRUE(daemon.WaitForLog("incremental run ok")) << daemon.Log();
    EXPECT_TRUE(daemon.WaitForLog("change notifications registered")) << daemon.Log();
    EXPECT_NE(daemon.Log().find("Kerberos: credentials for svc-krb@CORP.EXAMPLE.COM"),
              std::string::npos)
        << daemon.Log();
    daemon.Signal(SIGTERM);
    EXPECT_EQ(daemon.WaitExit(std::chrono::seconds(20)), 0) << daemon.Log();
  }

  // A keytab that is not there: a clear error, nothing created.
  std::string missing = config;
  missing.replace(missing.find(keytab), keytab.size(), "/nonexistent/syncd.keytab");
  run.WriteConfig(missing);
  fs::remove(run.store_path());
  fs::remove(run.state_path());
  CommandResult bad = RunCommand(env + ShellQuote(std::getenv("SYNCD_BINARY")) + " --config " +
                                 ShellQuote(run.config_path()) + " --once");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("source.keytab: /nonexistent/syncd.keytab does not exist"),
            std::string::npos)
      << bad.err;
  EXPECT_EQ(FileDigest(run.state_path()), "");
}

}  // namespace
}  // namespace syncd::testing
