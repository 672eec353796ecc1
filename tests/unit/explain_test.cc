#include "syncd/explain.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/strings.h"
#include "ldap/codec.h"
#include "state/state_db.h"
#include "tests/unit/test_util.h"

namespace syncd {
namespace {

namespace json = boost::json;
using testing::MakeOp;
using testing::MemberOp;

constexpr int64_t kLastSuccess = 1'700'000'000;  // 2023-11-14T22:13:20Z
constexpr char kUserFilter[] = "(&(objectCategory=person)(objectClass=user)(department=*))";

// A raw 16-byte GUID.
std::string Guid(char tag) {
  std::string g(16, '\x11');
  g[0] = tag;
  g[15] = '\xfe';
  return g;
}

SyncObject Object(char tag, ObjectKind kind, const std::string& sam, const std::string& cn,
                  const std::string& ou) {
  SyncObject o;
  o.guid = Guid(tag);
  o.kind = kind;
  o.external_id = ldap::GuidToString(o.guid).value_or("");
  o.source.Mutable().sam_account_name = sam;
  o.source.Mutable().dn = "CN=" + cn + ",OU=" + ou + ",DC=corp,DC=example";
  if (kind == ObjectKind::kUser) {
    o.source.Mutable().user_principal_name = sam + "@corp.example.com";
    o.name = o.source->user_principal_name;
    o.attributes = {{"userName", o.name},
                    {"displayName", cn},
                    {"email", sam + "@example.com"},
                    {"active", "true"}};
  } else {
    o.name = cn;
    o.attributes = {{"displayName", cn}};
  }
  return o;
}

SyncObject User(char tag, const std::string& sam, const std::string& cn) {
  return Object(tag, ObjectKind::kUser, sam, cn, "Staff");
}
SyncObject Group(char tag, const std::string& name) {
  return Object(tag, ObjectKind::kGroup, name, name, "Groups");
}

// A JSON string's text; a marker for anything else.
std::string Str(const json::value& v) {
  return v.is_string() ? std::string(v.get_string().c_str()) : "(not a string)";
}

std::vector<std::string> Names(const std::vector<ExplainedGroup>& groups) {
  std::vector<std::string> names;
  names.reserve(groups.size());
  for (const auto& g : groups) names.push_back(g.name);
  return names;
}

class ExplainTest : public ::testing::Test {
 protected:
  // The cache: groups Staff > Engineering > Platform > Engineering (a
  // cycle); jdoe in Staff and Engineering, carol in Platform, dave in
  // Platform and Staff; pat with journaled operations of an interrupted run;
  // ray on the watermark's revisit list.
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    config_.state_path = dir_.path() + "/state.db";
    config_.source.base_dn = "DC=corp,DC=example";
    config_.scope.user_bases = {"DC=corp,DC=example", "OU=Staff,DC=corp,DC=example"};
    config_.scope.group_bases = {"OU=Groups,DC=corp,DC=example"};
    config_.scope.user_filter = "(department=*)";
    config_.scope.exclude = {"OU=Disabled,OU=Staff,DC=corp,DC=example", "svc-backup"};

    auto opened = StateDb::Open(config_.state_path);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    StateDb& db = **opened;
    const SyncObject staff = Group('s', "Staff"), eng = Group('e', "Engineering"),
                     platform = Group('p', "Platform");
    const SyncObject jdoe = User('j', "jdoe", "John Doe"), carol = User('c', "carol", "Carol"),
                     dave = User('d', "dave", "Dave"), pat = User('t', "pat", "Pat"),
                     ray = User('r', "ray", "Ray");
    std::vector<Operation> ops;
    for (const auto& o : {staff, eng, platform, jdoe, carol, dave, pat, ray}) {
      ops.push_back(MakeOp(OpType::kCreate, o));
    }
    for (const auto& [group, member] :
         std::vector<std::pair<SyncObject, SyncObject>>{{staff, eng},
                                                        {eng, platform},
                                                        {platform, eng},
                                                        {staff, jdoe},
                                                        {eng, jdoe},
                                                        {platform, carol},
                                                        {platform, dave},
                                                        {staff, dave}}) {
      ops.push_back(MemberOp(OpType::kAddMember, group, member));
    }
    auto run = db.BeginRun("full", kLastSuccess - 10);
    ASSERT_TRUE(run.ok());
    ASSERT_TRUE(db.WriteOutbox(*run, ops).ok());
    Watermark w;
    w.feed = "usn";
    w.naming_context = "DC=corp,DC=example";
    w.dc_host = "dc1.corp.example.com";
    w.invocation_id = Guid('i');
    w.highest_usn = 100;
    w.scope_fingerprint = "f";
    w.last_success = kLastSuccess;
    w.last_full = kLastSuccess;
    w.revisit = {ray.guid};
    RunRecord record{*run, "full", kLastSuccess - 10, kLastSuccess, "ok", {}, "", ""};
    Status st = db.CommitRun(record, ops, &w);
    ASSERT_TRUE(st.ok()) << st.ToString();

    // An interrupted run: its journal is still there.
    SyncObject renamed = pat;
    renamed.attributes["displayName"] = "Patricia";
    Operation update = MakeOp(OpType::kUpdate, renamed);
    update.changes = std::vector<AttributeChange>{{"displayName", "Pat", "Patricia"}};
    auto interrupted = db.BeginRun("incremental", kLastSuccess + 500);
    ASSERT_TRUE(interrupted.ok());
    interrupted_run_ = *interrupted;
    ASSERT_TRUE(db.WriteOutbox(*interrupted, {update, MemberOp(OpType::kAddMember, eng, pat),
                                              MakeOp(OpType::kUpdate, carol)})
                    .ok());
  }

  Explanation Run(const std::string& name) {
    auto e = Explain(config_, name);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? *e : Explanation{};
  }

  // The one object `name` explains.
  ExplainedObject One(const std::string& name) {
    Explanation e = Run(name);
    EXPECT_EQ(e.verdict, Verdict::kInScope) << name << ": " << e.reason;
    EXPECT_EQ(e.objects.size(), 1u) << name;
    return e.objects.empty() ? ExplainedObject{} : e.objects.front();
  }

  static std::string Text(const Explanation& e) {
    std::ostringstream out;
    PrintExplanationText(out, e);
    return out.str();
  }

  testing::TempDir dir_{"syncd-explain-test"};
  Config config_;
  int64_t interrupted_run_ = 0;
};

TEST_F(ExplainTest, InScopeUserShowsBaseFilterAttributesAndMemberships) {
  Explanation e = Run("jdoe");
  ASSERT_EQ(e.verdict, Verdict::kInScope) << e.reason;
  EXPECT_EQ(e.reason, "in scope");
  ASSERT_EQ(e.objects.size(), 1u);
  const ExplainedObject& o = e.objects.front();
  EXPECT_EQ(o.matched_by, "sAMAccountName");
  EXPECT_EQ(o.object.kind, ObjectKind::kUser);
  EXPECT_EQ(o.object.source->dn, "CN=John Doe,OU=Staff,DC=corp,DC=example");
  EXPECT_EQ(o.object.guid, Guid('j'));
  EXPECT_EQ(o.base, "OU=Staff,DC=corp,DC=example");  // the longest matching base
  EXPECT_EQ(o.base_key, "scope.user_bases");
  EXPECT_EQ(o.filter, kUserFilter);
  EXPECT_EQ(o.filter_key, "scope.user_filter");
  EXPECT_EQ(o.configured_filter, "(department=*)");
  EXPECT_TRUE(o.scope_group.empty());
  EXPECT_TRUE(o.chain.empty());
  const Attributes want = {{"userName", "jdoe@corp.example.com"},
                           {"displayName", "John Doe"},
                           {"email", "jdoe@example.com"},
                           {"active", "true"}};
  EXPECT_EQ(o.object.attributes, want);
  EXPECT_EQ(Names(o.member_of), (std::vector<std::string>{"Engineering", "Staff"}));
  EXPECT_TRUE(o.pending.empty());
  EXPECT_FALSE(o.revisit);
  EXPECT_TRUE(o.notes.empty()) << ::testing::PrintToString(o.notes);
  EXPECT_EQ(e.last_success, kLastSuccess);

  const std::string text = Text(e);
  const std::vector<std::string> lines = {
      "jdoe: in scope\n",
      "user jdoe@corp.example.com (matched by sAMAccountName)\n",
      "  dn: CN=John Doe,OU=Staff,DC=corp,DC=example\n",
      "  objectGUID: " + o.object.external_id + "\n",
      "  base: OU=Staff,DC=corp,DC=example (scope.user_bases)\n",
      std::string("  filter: ") + kUserFilter + " (scope.user_filter = \"(department=*)\")\n",
      "    displayName: John Doe\n",
      "  member of: Engineering, Staff\n",
      "  pending: none\n",
      "  revisit: no\n",
  };
  for (const std::string& line : lines) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
  }
}

TEST_F(ExplainTest, FindsByUpnGuidDnAndName) {
  const std::string external_id = ldap::GuidToString(Guid('j')).value_or("?");
  std::string upper = external_id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"JDOE@corp.example.com", "userPrincipalName"},
      {external_id, "objectGUID"},
      {"{" + upper + "}", "objectGUID"},
      {"cn=john doe, ou=staff, dc=corp, dc=example", "DN"},
      {"John Doe", "name"},
  };
  for (const auto& [name, key] : cases) {
    ExplainedObject o = One(name);
    EXPECT_EQ(o.object.guid, Guid('j')) << name;
    EXPECT_EQ(o.matched_by, key) << name;
  }
}

TEST_F(ExplainTest, GroupShowsItsBaseFilterAndMembers) {
  ExplainedObject o = One("engineering");
  EXPECT_EQ(o.object.kind, ObjectKind::kGroup);
  EXPECT_EQ(o.matched_by, "sAMAccountName");
  EXPECT_EQ(o.base, "OU=Groups,DC=corp,DC=example");
  EXPECT_EQ(o.base_key, "scope.group_bases");
  EXPECT_EQ(o.filter, "(&(objectClass=group))");
  EXPECT_EQ(o.filter_key, "scope.group_filter");
  EXPECT_EQ(o.configured_filter, "");
  EXPECT_EQ(Names(o.member_of), (std::vector<std::string>{"Platform", "Staff"}));
  EXPECT_EQ(o.member_count, 2);  // Platform and jdoe
}

TEST_F(ExplainTest, GroupBasedScopeShowsTheShortestChain) {
  config_.scope.groups = {"Staff"};
  ExplainedObject carol = One("carol");
  EXPECT_EQ(carol.scope_group, "Staff");
  EXPECT_EQ(Names(carol.chain), (std::vector<std::string>{"Staff", "Engineering", "Platform"}));
  EXPECT_TRUE(carol.notes.empty()) << ::testing::PrintToString(carol.notes);
  // dave is in Platform too, but also directly in Staff.
  EXPECT_EQ(Names(One("dave").chain), (std::vector<std::string>{"Staff"}));
  // Through the cycle Engineering <-> Platform.
  EXPECT_EQ(Names(One("Platform").chain), (std::vector<std::string>{"Staff", "Engineering"}));
  ExplainedObject staff = One("Staff");
  EXPECT_EQ(staff.scope_group, "Staff");
  EXPECT_TRUE(staff.chain.empty());

  Explanation e = Run("carol");
  const std::string text = Text(e);
  EXPECT_NE(text.find("  scope group: scope.groups entry \"Staff\", via Staff > Engineering > "
                      "Platform > carol@corp.example.com\n"),
            std::string::npos)
      << text;

  // A scope group named by DN, in another case.
  config_.scope.groups = {"cn=platform,ou=groups,dc=corp,dc=example"};
  carol = One("carol");
  EXPECT_EQ(carol.scope_group, "cn=platform,ou=groups,dc=corp,dc=example");
  EXPECT_EQ(Names(carol.chain), (std::vector<std::string>{"Platform"}));
  // Through the cycle, the other way round.
  EXPECT_EQ(Names(One("jdoe").chain), (std::vector<std::string>{"Platform", "Engineering"}));
  // pat is in no group: the config changed since the run.
  ExplainedObject pat = One("pat");
  EXPECT_TRUE(pat.scope_group.empty());
  ASSERT_EQ(pat.notes.size(), 1u);
  EXPECT_NE(pat.notes[0].find("no chain of cached memberships leads to it from scope.groups"),
            std::string::npos)
      << pat.notes[0];
}

TEST_F(ExplainTest, DnOutsideEveryBase) {
  Explanation e = Run("CN=Someone,OU=People,DC=other,DC=example");
  EXPECT_EQ(e.verdict, Verdict::kOutsideBases);
  EXPECT_EQ(e.reason,
            "outside every configured base: scope.user_bases [\"DC=corp,DC=example\", "
            "\"OU=Staff,DC=corp,DC=example\"], scope.group_bases "
            "[\"OU=Groups,DC=corp,DC=example\"]");
  EXPECT_TRUE(e.objects.empty());
  EXPECT_EQ(Text(e), "CN=Someone,OU=People,DC=other,DC=example: " + e.reason + "\n");
}

TEST_F(ExplainTest, DnUnderAnExcludedSubtree) {
  Explanation e = Run("CN=Old Timer,OU=Disabled,OU=Staff,DC=corp,DC=example");
  EXPECT_EQ(e.verdict, Verdict::kExcluded);
  EXPECT_EQ(e.reason,
            "excluded by scope.exclude entry \"OU=Disabled,OU=Staff,DC=corp,DC=example\" (a DN "
            "subtree)");
}

TEST_F(ExplainTest, ExcludedSamAccountName) {
  Explanation e = Run("SVC-Backup");
  EXPECT_EQ(e.verdict, Verdict::kExcluded);
  EXPECT_EQ(e.reason, "excluded by scope.exclude entry \"svc-backup\" (a sAMAccountName)");
}

TEST_F(ExplainTest, DnUnderABaseButNotCached) {
  Explanation e = Run("CN=Nobody,OU=Staff,DC=corp,DC=example");
  EXPECT_EQ(e.verdict, Verdict::kNotCached);
  EXPECT_EQ(e.reason,
            std::string("under base \"OU=Staff,DC=corp,DC=example\" (scope.user_bases) but not in "
                        "the cached state: it did not match the user filter \"") +
                kUserFilter +
                "\" (scope.user_filter) at the last run, or does not exist, or changed since the "
                "last successful run at 2023-11-14T22:13:20Z");
  // Under both kinds of base, both filters; with group-based scope, that too.
  config_.scope.groups = {"Staff"};
  e = Run("CN=Somegroup,OU=Groups,DC=corp,DC=example");
  EXPECT_EQ(e.verdict, Verdict::kNotCached);
  EXPECT_NE(e.reason.find("under base \"DC=corp,DC=example\" (scope.user_bases) and "
                          "\"OU=Groups,DC=corp,DC=example\" (scope.group_bases)"),
            std::string::npos)
      << e.reason;
  EXPECT_NE(e.reason.find("or the group filter \"(&(objectClass=group))\" (scope.group_filter)"),
            std::string::npos)
      << e.reason;
  EXPECT_NE(e.reason.find("or is not a nested member of a group in scope.groups [\"Staff\"]"),
            std::string::npos)
      << e.reason;
}

TEST_F(ExplainTest, UnknownName) {
  Explanation e = Run("nobody");
  EXPECT_EQ(e.verdict, Verdict::kNotFound);
  EXPECT_EQ(e.reason, "not found in the cached state (last run at 2023-11-14T22:21:40Z, running)");
  // A missing state reads as empty.
  config_.state_path = dir_.path() + "/missing.db";
  e = Run("jdoe");
  EXPECT_EQ(e.verdict, Verdict::kNotFound);
  EXPECT_EQ(e.reason, "not found in the cached state (no run yet)");
}

TEST_F(ExplainTest, PendingOperationsAndRevisit) {
  Explanation e = Run("pat");
  ASSERT_EQ(e.objects.size(), 1u);
  const ExplainedObject& pat = e.objects.front();
  ASSERT_EQ(pat.pending.size(), 2u);  // its update, and its add to Engineering
  EXPECT_EQ(pat.pending[0].op, OpType::kUpdate);
  EXPECT_EQ(pat.pending[1].op, OpType::kAddMember);
  EXPECT_EQ(e.pending_run_id, interrupted_run_);
  EXPECT_FALSE(pat.revisit);
  const std::string text = Text(e);
  EXPECT_NE(text.find("  pending: update user pat@corp.example.com (journaled by interrupted run " +
                      std::to_string(interrupted_run_) + "; the next run finishes it)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  pending: add-member group Engineering <- user pat@corp.example.com"),
            std::string::npos)
      << text;

  ExplainedObject ray = One("ray");
  EXPECT_TRUE(ray.revisit);
  EXPECT_TRUE(ray.pending.empty());
  EXPECT_NE(Text(Run("ray")).find("  revisit: yes"), std::string::npos);
}

TEST_F(ExplainTest, AssignmentsOfTheObjectAreShown) {
  {
    auto db = StateDb::Open(config_.state_path);
    ASSERT_TRUE(db.ok());
    auto objects = (*db)->LoadObjects();
    const SyncObject* jdoe = nullptr;
    for (const auto& o : *objects) {
      if (o.source->sam_account_name == "jdoe") jdoe = &o;
    }
    ASSERT_NE(jdoe, nullptr);
    std::vector<LedgerEntry> entries = {LedgerEntryFor(*jdoe, "app:payroll"),
                                        LedgerEntryFor(*jdoe, "app:retired")};
    entries[0].changed_at = entries[1].changed_at = kLastSuccess;
    entries[0].reason = "assigned with syncd assign";
    entries[1].status = LedgerStatus::kRemoved;
    entries[1].reason = "unassigned with syncd unassign";
    ASSERT_TRUE((*db)->SaveLedger(&entries).ok());
  }
  ExplainedObject jdoe = One("jdoe");
  ASSERT_EQ(jdoe.assignments.size(), 2u);
  const std::string text = Text(Run("jdoe"));
  EXPECT_NE(text.find("  assignment #1: app:payroll (active since " + UtcTimestamp(kLastSuccess) +
                      ": assigned with syncd assign)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  assignment #2: app:retired (removed since"), std::string::npos) << text;
  EXPECT_NE(Text(Run("carol")).find("  assignments: none in the ledger\n"), std::string::npos);
}

TEST_F(ExplainTest, ConfigChangedSinceTheRunIsNoted) {
  config_.scope.exclude = {"JDOE"};
  config_.scope.user_bases = {"OU=Elsewhere,DC=corp,DC=example"};
  ExplainedObject o = One("jdoe");
  EXPECT_TRUE(o.base.empty());
  ASSERT_EQ(o.notes.size(), 2u) << ::testing::PrintToString(o.notes);
  EXPECT_NE(o.notes[0].find("no base in scope.user_bases"), std::string::npos) << o.notes[0];
  EXPECT_NE(o.notes[1].find("scope.exclude entry \"JDOE\" (a sAMAccountName) now excludes it"),
            std::string::npos)
      << o.notes[1];
}

TEST_F(ExplainTest, JsonCarriesTheSameFacts) {
  config_.scope.groups = {"Staff"};
  Explanation e = Run("carol");
  std::ostringstream out;
  PrintExplanationJson(out, e);
  json::error_code ec;
  json::value root = json::parse(out.str(), ec);
  ASSERT_FALSE(ec) << out.str();
  EXPECT_EQ(Str(root.at("query")), "carol");
  EXPECT_EQ(Str(root.at("verdict")), "in-scope");
  EXPECT_EQ(root.at("lastSuccess").to_number<int64_t>(), kLastSuccess);
  const json::array& objects = root.at("objects").as_array();
  ASSERT_EQ(objects.size(), 1u);
  const json::object& carol = objects[0].as_object();
  EXPECT_EQ(Str(carol.at("matchedBy")), "sAMAccountName");
  EXPECT_EQ(Str(carol.at("kind")), "user");
  EXPECT_EQ(Str(carol.at("externalId")), ldap::GuidToString(Guid('c')).value_or("?"));
  EXPECT_EQ(Str(carol.at("base")), "OU=Staff,DC=corp,DC=example");
  EXPECT_EQ(Str(carol.at("baseKey")), "scope.user_bases");
  EXPECT_EQ(Str(carol.at("filter")), kUserFilter);
  EXPECT_EQ(Str(carol.at("scopeGroup")), "Staff");
  std::vector<std::string> chain;
  for (const auto& g : carol.at("chain").as_array()) {
    chain.emplace_back(g.at("name").as_string().c_str());
  }
  EXPECT_EQ(chain, (std::vector<std::string>{"Staff", "Engineering", "Platform"}));
  EXPECT_EQ(Str(carol.at("attributes").at("displayName")), "Carol");
  EXPECT_EQ(carol.at("memberOf").as_array().size(), 1u);
  EXPECT_EQ(carol.at("pending").as_array().size(), 1u);  // its journaled update
  EXPECT_EQ(Str(carol.at("pending").at(0).at("op")), "update");
  EXPECT_EQ(carol.at("pendingRunId").to_number<int64_t>(), interrupted_run_);
  EXPECT_EQ(carol.at("revisit"), json::value(false));

  std::ostringstream absent;
  PrintExplanationJson(absent, Run("svc-backup"));
  root = json::parse(absent.str());
  EXPECT_EQ(Str(root.at("verdict")), "excluded");
  EXPECT_TRUE(root.at("objects").as_array().empty());
}

}  // namespace
}  // namespace syncd
