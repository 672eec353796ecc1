// The assignment ledger against real Samba domains: a source switch from
// CORP.EXAMPLE.COM to a second domain holding migrated accounts, export and
// import, and drift.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "ldap/codec.h"
#include "tests/integration/testbed.h"

namespace syncd::testing {
namespace {

namespace json = boost::json;

// The store's assignments as "kind externalId target" lines.
std::set<std::string> StoreAssignments(const SyncdRun& run) {
  CommandResult r = RunCommand("sqlite3 -batch " + ShellQuote(run.store_path()) +
                               " \"SELECT principal_type || ' ' || principal_external_id || ' ' "
                               "|| target FROM assignments\"");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) lines.insert(line);
  return lines;
}

json::value Json(const CommandResult& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.out, ec);
  EXPECT_FALSE(ec) << r.out << r.err;
  return v;
}

// The ledger (assignments list --json) as "status target principal-name".
std::multiset<std::string> Ledger(const SyncdRun& run) {
  CommandResult r = run.Syncd("assignments list --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::multiset<std::string> out;
  const json::value list = Json(r);
  for (const auto& e : list.as_array()) {
    out.insert(std::string(e.at("status").as_string()) + " " +
               std::string(e.at("target").as_string()) + " " +
               std::string(e.at("principal").at("name").as_string()));
  }
  return out;
}

// One entry of `assignments list --json` by target and principal name.
json::object Entry(const SyncdRun& run, const std::string& target, const std::string& name) {
  const json::value list = Json(run.Syncd("assignments list --json"));
  for (const auto& e : list.as_array()) {
    if (e.at("target").as_string() == target && e.at("principal").at("name").as_string() == name) {
      return e.as_object();
    }
  }
  ADD_FAILURE() << "no ledger entry " << target << " for " << name;
  return {};
}

void AddGroup(TestDc& dc, const std::string& ou, const std::string& name) {
  dc.Modify("dn: CN=" + name + "," + ou +
            "\nchangetype: add\nobjectClass: group\nsAMAccountName: " + name + "\n");
}

void Assign(const SyncdRun& run, const std::string& principal, const std::string& target) {
  CommandResult r = run.Syncd("assign " + ShellQuote(principal) + " " + ShellQuote(target));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
}

std::string LedgerScope(const std::string& ou) {
  return "user_bases = [\"" + ou + "\"]\ngroup_bases = [\"" + ou + "\"]\n";
}

TEST(Assignments, SourceSwitchReappliesEachAssignmentByTheFirstKeyThatMatches) {
  TestDc& a = TestDc::Get();
  const std::string ou = a.FreshOu("LedgerSwitch");
  a.AddUser(ou, "Alice", "alice");
  a.AddUser(ou, "Bob", "bob");
  a.AddUser(ou, "Carol", "carol", "mail: carol@example.com\n");
  a.AddUser(ou, "Dave", "dave", "mail: dave@example.com\n");
  a.AddUser(ou, "Erin", "erin");
  a.AddUser(ou, "Frank", "frank");
  AddGroup(a, ou, "Engineers");
  SyncdRun run(LedgerScope(ou));
  ASSERT_EQ(run.Once().exit_code, 0);

  Assign(run, "user:alice", "aws:account/111111111111/permission-set/AdminAccess");
  Assign(run, "user:alice@corp.example.com", "app:payroll");
  Assign(run, "user:bob", "aws:account/111111111111/permission-set/ReadOnly");
  Assign(run, "user:carol", "app:wiki");
  Assign(run, "user:dave", "app:wiki");
  Assign(run, "user:erin", "app:wiki");
  Assign(run, "user:frank", "app:payroll");
  Assign(run, "group:Engineers", "aws:account/111111111111/permission-set/PowerUser");
  const std::set<std::string> granted_in_a = StoreAssignments(run);
  ASSERT_EQ(granted_in_a.size(), 8u);
  // Assigning again is a no-op, and so is the ledger.
  Assign(run, "user:alice", "app:payroll");
  EXPECT_EQ(Ledger(run).size(), 8u);

  const std::string alice_sid = std::string(Entry(run, "app:payroll", "alice@corp.example.com")
                                                .at("principal")
                                                .at("objectSid")
                                                .as_string());
  const std::string frank_guid = std::string(Entry(run, "app:payroll", "frank@corp.example.com")
                                                 .at("principal")
                                                 .at("objectGUID")
                                                 .as_string());
  ASSERT_FALSE(alice_sid.empty());

  // Domain B: the migrated accounts.
  std::optional<HaltedDc> halted;
  halted.emplace();
  auto b = TestDc::StartRealm("NEWCORP.EXAMPLE.NET");
  const std::string b_ou = "OU=Migrated," + b->BaseDn();
  b->Modify("dn: " + b_ou + "\nchangetype: add\nobjectClass: organizationalUnit\n");
  auto add = [&](const std::string& cn, const std::string& sam, const std::string& upn,
                 const std::string& extra) {
    b->Modify("dn: CN=" + cn + "," + b_ou +
              "\nchangetype: add\nobjectClass: user\n"
              "sAMAccountName: " +
              sam + "\nuserPrincipalName: " + upn + "\nuserAccountControl: 514\n" + extra);
  };
  add("Alice B", "alice.b", "alice.b@newcorp.example.net", "");  // by sIDHistory
  b->AddSidHistory("CN=Alice B," + b_ou, alice_sid);
  add("Robert", "robert", "bob@corp.example.com", "");  // by UPN only
  add("Carol B", "carol.b", "carol.b@newcorp.example.net", "mail: carol@example.com\n");
  // Renamed, carrying the old objectGUID as its anchor.
  add("Francis", "francis", "francis@newcorp.example.net",
      "mS-DS-ConsistencyGuid:: " + Base64Encode(*ldap::GuidFromString(frank_guid)) + "\n");
  add("Dave One", "dave.one", "dave.one@newcorp.example.net", "mail: dave@example.com\n");
  add("Dave Two", "dave.two", "dave.two@newcorp.example.net", "mail: dave@example.com\n");
  AddGroup(*b, b_ou, "Engineers");  // by sAMAccountName
  // erin has no counterpart.

  run.WriteConfig("[source]\nuris = [\"" + b->Value("URI") + "\"]\nbase_dn = \"" + b->BaseDn() +
                  "\"\nbind_dn = \"" + b->Value("BIND_DN") + "\"\npassword_file = \"" +
                  b->Value("PASSWORD_FILE") + "\"\ntls_ca_file = \"" + b->Value("CA_FILE") +
                  "\"\n[scope]\n" + LedgerScope(b_ou) + "[store]\npath = \"" + run.store_path() +
                  "\"\n[state]\npath = \"" + run.state_path() + "\"\n");
  // Before anything changes, the dry run shows the switch and what reapply
  // would do after it.
  CommandResult preview = run.Syncd("--dry-run");
  EXPECT_EQ(preview.exit_code, 2) << preview.err;
  EXPECT_NE(preview.out.find("would reapply the assignment ledger"), std::string::npos)
      << preview.out;
  EXPECT_NE(preview.out.find(": 6 to restore, 0 to relink, 0 duplicate, 0 in place, 1 ambiguous, "
                             "1 missing"),
            std::string::npos)
      << preview.out;
  EXPECT_NE(preview.out.find("-> user francis@newcorp.example.net (newcorp.example.net) (by "
                             "mS-DS-ConsistencyGuid)"),
            std::string::npos)
      << preview.out;
  EXPECT_EQ(StoreAssignments(run).size(), 8u) << "a dry run changes nothing";
  CommandResult switched = run.Once();
  ASSERT_EQ(switched.exit_code, 0) << switched.err;
  EXPECT_NE(switched.err.find("the source changed from DC=corp,DC=example,DC=com"),
            std::string::npos)
      << switched.err;
  EXPECT_NE(switched.err.find("syncd assignments reapply --dry-run"), std::string::npos)
      << "manual mode says what waits:\n"
      << switched.err;
  // The old principals left with their assignments; the ledger kept them.
  EXPECT_TRUE(StoreAssignments(run).empty());
  std::set<std::string> user_names;
  for (const auto& [id, name] : run.StoreObjects("users")) user_names.insert(name);
  EXPECT_EQ(user_names, (std::set<std::string>{
                            "alice.b@newcorp.example.net", "bob@corp.example.com",
                            "carol.b@newcorp.example.net", "francis@newcorp.example.net",
                            "dave.one@newcorp.example.net", "dave.two@newcorp.example.net"}));
  for (const auto& line : Ledger(run)) EXPECT_EQ(line.rfind("orphaned ", 0), 0u) << line;

  // The plan: each by the expected key, or why not.
  CommandResult dry = run.Syncd("assignments reapply --dry-run --json");
  EXPECT_EQ(dry.exit_code, 2) << dry.err;
  std::map<std::string, std::string> plan;  // "target old-name" -> "action key new-name"
  const json::value dry_plan = Json(dry);
  for (const auto& step : dry_plan.at("assignments").as_array()) {
    const auto& s = step.as_object();
    std::string outcome = std::string(s.at("action").as_string());
    if (s.contains("matchedBy")) outcome += " " + std::string(s.at("matchedBy").as_string());
    if (s.contains("match")) outcome += " " + std::string(s.at("match").at("name").as_string());
    if (s.contains("candidates")) {
      outcome += " " + std::to_string(s.at("candidates").as_array().size());
    }
    plan[std::string(s.at("target").as_string()) + " " +
         std::string(s.at("principal").at("name").as_string())] = outcome;
  }
  const std::string admin = "aws:account/111111111111/permission-set/AdminAccess";
  const std::string read_only = "aws:account/111111111111/permission-set/ReadOnly";
  const std::string power = "aws:account/111111111111/permission-set/PowerUser";
  EXPECT_EQ(
      plan,
      (std::map<std::string, std::string>{
          {admin + " alice@corp.example.com", "restore sIDHistory alice.b@newcorp.example.net"},
          {"app:payroll alice@corp.example.com", "restore sIDHistory alice.b@newcorp.example.net"},
          {read_only + " bob@corp.example.com", "restore userPrincipalName bob@corp.example.com"},
          {"app:wiki carol@corp.example.com", "restore mail carol.b@newcorp.example.net"},
          {"app:payroll frank@corp.example.com",
           "restore mS-DS-ConsistencyGuid francis@newcorp.example.net"},
          {power + " Engineers", "restore sAMAccountName Engineers"},
          {"app:wiki dave@corp.example.com", "ambiguous mail 2"},
          {"app:wiki erin@corp.example.com", "missing"},
      }));
  EXPECT_TRUE(StoreAssignments(run).empty()) << "a dry run changes nothing";

  CommandResult applied = run.Syncd("assignments reapply");
  EXPECT_EQ(applied.exit_code, 2) << "the ambiguous and the missing one remain\n" << applied.err;
  EXPECT_NE(applied.out.find("ambiguous  #"), std::string::npos) << applied.out;
  EXPECT_NE(applied.out.find("missing  #"), std::string::npos) << applied.out;
  const auto ids = run.StoreObjects("users");
  std::map<std::string, std::string> id_of;  // name -> externalId
  for (const auto& [id, name] : ids) id_of[name] = id;
  for (const auto& [id, name] : run.StoreObjects("groups")) id_of[name] = id;
  EXPECT_EQ(StoreAssignments(run),
            (std::set<std::string>{
                "user " + id_of["alice.b@newcorp.example.net"] + " " + admin,
                "user " + id_of["alice.b@newcorp.example.net"] + " app:payroll",
                "user " + id_of["bob@corp.example.com"] + " " + read_only,
                "user " + id_of["carol.b@newcorp.example.net"] + " app:wiki",
                "user " + id_of["francis@newcorp.example.net"] + " app:payroll",
                "group " + id_of["Engineers"] + " " + power,
            }));
  // The ledger follows the principals; the unmatched stay orphaned.
  const json::object moved = Entry(run, "app:payroll", "francis@newcorp.example.net");
  EXPECT_EQ(moved.at("status").as_string(), "active");
  EXPECT_EQ(moved.at("principal").at("domainName").as_string(), "newcorp.example.net");
  EXPECT_NE(std::string(moved.at("reason").as_string()).find("mS-DS-ConsistencyGuid"),
            std::string::npos);
  EXPECT_EQ(Entry(run, "app:wiki", "erin@corp.example.com").at("status").as_string(), "orphaned");
  EXPECT_EQ(Entry(run, "app:wiki", "dave@corp.example.com").at("status").as_string(), "orphaned");

  // Again: nothing changes.
  const auto store_before = StoreAssignments(run);
  const std::string ledger_before = run.Syncd("assignments list --json").out;
  CommandResult again = run.Syncd("assignments reapply --json");
  EXPECT_EQ(again.exit_code, 2);
  const json::value again_json = Json(again);
  const auto& applied_again = again_json.at("applied");
  EXPECT_EQ(applied_again.at("restored").as_int64(), 0);
  EXPECT_EQ(applied_again.at("relinked").as_int64(), 0);
  EXPECT_EQ(StoreAssignments(run), store_before);
  EXPECT_EQ(run.Syncd("assignments list --json").out, ledger_before);

  // Back to domain A, reapplying by itself: every assignment returns to the
  // object it was first made for, through the same links the other way
  // (objectGUID for the two never matched in B).
  b.reset();
  halted.reset();
  run.WriteConfig(run.BaseConfig() + "[assignments]\nreapply = \"auto\"\n");
  CommandResult back = run.Once();
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_NE(back.err.find("reapplied assignments after the source switch: 8 to restore"),
            std::string::npos)
      << back.err;
  EXPECT_EQ(StoreAssignments(run), granted_in_a);
  for (const auto& line : Ledger(run)) EXPECT_EQ(line.rfind("active ", 0), 0u) << line;
  EXPECT_NE(std::string(Entry(run, "app:wiki", "erin@corp.example.com").at("reason").as_string())
                .find("its principal is back in the store"),
            std::string::npos);
}

TEST(Assignments, ExportWipeImportReapplyRestoresEverything) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("LedgerExport");
  dc.AddUser(ou, "Gina", "gina");
  dc.AddUser(ou, "Hank", "hank");
  AddGroup(dc, ou, "Auditors");
  SyncdRun run(LedgerScope(ou));
  ASSERT_EQ(run.Once().exit_code, 0);
  Assign(run, "user:gina", "app:payroll");
  Assign(run, "user:hank", "connect:instance/abc/security-profile/Agent");
  Assign(run, "group:Auditors", "app:audit-log");
  Assign(run, "user:hank", "app:retired");
  ASSERT_EQ(run.Syncd("unassign user:hank app:retired").exit_code, 0);
  const auto store_before = StoreAssignments(run);
  ASSERT_EQ(store_before.size(), 3u);
  const auto ledger_before = Ledger(run);
  EXPECT_TRUE(ledger_before.contains("removed app:retired hank@corp.example.com"));

  const std::string file = run.state_path() + ".export.json";
  CommandResult exported = run.Syncd("assignments export " + ShellQuote(file));
  ASSERT_EQ(exported.exit_code, 0) << exported.err;

  // A malformed file is refused whole, naming the bad entry.
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t sid = text.find("\"objectSid\":\"S-1-5-21-", text.find("\"assignments\""));
  ASSERT_NE(sid, std::string::npos);
  std::string broken = text;
  broken.replace(sid, 22, "\"objectSid\":\"S-1-5-x-");
  const std::string bad_file = file + ".bad";
  std::ofstream(bad_file) << broken;
  CommandResult refused = run.Syncd("assignments import " + ShellQuote(bad_file));
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("assignments[0].principal.objectSid"), std::string::npos)
      << refused.err;
  EXPECT_EQ(Ledger(run), ledger_before) << "nothing changes";
  std::ofstream(bad_file) << "{\"format\": \"syncd-assignments\", \"version\": 9}";
  refused = run.Syncd("assignments import " + ShellQuote(bad_file));
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("version: is 9"), std::string::npos) << refused.err;

  // The state and the store are lost; a sync brings the principals back.
  std::filesystem::remove(run.state_path());
  std::filesystem::remove(run.store_path());
  ASSERT_EQ(run.Once().exit_code, 0);
  EXPECT_TRUE(StoreAssignments(run).empty());
  CommandResult imported = run.Syncd("assignments import " + ShellQuote(file));
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_NE(imported.out.find("imported 4 assignments"), std::string::npos) << imported.out;
  EXPECT_EQ(Ledger(run), ledger_before);
  CommandResult reapplied = run.Syncd("assignments reapply");
  EXPECT_EQ(reapplied.exit_code, 0) << reapplied.out << reapplied.err;
  EXPECT_EQ(StoreAssignments(run), store_before);
  // Importing twice adds nothing.
  imported = run.Syncd("assignments import " + ShellQuote(file));
  EXPECT_NE(imported.out.find("imported 0 assignments"), std::string::npos) << imported.out;
  EXPECT_EQ(Ledger(run), ledger_before);
}

TEST(Assignments, DriftIsReportedAndRepaired) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("LedgerDrift");
  dc.AddUser(ou, "Ivan", "ivan");
  SyncdRun run(LedgerScope(ou));
  ASSERT_EQ(run.Once().exit_code, 0);
  Assign(run, "user:ivan", "app:payroll");
  CommandResult clean = run.Syncd("assignments check");
  EXPECT_EQ(clean.exit_code, 0) << clean.out;
  EXPECT_NE(run.Syncd("status").out.find("assignments: 1 active\n"), std::string::npos);
  EXPECT_NE(run.Syncd("explain ivan").out.find("  assignment #1: app:payroll (active since"),
            std::string::npos);

  // Someone removes it from the store behind syncd's back.
  ASSERT_EQ(RunCommand("sqlite3 " + ShellQuote(run.store_path()) + " 'DELETE FROM assignments'")
                .exit_code,
            0);
  CommandResult drift = run.Syncd("assignments check");
  EXPECT_EQ(drift.exit_code, 2);
  EXPECT_NE(drift.out.find("restore  #1 app:payroll  user ivan@corp.example.com"),
            std::string::npos)
      << drift.out;
  CommandResult repaired = run.Syncd("assignments reapply");
  EXPECT_EQ(repaired.exit_code, 0) << repaired.out << repaired.err;
  EXPECT_EQ(StoreAssignments(run).size(), 1u);
  EXPECT_EQ(run.Syncd("assignments check").exit_code, 0);
  EXPECT_NE(std::string(Entry(run, "app:payroll", "ivan@corp.example.com").at("reason").as_string())
                .find("the store had lost it"),
            std::string::npos);

  // And one the store holds that nobody recorded is reported, not removed.
  ASSERT_EQ(RunCommand("sqlite3 " + ShellQuote(run.store_path()) +
                       " \"INSERT INTO assignments SELECT principal_external_id, principal_type, "
                       "'app:shadow', created_at FROM assignments\"")
                .exit_code,
            0);
  CommandResult unrecorded = run.Syncd("assignments check");
  EXPECT_EQ(unrecorded.exit_code, 2);
  EXPECT_NE(unrecorded.out.find("unrecorded  app:shadow"), std::string::npos) << unrecorded.out;
  EXPECT_EQ(run.Syncd("assignments reapply").exit_code, 0);
  EXPECT_EQ(StoreAssignments(run).size(), 2u);

  // An unassign the store did not take can be run again.
  Assign(run, "user:ivan", "app:temp");
  ASSERT_EQ(run.Syncd("unassign user:ivan app:temp").exit_code, 0);
  ASSERT_EQ(RunCommand("sqlite3 " + ShellQuote(run.store_path()) +
                       " \"INSERT INTO assignments SELECT principal_external_id, principal_type, "
                       "'app:temp', created_at FROM assignments LIMIT 1\"")
                .exit_code,
            0);
  CommandResult again = run.Syncd("unassign user:ivan app:temp");
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("the ledger had it removed already"), std::string::npos) << again.out;
  EXPECT_EQ(StoreAssignments(run).size(), 2u);
}

// Regression: a crash (or an error) between a source switch's commit and
// its reapply left the assignments orphaned for good; the watermark now
// keeps the reapply pending until it has been done.
TEST(Assignments, ReapplyLeftPendingBySwitchIsDoneByTheNextRun) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("LedgerPending");
  dc.AddUser(ou, "Judy", "judy");
  SyncdRun run(LedgerScope(ou), "", "[assignments]\nreapply = \"auto\"\n");
  ASSERT_EQ(run.Once().exit_code, 0);
  Assign(run, "user:judy", "app:payroll");
  // What the crash leaves: the switch committed, the store without the grant.
  ASSERT_EQ(RunCommand("sqlite3 " + ShellQuote(run.store_path()) + " 'DELETE FROM assignments'")
                .exit_code,
            0);
  ASSERT_EQ(run.StateSql("UPDATE watermark SET reapply_pending = 1").exit_code, 0);
  CommandResult next = run.Once();
  ASSERT_EQ(next.exit_code, 0) << next.err;
  EXPECT_NE(next.err.find("reapplied assignments after the source switch: 1 to restore"),
            std::string::npos)
      << next.err;
  EXPECT_EQ(StoreAssignments(run).size(), 1u);
  EXPECT_EQ(run.StateSql("SELECT reapply_pending FROM watermark").out, "0\n");
}

}  // namespace
}  // namespace syncd::testing
