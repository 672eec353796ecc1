// Incremental sync against a real Samba AD DC, for both change feeds (DirSync
// and uSNChanged polling): every kind of directory change made between two
// runs is picked up by the next incremental run and nothing else is touched,
// and every reason to distrust the stored watermark forces a full
// reconciliation that converges to what an independent ldapsearch sees.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdint>
#include <filesystem>
#include <map>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ldap/codec.h"
#include "tests/integration/testbed.h"

namespace syncd::testing {
namespace {
namespace json = boost::json;

const char kUserClass[] = "(&(objectCategory=person)(objectClass=user))";
// Deletions are part of what is tested here, not the deletion budget.
const char kAnyDeletes[] = "[safety]\nmax_deletes = -1\nmax_delete_percent = 100\n";

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

bool ContainsNoCase(const std::string& haystack, const std::string& needle) {
  return Lower(haystack).find(Lower(needle)) != std::string::npos;
}

// ---------------------------------------------------------------------------
// The scope of a run, as config text and as the independent ldapsearch of it.

struct AdScope {
  std::vector<std::string> user_bases;
  std::vector<std::string> group_bases;
  std::string user_filter;  // ANDed with the user class filter, as syncd does

  std::string Toml() const {
    auto list = [](const std::vector<std::string>& bases) {
      std::string out = "[";
      for (const auto& b : bases) out += (out.size() > 1 ? ", \"" : "\"") + b + "\"";
      return out + "]";
    };
    std::string toml =
        "user_bases = " + list(user_bases) + "\ngroup_bases = " + list(group_bases) + "\n";
    if (!user_filter.empty()) toml += "user_filter = \"" + user_filter + "\"\n";
    return toml;
  }
};

AdScope OuScope(const std::string& ou) { return {{ou}, {ou}, ""}; }

// What the store must hold for a scope, read straight from the DC: users
// (objectGUID -> userPrincipalName, the default userName), groups (objectGUID
// -> name) and each group's direct members (explicit `member` values plus the
// users whose primaryGroupID is the group's RID), both ends in scope.
struct Directory {
  std::map<std::string, std::string> users;
  std::map<std::string, std::string> groups;
  std::map<std::string, std::set<std::string>> members;  // by group name
};

std::string RidOf(const std::string& sid) {
  if (sid.size() < 4) return "";
  uint32_t rid = 0;
  for (size_t i = 0; i < 4; ++i) {
    rid |= static_cast<uint32_t>(static_cast<unsigned char>(sid[sid.size() - 4 + i])) << (8 * i);
  }
  return std::to_string(rid);
}

// One paged ldapsearch: each entry as lower-case attribute name (and "dn")
// -> values, base64 values decoded.
using Entry = std::map<std::string, std::vector<std::string>>;
std::vector<Entry> Search(const std::string& base, const std::string& filter,
                          const std::string& attributes) {
  const std::string out = TestDc::Get().Ldap(
      "ldapsearch", "-LLL -o ldif-wrap=no -E pr=500/noprompt -b " + ShellQuote(base) + " " +
                        ShellQuote(filter) + " " + attributes);
  std::vector<Entry> entries;
  Entry entry;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    const auto colon = line.find(':');
    if (line.empty() || colon == std::string::npos) {
      // Paged searches end each page with a "control:" pseudo-entry.
      if (entry.contains("dn")) entries.push_back(std::move(entry));
      entry.clear();
      continue;
    }
    std::string& value = entry[Lower(line.substr(0, colon))].emplace_back();
    if (line.compare(colon, 3, ":: ") == 0) {
      value = Base64Decode(line.substr(colon + 3));
    } else {
      value = line.substr(line.compare(colon, 2, ": ") == 0 ? colon + 2 : colon + 1);
    }
  }
  if (entry.contains("dn")) entries.push_back(std::move(entry));
  return entries;
}

std::string First(const Entry& entry, const char* attribute) {
  auto it = entry.find(attribute);
  return it == entry.end() || it->second.empty() ? "" : it->second.front();
}

std::string GuidIn(const Entry& entry) {
  return ldap::GuidToString(First(entry, "objectguid")).value_or("?");
}

Directory ReadDirectory(const AdScope& scope) {
  Directory d;
  std::map<std::string, std::string> guid_by_dn;  // lower-case DN -> objectGUID
  std::map<std::string, std::string> primary;     // user objectGUID -> primaryGroupID
  const std::string user_filter = std::string("(&") + kUserClass + scope.user_filter + ")";
  for (const auto& base : scope.user_bases) {
    for (const Entry& user :
         Search(base, user_filter, "objectGUID userPrincipalName primaryGroupID")) {
      const std::string guid = GuidIn(user);
      d.users[guid] = First(user, "userprincipalname");
      guid_by_dn[Lower(First(user, "dn"))] = guid;
      primary[guid] = First(user, "primarygroupid");
    }
  }
  std::vector<Entry> groups;
  for (const auto& base : scope.group_bases) {
    for (Entry& group : Search(base, "(objectClass=group)", "objectGUID name objectSid member")) {
      guid_by_dn[Lower(First(group, "dn"))] = GuidIn(group);
      groups.push_back(std::move(group));
    }
  }
  for (const Entry& group : groups) {
    const std::string name = First(group, "name"), rid = RidOf(First(group, "objectsid"));
    d.groups[GuidIn(group)] = name;
    std::set<std::string>& members = d.members[name];
    for (const auto& [attribute, values] : group) {
      EXPECT_EQ(attribute.find("member;range="), std::string::npos) << "a ranged read; see testbed";
    }
    auto listed = group.find("member");
    for (const auto& dn : listed == group.end() ? std::vector<std::string>{} : listed->second) {
      auto it = guid_by_dn.find(Lower(dn));
      if (it != guid_by_dn.end()) members.insert(it->second);
    }
    for (const auto& [user, id] : primary) {
      if (id == rid) members.insert(user);
    }
  }
  return d;
}

// The store holds exactly what the DC holds for the scope.
void ExpectStoreMatchesAd(const SyncdRun& run, const AdScope& scope) {
  const Directory ad = ReadDirectory(scope);
  EXPECT_EQ(run.StoreObjects("users"), ad.users);
  EXPECT_EQ(run.StoreObjects("groups"), ad.groups);
  for (const auto& [name, members] : ad.members) {
    EXPECT_EQ(run.StoreMembers(name), members) << "members of " << name;
  }
}

// ---------------------------------------------------------------------------
// Plans.

// The summary of a plan, flattened; held counts all kinds together.
struct Counts {
  int user_create = 0, user_update = 0, user_delete = 0;
  int group_create = 0, group_update = 0, group_delete = 0;
  int add_member = 0, remove_member = 0;
  int held = 0;
  bool operator==(const Counts&) const = default;
};

void PrintTo(const Counts& c, std::ostream* os) {
  *os << "{users +" << c.user_create << " ~" << c.user_update << " -" << c.user_delete
      << ", groups +" << c.group_create << " ~" << c.group_update << " -" << c.group_delete
      << ", members +" << c.add_member << " -" << c.remove_member << ", held " << c.held << "}";
}

json::object ParseObject(const CommandResult& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.out, ec);
  if (ec || !v.is_object()) {
    ADD_FAILURE() << "not a JSON object (exit " << r.exit_code << ")\nstdout: " << r.out
                  << "\nstderr: " << r.err;
    return {};
  }
  return std::move(v.as_object());
}

std::string Str(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : "";
}

int64_t Int(const json::value& v) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64()) return static_cast<int64_t>(v.as_uint64());
  if (v.is_double()) return static_cast<int64_t>(v.as_double());
  return -1;
}

Counts CountsOf(const json::object& plan) {
  Counts c;
  const json::value* summary = plan.if_contains("summary");
  if (summary == nullptr || !summary->is_object()) return {.held = -1};
  auto n = [&](const char* kind, const char* op) -> int {
    const json::value* k = summary->as_object().if_contains(kind);
    const json::value* v = k && k->is_object() ? k->as_object().if_contains(op) : nullptr;
    return v ? static_cast<int>(Int(*v)) : -1;
  };
  c.user_create = n("user", "create");
  c.user_update = n("user", "update");
  c.user_delete = n("user", "delete");
  c.group_create = n("group", "create");
  c.group_update = n("group", "update");
  c.group_delete = n("group", "delete");
  c.add_member = n("membership", "add-member");
  c.remove_member = n("membership", "remove-member");
  c.held = n("user", "held") + n("group", "held") + n("membership", "held");
  return c;
}

json::array Operations(const json::object& plan) {
  const json::value* ops = plan.if_contains("operations");
  return ops && ops->is_array() ? ops->as_array() : json::array{};
}

// Applies one run with `--once --json`: it must be of `kind` and plan
// exactly `expected`, and apply all of it. Returns the applied plan.
json::object Apply(const SyncdRun& run, const std::string& kind, const Counts& expected,
                   const std::string& extra_args = "") {
  CommandResult applied = run.Syncd("--once --json" + extra_args);
  EXPECT_EQ(applied.exit_code, 0) << applied.err << applied.out;
  json::object plan = ParseObject(applied);
  EXPECT_EQ(Str(plan, "kind"), kind) << "reason: " << Str(plan, "reason") << "\n" << applied.err;
  EXPECT_EQ(CountsOf(plan), expected) << applied.out;
  if (expected == Counts{}) {
    EXPECT_TRUE(Operations(plan).empty()) << applied.out;
  }
  return plan;
}

// The same after a dry run, which must choose the same kind, plan the same
// operations, and change neither the state (not even the watermark) nor the
// store.
json::object DryRunThenApply(const SyncdRun& run, const std::string& kind, const Counts& expected,
                             const std::string& extra_args = "") {
  const std::string state = FileDigest(run.state_path()), store = FileDigest(run.store_path());
  CommandResult dry = run.Syncd("--dry-run --json" + extra_args);
  EXPECT_EQ(dry.exit_code, expected == Counts{} ? 0 : 2) << dry.err << dry.out;
  json::object planned = ParseObject(dry);
  EXPECT_EQ(Str(planned, "kind"), kind) << "reason: " << Str(planned, "reason") << "\n" << dry.err;
  EXPECT_EQ(CountsOf(planned), expected) << dry.out;
  EXPECT_EQ(FileDigest(run.state_path()), state) << "a dry run changes no state, no watermark";
  EXPECT_EQ(FileDigest(run.store_path()), store) << "a dry run changes no store";
  json::object plan = Apply(run, kind, expected, extra_args);
  EXPECT_EQ(Operations(plan), Operations(planned)) << "the dry run planned what the run applied";
  return plan;
}

json::object Incremental(const SyncdRun& run, const Counts& expected) {
  return Apply(run, "incremental", expected);
}

// The first run of a fresh state: a full reconciliation that succeeds.
void FirstFullRun(const SyncdRun& run) {
  CommandResult r = run.Syncd("--once --json");
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  json::object plan = ParseObject(r);
  EXPECT_EQ(Str(plan, "kind"), "full") << r.out;
  EXPECT_FALSE(Str(plan, "reason").empty()) << r.out;
}

// After a full reconciliation forced by `reason_part` (empty: any reason):
// the store equals the DC and the next run is incremental with nothing to do.
void ExpectFullThenQuiet(const SyncdRun& run, const AdScope& scope, const Counts& expected,
                         const std::string& reason_part = "") {
  json::object plan = DryRunThenApply(run, "full", expected);
  if (!reason_part.empty()) {
    EXPECT_TRUE(ContainsNoCase(Str(plan, "reason"), reason_part))
        << "reason \"" << Str(plan, "reason") << "\" does not mention " << reason_part;
  }
  ExpectStoreMatchesAd(run, scope);
  EXPECT_EQ(run.StateSql("SELECT count(*) FROM watermark").out, "1\n")
      << "the full run stores a new watermark";
  Incremental(run, {});
}

// The run after one the state never recorded (killed, or made so): a full
// reconciliation that says why and succeeds. Returns its plan.
json::object ExpectReconciledAfterAnInterruptedRun(const SyncdRun& run) {
  CommandResult rerun = run.Syncd("--once --json");
  EXPECT_EQ(rerun.exit_code, 0) << rerun.err;
  json::object plan = ParseObject(rerun);
  EXPECT_EQ(Str(plan, "kind"), "full");
  EXPECT_NE(Str(plan, "reason").find("was interrupted before the state recorded it"),
            std::string::npos)
      << Str(plan, "reason");
  return plan;
}

// The one operation of a plan (fails the test unless there is exactly one).
json::object OnlyOperation(const json::object& plan) {
  json::array ops = Operations(plan);
  EXPECT_EQ(ops.size(), 1u) << json::serialize(plan);
  return ops.size() == 1 && ops[0].is_object() ? ops[0].as_object() : json::object{};
}

bool Changes(const json::object& op, const char* attribute) {
  const json::value* changes = op.if_contains("changes");
  return changes && changes->is_object() && changes->as_object().contains(attribute);
}

// ---------------------------------------------------------------------------
// Directory changes, as Administrator with the OpenLDAP tools.

std::string GuidOf(const std::string& dn) {
  auto guids = TestDc::Get().SearchGuids(dn, "(objectClass=*)");
  return guids.size() == 1 ? *guids.begin() : "";
}

// The test DNs' RDNs hold no escaped commas.
std::string Rdn(const std::string& dn) { return dn.substr(0, dn.find(',')); }
std::string Parent(const std::string& dn) { return dn.substr(dn.find(',') + 1); }

std::string MoveTo(const std::string& dn, const std::string& parent) {
  TestDc::Get().Ldap("ldapmodrdn", "-r -s " + ShellQuote(parent) + " " + ShellQuote(dn) + " " +
                                       ShellQuote(Rdn(dn)));
  return Rdn(dn) + "," + parent;
}

std::string Rename(const std::string& dn, const std::string& rdn) {
  TestDc::Get().Ldap("ldapmodrdn", "-r " + ShellQuote(dn) + " " + ShellQuote(rdn));
  return rdn + "," + Parent(dn);
}

void Delete(const std::string& dn) { TestDc::Get().Ldap("ldapdelete", ShellQuote(dn)); }

void Replace(const std::string& dn, const std::string& attribute, const std::string& value) {
  TestDc::Get().Modify("dn: " + dn + "\nchangetype: modify\nreplace: " + attribute + "\n" +
                       attribute + ": " + value + "\n");
}

void ChangeMembers(const std::string& group, const char* how,
                   const std::vector<std::string>& members) {
  std::string ldif = "dn: " + group + "\nchangetype: modify\n" + how + ": member\n";
  for (const auto& m : members) ldif += "member: " + m + "\n";
  TestDc::Get().Modify(ldif);
}
void AddMembers(const std::string& group, const std::vector<std::string>& members) {
  ChangeMembers(group, "add", members);
}
void RemoveMembers(const std::string& group, const std::vector<std::string>& members) {
  ChangeMembers(group, "delete", members);
}

std::string DomainUsers() { return "CN=Domain Users,CN=Users," + TestDc::Get().BaseDn(); }

// ---------------------------------------------------------------------------
// The fixture: one change feed per instantiation; each test in its own OUs.

class IncrementalSync : public ::testing::TestWithParam<std::string> {
 protected:
  const std::string& feed() const { return GetParam(); }
  std::string FeedConfig() const { return "change_feed = \"" + feed() + "\"\n"; }
  // OUs and sAMAccountNames differ per feed: both instantiations share the DC.
  std::string Ou(const std::string& name) { return dc_.FreshOu("T-Inc-" + name + "-" + feed()); }
  std::string Sam(const std::string& tag) const { return feed().substr(0, 1) + tag; }

  // User(), Group() and OuUnder() queue LDIF records; Add() adds them all in
  // one ldapmodify.
  std::string User(const std::string& ou, const std::string& cn, const std::string& tag) {
    std::string dn = "CN=" + cn + "," + ou;
    ldif_ += "dn: " + dn + "\nchangetype: add\nobjectClass: user\nsAMAccountName: " + Sam(tag) +
             "\nuserPrincipalName: " + Sam(tag) + "@corp.example.com\ngivenName: " + cn +
             "\ndisplayName: " + cn + "\nmail: " + Sam(tag) +
             "@corp.example.com\nuserAccountControl: 514\n\n";
    return dn;
  }
  std::string Group(const std::string& ou, const std::string& cn, const std::string& tag,
                    const std::vector<std::string>& members = {}) {
    std::string dn = "CN=" + cn + "," + ou;
    ldif_ +=
        "dn: " + dn + "\nchangetype: add\nobjectClass: group\nsAMAccountName: " + Sam(tag) + "\n";
    for (const auto& m : members) ldif_ += "member: " + m + "\n";
    ldif_ += "\n";
    return dn;
  }
  std::string OuUnder(const std::string& parent, const std::string& name) {
    std::string dn = "OU=" + name + "," + parent;
    ldif_ += "dn: " + dn + "\nchangetype: add\nobjectClass: organizationalUnit\n\n";
    return dn;
  }
  void Add() {
    ASSERT_FALSE(ldif_.empty());
    dc_.Modify(ldif_);
    ldif_.clear();
  }

  // A small scope: three users, a group holding the first two.
  struct Small {
    std::string ou, group;
    std::vector<std::string> users;
  };
  Small SmallOu(const std::string& name) {
    Small s;
    s.ou = Ou(name);
    for (int i = 1; i <= 3; ++i) {
      s.users.push_back(
          User(s.ou, name + " " + std::to_string(i), Lower(name).substr(0, 6) + std::to_string(i)));
    }
    s.group =
        Group(s.ou, name + " Group", Lower(name).substr(0, 6) + "g", {s.users[0], s.users[1]});
    Add();
    return s;
  }

  TestDc& dc_ = TestDc::Get();

 private:
  std::string ldif_;
};

// 1. Users: create, attribute changes, rename, moves within, out of and back
// into the scope, delete. Each is one incremental run planning exactly it.
TEST_P(IncrementalSync, UserChangesArePickedUpAndNothingElse) {
  const std::string ou = Ou("Users");
  const std::string a = OuUnder(ou, "A"), b = OuUnder(ou, "B");
  const std::string outside = Ou("Outside");
  std::string u1 = User(a, "Life One", "life1");
  std::string u2 = User(a, "Life Two", "life2");
  std::string u3 = User(a, "Life Three", "life3");
  const std::string u4 = User(a, "Life Four", "life4");
  Group(a, "Life Group", "lifeg", {u1});
  Add();
  const AdScope scope = OuScope(ou);
  SyncdRun run(scope.Toml(), FeedConfig(), kAnyDeletes);

  // No watermark yet: the dry run and the first run are full; the dry run
  // creates no state.
  CommandResult dry = run.DryRunJson();
  EXPECT_EQ(dry.exit_code, 2) << dry.err;
  EXPECT_EQ(Str(ParseObject(dry), "kind"), "full") << dry.out;
  EXPECT_EQ(FileDigest(run.state_path()), "") << "a dry run creates no state";
  ASSERT_NO_FATAL_FAILURE(FirstFullRun(run));
  ExpectStoreMatchesAd(run, scope);

  // Create.
  const std::string u5 = User(a, "Life Five", "life5");
  Add();
  auto plan = DryRunThenApply(run, "incremental", {.user_create = 1});
  EXPECT_EQ(Str(OnlyOperation(plan), "externalId"), GuidOf(u5));

  // Attribute changes.
  Replace(u2, "displayName", "Life Two Changed");
  plan = DryRunThenApply(run, "incremental", {.user_update = 1});
  EXPECT_TRUE(Changes(OnlyOperation(plan), "displayName")) << json::serialize(plan);
  Replace(u3, "mail", "life.three@corp.example.com");
  plan = DryRunThenApply(run, "incremental", {.user_update = 1});
  EXPECT_TRUE(Changes(OnlyOperation(plan), "email")) << json::serialize(plan);

  // Rename: the same object, a new DN.
  const std::string u2_guid = GuidOf(u2);
  u2 = Rename(u2, "CN=Life Two Renamed");
  plan = DryRunThenApply(run, "incremental", {.user_update = 1});
  EXPECT_EQ(Str(OnlyOperation(plan), "externalId"), u2_guid);
  EXPECT_TRUE(Changes(OnlyOperation(plan), "dn")) << json::serialize(plan);

  // Move between two sub-OUs of the scope base.
  u3 = MoveTo(u3, b);
  plan = DryRunThenApply(run, "incremental", {.user_update = 1});
  EXPECT_TRUE(Changes(OnlyOperation(plan), "dn")) << json::serialize(plan);

  // Out of scope: deleted from the store (its membership goes with it).
  const std::string u1_guid = GuidOf(u1);
  u1 = MoveTo(u1, outside);
  plan = DryRunThenApply(run, "incremental", {.user_delete = 1});
  EXPECT_EQ(Str(OnlyOperation(plan), "externalId"), u1_guid);
  EXPECT_FALSE(run.StoreObjects("users").contains(u1_guid));

  // Back into scope (another sub-OU): created again under the same objectGUID,
  // with the group membership AD kept.
  u1 = MoveTo(u1, b);
  DryRunThenApply(run, "incremental", {.user_create = 1, .add_member = 1});
  EXPECT_TRUE(run.StoreObjects("users").contains(u1_guid));
  EXPECT_TRUE(run.StoreMembers("Life Group").contains(u1_guid));

  // Delete.
  const std::string u4_guid = GuidOf(u4);
  Delete(u4);
  plan = DryRunThenApply(run, "incremental", {.user_delete = 1});
  EXPECT_EQ(Str(OnlyOperation(plan), "externalId"), u4_guid);

  ExpectStoreMatchesAd(run, scope);
}

// 1. Groups: member add and remove, nesting, rename, create, delete.
TEST_P(IncrementalSync, GroupAndMembershipChangesArePickedUp) {
  const std::string ou = Ou("Groups");
  const std::string m1 = User(ou, "Grp One", "grp1");
  const std::string m2 = User(ou, "Grp Two", "grp2");
  const std::string m3 = User(ou, "Grp Three", "grp3");
  const std::string g1 = Group(ou, "Outer Group", "grpouter");
  std::string g2 = Group(ou, "Inner Group", "grpinner", {m3});
  Add();
  const AdScope scope = OuScope(ou);
  SyncdRun run(scope.Toml(), FeedConfig(), kAnyDeletes);
  ASSERT_NO_FATAL_FAILURE(FirstFullRun(run));

  AddMembers(g1, {m1, m2});
  Incremental(run, {.add_member = 2});
  EXPECT_EQ(run.StoreMembers("Outer Group"), (std::set<std::string>{GuidOf(m1), GuidOf(m2)}));

  RemoveMembers(g1, {m1});
  Incremental(run, {.remove_member = 1});
  EXPECT_EQ(run.StoreMembers("Outer Group"), (std::set<std::string>{GuidOf(m2)}));

  // Nesting: a group becomes a member of a group.
  AddMembers(g1, {g2});
  auto plan = Incremental(run, {.add_member = 1});
  const json::object op = OnlyOperation(plan);
  const json::value* member = op.if_contains("member");
  EXPECT_EQ(member && member->is_object() ? Str(member->as_object(), "externalId") : "", GuidOf(g2))
      << json::serialize(plan);
  EXPECT_TRUE(run.StoreMembers("Outer Group", /*effective=*/true).contains(GuidOf(m3)));

  const std::string g2_guid = GuidOf(g2);
  g2 = Rename(g2, "CN=Inner Group Renamed");
  plan = Incremental(run, {.group_update = 1});
  EXPECT_EQ(Str(OnlyOperation(plan), "externalId"), g2_guid);
  EXPECT_EQ(run.StoreObjects("groups").at(g2_guid), "Inner Group Renamed");

  Group(ou, "New Group", "grpnew", {m1});
  Add();
  Incremental(run, {.group_create = 1, .add_member = 1});

  // A deleted group takes its edges (as group and as member) with it.
  Delete(g2);
  plan = Incremental(run, {.group_delete = 1});
  EXPECT_EQ(Str(OnlyOperation(plan), "externalId"), g2_guid);

  ExpectStoreMatchesAd(run, scope);
}

// 1. primaryGroupID: membership without a `member` value.
TEST_P(IncrementalSync, PrimaryGroupChangesArePickedUp) {
  const std::string ou = Ou("Primary");
  const std::string p1 = User(ou, "Prim One", "prim1");
  const std::string p2 = User(ou, "Prim Two", "prim2");
  const std::string group = Group(ou, "Prim Group", "primg", {p2});
  Add();
  const AdScope scope = OuScope(ou);
  SyncdRun run(scope.Toml(), FeedConfig(), kAnyDeletes);
  ASSERT_NO_FATAL_FAILURE(FirstFullRun(run));

  // p1 joins through its primary group; p2 was an explicit member and now is
  // one through primaryGroupID (the DC drops its `member` value): no change.
  dc_.SetPrimaryGroup(p1, group);
  dc_.SetPrimaryGroup(p2, group);
  ASSERT_TRUE(dc_.SearchValues(group, "member").empty()) << "the DC keeps primary members implicit";
  Incremental(run, {.add_member = 1});
  EXPECT_EQ(run.StoreMembers("Prim Group"), (std::set<std::string>{GuidOf(p1), GuidOf(p2)}));
  ExpectStoreMatchesAd(run, scope);

  // p1 back to Domain Users: the DC makes the old primary group an explicit
  // `member` (no change for the store); then p1 leaves the group.
  dc_.SetPrimaryGroup(p1, DomainUsers());
  RemoveMembers(group, {p1});
  Incremental(run, {.remove_member = 1});
  EXPECT_EQ(run.StoreMembers("Prim Group"), (std::set<std::string>{GuidOf(p2)}));
  ExpectStoreMatchesAd(run, scope);
}

// 1. A group's `member` crossing AD's 1,500-value range window, both ways.
TEST_P(IncrementalSync, GroupCrossingFifteenHundredMembers) {
  const std::string ou = Ou("Range");
  const std::string people = "OU=People," + dc_.SyncOu();
  // Sample users with plain-ASCII DNs, so the LDIF needs no base64.
  std::vector<std::string> dns;
  for (const auto& [guid, dn] : dc_.SearchGuidMap(people, kUserClass, "distinguishedName")) {
    bool ascii = true;
    for (char c : dn) ascii &= static_cast<unsigned char>(c) < 0x80;
    if (ascii) dns.push_back(dn);
  }
  ASSERT_GE(dns.size(), 1501u);
  const std::string group = Group(ou, "Range Group", "rangegrp",
                                  std::vector<std::string>(dns.begin(), dns.begin() + 1499));
  Add();
  const AdScope scope{{people}, {ou}, ""};
  // range_step = 1500: syncd reads `member` in AD's window size.
  SyncdRun run(scope.Toml(), FeedConfig() + "range_step = 1500\n", kAnyDeletes);
  ASSERT_NO_FATAL_FAILURE(FirstFullRun(run));
  ASSERT_EQ(run.StoreMembers("Range Group").size(), 1499u);

  AddMembers(group, {dns[1499], dns[1500]});
  Incremental(run, {.add_member = 2});
  EXPECT_EQ(run.StoreMembers("Range Group").size(), 1501u);

  RemoveMembers(group, {dns[0], dns[1], dns[1500]});
  Incremental(run, {.remove_member = 3});
  EXPECT_EQ(run.StoreMembers("Range Group").size(), 1498u);

  ExpectStoreMatchesAd(run, scope);
}

// 2. No change in scope: nothing planned, even after changes outside it.
TEST_P(IncrementalSync, RunWithoutChangesPlansNothing) {
  const Small s = SmallOu("Quiet");
  const std::string outside = Ou("QuietOut");
  const std::string stranger = User(outside, "Quiet Stranger", "quietx");
  Add();
  SyncdRun run(OuScope(s.ou).Toml(), FeedConfig(), kAnyDeletes);
  ASSERT_NO_FATAL_FAILURE(FirstFullRun(run));
  auto plan = Incremental(run, {});
  EXPECT_TRUE(plan.contains("held") && plan.at("held").as_array().empty()) << json::serialize(plan);

  Replace(stranger, "displayName", "Quiet Stranger Changed");
  User(outside, "Quiet Newcomer", "quiety");
  Add();
  Incremental(run, {});
  CommandResult text = run.Once();
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("nothing to do"), std::string::npos) << text.out;
  ExpectStoreMatchesAd(run, OuScope(s.ou));
}

// 4. Many changes while syncd is not running: one run picks up all of them,
// an object changed twice once, an object created and deleted not at all.
TEST_P(IncrementalSync, ChangesMadeBetweenRunsAreAllPickedUp) {
  const std::string ou = Ou("Offline");
  const std::string a1 = User(ou, "Off One", "off1");
  const std::string a2 = User(ou, "Off Two", "off2");
  const std::string a3 = User(ou, "Off Three", "off3");
  const std::string a4 = User(ou, "Off Four", "off4");
  const std::string g = Group(ou, "Off Group", "offg", {a1});
  const std::string h = Group(ou, "Off Other", "offh");
  Add();
  const AdScope scope = OuScope(ou);
  SyncdRun run(scope.Toml(), FeedConfig(), kAnyDeletes);
  ASSERT_NO_FATAL_FAILURE(FirstFullRun(run));

  const std::string n1 = User(ou, "Off New One", "offn1");
  User(ou, "Off New Two", "offn2");
  const std::string ephemeral = User(ou, "Off Ephemeral", "offeph");
  Add();
  AddMembers(g, {n1});
  Replace(a2, "displayName", "Off Two Changed");
  Replace(a2, "mail", "off.two@corp.example.com");
  Delete(a3);
  RemoveMembers(g, {a1});
  AddMembers(h, {a4});
  Rename(h, "CN=Off Other Renamed");
  Delete(ephemeral);

  Incremental(run, {.user_create = 2,
                    .user_update = 1,
                    .user_delete = 1,
                    .group_update = 1,
                    .add_member = 2,
                    .remove_member = 1});
  ExpectStoreMatchesAd(run, scope);
  Incremental(run, {});
}

// 3. No watermark: a full reconciliation against the cached state.
TEST_P(IncrementalSync, DeletedWatermarkForcesFullReconciliation) {
  const Small s = SmallOu("NoMark");
  const AdScope scope = OuScope(s.ou);
  SyncdRun run(scope.Toml(), FeedConfig(), kAnyDeletes);
  ASSERT_NO_FATAL_FAILURE(FirstFullRun(run));
  Replace(s.users[0], "displayName", "NoMark Changed");
  CommandResult tamper = run.StateSql("DELETE FROM watermark");
  ASSERT_EQ(tamper.exit_code, 0) << tamper.err;
  ExpectFullThenQuiet(run, scope, {.user_update = 1});
}

// 3. A changed scope configuration: the watermark does not cover the new scope.
TEST_P(IncrementalSync, ScopeConfigurationChangeForcesFullReconciliation) {
  const Small s = SmallOu("Scope");
  const std::string other = Ou("ScopeOther");
  User(other, "Scope Other", "scopeo");
  Add();
  AdScope scope = OuScope(s.ou);
  SyncdRun run(scope.Toml(), FeedConfig(), kAnyDeletes);
  ASSERT_NO_FATAL_FAILURE(FirstFullRun(run));
  std::string config = run.BaseConfig();
  auto rescope = [&](const AdScope& next) {
    const std::string from = scope.Toml();
    config.replace(config.find(from), from.size(), next.Toml());
    run.WriteConfig(config);
    scope = next;
  };

  // A user filter leaving a group member out: its edge goes with its deletion.
  AdScope filtered = scope;
  filtered.user_filter = "(!(sAMAccountName=" + Sam("scope2") + "))";
  rescope(filtered);
  ExpectFullThenQuiet(run, scope, {.user_delete = 1}, "scope");

  // Another user base.
  AdScope wider = scope;
  wider.user_bases.push_back(other);
  rescope(wider);
  ExpectFullThenQuiet(run, scope, {.user_create = 1}, "scope");
}

// 7. An outage longer than the tombstone lifetime: deletions may have been
// forgotten by the DC, so only a full read can find them.
TEST_P(IncrementalSync, LastSuccessOlderThanTombstoneLifetimeForcesFull) {
  const Small s = SmallOu("Stale");
  const AdScope scope = OuScope(s.ou);
  SyncdRun run(scope.Toml(), FeedConfig(), kAnyDeletes);
  ASSERT_NO_FATAL_FAILURE(FirstFullRun(run));
  Delete(s.users[2]);
  CommandResult tamper =
      run.StateSql("UPDATE watermark SET last_success = last_success - 400*86400");
  ASSERT_EQ(tamper.exit_code, 0) << tamper.err;
  ExpectFullThenQuiet(run, scope, {.user_delete = 1});
}

// 5. --full: a reconciliation; with no differences it applies nothing.
TEST_P(IncrementalSync, ForcedFullReconciliationAppliesOnlyDifferences) {
  const Small s = SmallOu("Forced");
  const AdScope scope = OuScope(s.ou);
  SyncdRun run(scope.Toml(), FeedConfig(), kAnyDeletes);
  ASSERT_NO_FATAL_FAILURE(FirstFullRun(run));

  auto plan = DryRunThenApply(run, "full", {}, " --full");
  EXPECT_TRUE(ContainsNoCase(Str(plan, "reason"), "full")) << Str(plan, "reason");
  Replace(s.users[1], "displayName", "Forced Changed");
  DryRunThenApply(run, "full", {.user_update = 1}, " --full");
  ExpectStoreMatchesAd(run, scope);
  Incremental(run, {});

  EXPECT_EQ(run.StateSql("SELECT count(*) FROM runs WHERE kind = 'full'").out, "3\n");
  EXPECT_EQ(run.StateSql("SELECT count(*) FROM runs WHERE kind = 'incremental'").out, "1\n");
}

// 6. status: offline, from the state only.
TEST_P(IncrementalSync, StatusShowsFeedDcAndTheLastRunOfEachKind) {
  const Small s = SmallOu("Status");
  SyncdRun run(OuScope(s.ou).Toml(), FeedConfig(), kAnyDeletes);
  ASSERT_NO_FATAL_FAILURE(FirstFullRun(run));
  Replace(s.users[0], "displayName", "Status Changed");
  Incremental(run, {.user_update = 1});

  // No DC reachable: status still answers.
  std::string config = run.BaseConfig();
  const std::string uris = "uris = [\"" + dc_.Value("URI") + "\"]";
  config.replace(config.find(uris), uris.size(), "uris = [\"ldaps://dc1.corp.example.com:1\"]");
  run.WriteConfig(config);

  CommandResult r = run.Syncd("status --json");
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const json::object status = ParseObject(r);
  const std::string dump = json::serialize(status);
  EXPECT_EQ(Str(status, "feed"), feed()) << dump;
  EXPECT_TRUE(ContainsNoCase(Str(status, "dc"), "dc1.corp.example.com")) << dump;
  EXPECT_EQ(Lower(Str(status, "naming_context")), Lower(dc_.BaseDn())) << dump;
  for (const char* key : {"last_success", "last_full"}) {
    const json::value* v = status.if_contains(key);
    ASSERT_NE(v, nullptr) << key << " missing: " << dump;
    EXPECT_TRUE(v->is_string() ? !v->as_string().empty() : Int(*v) > 0) << key << ": " << dump;
  }
  const json::value* watermark = status.if_contains("watermark");
  ASSERT_TRUE(watermark && watermark->is_object()) << dump;
  const char* position = feed() == "usn" ? "usn" : "cookie_bytes";
  const json::value* at = watermark->as_object().if_contains(position);
  EXPECT_TRUE(at && Int(*at) > 0) << position << ": " << dump;
  const json::value* runs = status.if_contains("runs");
  ASSERT_TRUE(runs && runs->is_object()) << dump;
  for (const char* kind : {"full", "incremental"}) {
    const json::value* last = runs->as_object().if_contains(kind);
    ASSERT_TRUE(last && last->is_object()) << kind << ": " << dump;
    EXPECT_FALSE(Str(last->as_object(), "outcome").empty()) << kind << ": " << dump;
    for (const char* key : {"started_at", "duration_seconds", "counts"}) {
      EXPECT_TRUE(last->as_object().contains(key)) << kind << "." << key << ": " << dump;
    }
    const json::value* seconds = last->as_object().if_contains("duration_seconds");
    EXPECT_TRUE(seconds && seconds->is_number() && seconds->to_number<double>() >= 0) << dump;
  }
  const json::value* pending = status.if_contains("pending_operations");
  EXPECT_TRUE(pending && Int(*pending) == 0) << dump;

  CommandResult text = run.Syncd("status");
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find(feed()), std::string::npos) << text.out;

  EXPECT_EQ(run.StateSql("SELECT feed FROM watermark WHERE id = 1").out, feed() + "\n");
  EXPECT_EQ(run.StateSql("SELECT DISTINCT kind FROM runs ORDER BY kind").out,
            "full\nincremental\n");
}

// 3. Feed-specific reasons to distrust the watermark: a cookie the DC rejects
// (DirSync); another database behind the same DC name, or its USN going
// backwards (uSNChanged polling).
TEST_P(IncrementalSync, TamperedWatermarkForcesFullReconciliation) {
  const Small s = SmallOu("Tamper");
  const AdScope scope = OuScope(s.ou);
  SyncdRun run(scope.Toml(), FeedConfig(), kAnyDeletes);
  ASSERT_NO_FATAL_FAILURE(FirstFullRun(run));
  ASSERT_EQ(run.StateSql("SELECT feed FROM watermark").out, feed() + "\n");

  struct Tamper {
    const char* sql;
    const char* reason;  // a substring of the reason, or ""
  };
  const std::vector<Tamper> tampers =
      feed() == "dirsync"
          ? std::vector<Tamper>{{"UPDATE watermark SET cookie = X'4d534453deadbeef'", "cookie"}}
          : std::vector<Tamper>{{"UPDATE watermark SET invocation_id = randomblob(16)", ""},
                                {"UPDATE watermark SET highest_usn = highest_usn + 1000000", ""}};
  int n = 0;
  for (const auto& t : tampers) {
    SCOPED_TRACE(t.sql);
    Replace(s.users[0], "displayName", "Tamper Changed " + std::to_string(++n));
    CommandResult tamper = run.StateSql(t.sql);
    ASSERT_EQ(tamper.exit_code, 0) << tamper.err;
    ExpectFullThenQuiet(run, scope, {.user_update = 1}, t.reason);
  }
}

// A crash (kill -9) while an incremental batch is in flight: the local
// store's batch is atomic and journals nothing, so the run's record is left
// unfinished and the rerun compares the store with AD in full. It loses
// nothing, duplicates nothing (a create adopts what the batch made), and
// incremental runs follow.
TEST_P(IncrementalSync, KillDuringIncrementalApplyIsReconciledInFullAndLosesNothing) {
  const Small s = SmallOu("Crash");
  SyncdRun run(OuScope(s.ou).Toml(), FeedConfig(), kAnyDeletes);
  ASSERT_NO_FATAL_FAILURE(FirstFullRun(run));
  bool killed = false;
  for (int attempt = 0; attempt < 4 && !killed; ++attempt) {
    // A batch big enough to be caught in flight: users, and each in the group.
    std::vector<std::string> added;
    for (int i = 0; i < 250; ++i) {
      const std::string tag = "k" + std::to_string(attempt) + "n" + std::to_string(i);
      added.push_back(User(s.ou, "Crash " + tag, tag));
    }
    Add();
    AddMembers(s.group, added);
    killed = KillOnceApplying(run);
  }
  ASSERT_TRUE(killed) << "every incremental run finished before it was seen applying";
  ExpectReconciledAfterAnInterruptedRun(run);
  ExpectStoreMatchesAd(run, OuScope(s.ou));
  Incremental(run, {});
}

// The window the run's record guards, made exactly: the local store
// committed a run's batch and the process died before the state did. The
// state is put back as it was before that run, with the run's record left
// "running". The next run compares the store with AD in full: the new user
// is adopted once, the user AD deleted goes from the cache, and incremental
// runs follow with nothing to do.
TEST_P(IncrementalSync, AStoreAheadOfTheStateIsReconciledInFull) {
  const Small s = SmallOu("Ahead");
  SyncdRun run(OuScope(s.ou).Toml(), FeedConfig(), kAnyDeletes);
  ASSERT_NO_FATAL_FAILURE(FirstFullRun(run));
  const std::string before = run.state_path() + ".before";
  std::filesystem::copy_file(run.state_path(), before);
  const std::string added = User(s.ou, "Ahead New", "aheadn");
  Add();
  AddMembers(s.group, {added});
  Delete(s.users[0]);
  Incremental(run, {.user_create = 1, .user_delete = 1, .add_member = 1});
  std::filesystem::copy_file(before, run.state_path(),
                             std::filesystem::copy_options::overwrite_existing);
  ASSERT_EQ(run.StateSql("INSERT INTO runs (kind, started_at, outcome) "
                         "VALUES ('incremental', 1, 'running')")
                .exit_code,
            0);

  CommandResult dry = run.Syncd("--dry-run --json");
  EXPECT_NE(Str(ParseObject(dry), "reason").find("was interrupted before the state recorded it"),
            std::string::npos)
      << dry.out;
  ExpectReconciledAfterAnInterruptedRun(run);
  ExpectStoreMatchesAd(run, OuScope(s.ou));
  EXPECT_EQ(run.StoreObjects("users").size(), 3u) << "two of the three, and the new one, once";
  EXPECT_EQ(run.StateSql("SELECT count(*) FROM objects WHERE kind = 'user'").out, "3\n")
      << "the cache has caught up with the store";
  Incremental(run, {});
}

INSTANTIATE_TEST_SUITE_P(Incremental, IncrementalSync, ::testing::Values("dirsync", "usn"),
                         [](const ::testing::TestParamInfo<std::string>& feed) {
                           return feed.param;
                         });

}  // namespace
}  // namespace syncd::testing
