// syncd end to end with a SCIM 2.0 target: the real syncd binary reads the
// real Samba DC and writes to the real SCIM test peer (tests/scim-peer), one
// peer per profile for the whole binary, emptied before every test. What the
// target holds is compared with AD through the peer's /_control/dump; what
// syncd sent is counted by the peer's /_control/stats.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ldap/codec.h"
#include "tests/integration/testbed.h"
#include "tests/scim_peer.h"

namespace syncd::testing {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

const char kUserFilter[] = "(&(objectCategory=person)(objectClass=user))";
const char kNoBudget[] = "[safety]\nmax_deletes = -1\nmax_delete_percent = 100\n";

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// ---- AD ----------------------------------------------------------------

struct AdEntry {
  std::string dn;
  std::string guid;                                        // dashed objectGUID
  std::map<std::string, std::vector<std::string>> values;  // lower-case attribute name
  std::string First(const std::string& attribute) const {
    auto it = values.find(Lower(attribute));
    return it == values.end() || it->second.empty() ? "" : it->second.front();
  }
};

// ldapsearch as Administrator, every entry with its objectGUID and `attributes`.
std::vector<AdEntry> AdSearch(const std::string& base, const std::string& filter,
                              const std::string& attributes) {
  const std::string out = TestDc::Get().Ldap(
      "ldapsearch", "-LLL -o ldif-wrap=no -E pr=500/noprompt -b " + ShellQuote(base) + " " +
                        ShellQuote(filter) + " objectGUID " + attributes);
  std::vector<AdEntry> entries;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) continue;
    const std::string name = Lower(line.substr(0, colon));
    std::string value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ':') {
      value = Base64Decode(value.substr(value.size() > 1 && value[1] == ' ' ? 2 : 1));
    } else if (!value.empty() && value[0] == ' ') {
      value = value.substr(1);
    }
    if (name == "dn") {
      entries.push_back(AdEntry{value, "", {}});
    } else if (!entries.empty() && name == "objectguid") {
      entries.back().guid = ldap::GuidToString(value).value_or("?");
    } else if (!entries.empty()) {
      entries.back().values[name].push_back(value);
    }
  }
  return entries;
}

// One user as a line to compare: the attributes syncd maps by default.
std::string UserLine(const std::string& user_name, const std::string& display,
                     const std::string& given, const std::string& family, const std::string& email,
                     bool active) {
  return "userName=" + Lower(user_name) + " displayName=" + display + " givenName=" + given +
         " familyName=" + family + " email=" + email + " active=" + (active ? "true" : "false");
}

// What a scope (users under `user_base` matching `user_filter`, groups under
// `group_base` matching `group_filter`) must look like in the target:
// externalId -> user line, externalId -> "displayName: members".
struct Expected {
  std::map<std::string, std::string> users;
  std::map<std::string, std::string> groups;
};

std::string GroupLine(const std::string& name, const std::set<std::string>& members) {
  std::string line = name + ":";
  for (const auto& m : members) line += " " + m;
  return line;
}

Expected AdScope(const std::string& user_base, const std::string& group_base, bool flatten,
                 const std::string& user_filter = "", const std::string& group_filter = "") {
  Expected expected;
  std::map<std::string, std::string> user_by_dn, group_by_dn;  // lower-case DN -> guid
  for (const auto& u :
       AdSearch(user_base, "(&" + std::string(kUserFilter) + user_filter + ")",
                "userPrincipalName sAMAccountName displayName name givenName sn mail "
                "userAccountControl")) {
    const std::string upn = u.First("userPrincipalName");
    const std::string display = u.First("displayName");
    const bool active = (std::atol(u.First("userAccountControl").c_str()) & 2) == 0;
    expected.users[u.guid] = UserLine(upn.empty() ? u.First("sAMAccountName") : upn,
                                      display.empty() ? u.First("name") : display,
                                      u.First("givenName"), u.First("sn"), u.First("mail"), active);
    user_by_dn[Lower(u.dn)] = u.guid;
  }
  auto groups = AdSearch(group_base, "(&(objectClass=group)" + group_filter + ")", "name member");
  std::map<std::string, const AdEntry*> group_entry;
  for (const auto& g : groups) {
    group_by_dn[Lower(g.dn)] = g.guid;
    group_entry[Lower(g.dn)] = &g;
  }
  // The user members of a group, through nested groups of the scope.
  std::function<void(const AdEntry&, std::set<std::string>&, std::set<std::string>&)> effective =
      [&](const AdEntry& g, std::set<std::string>& out, std::set<std::string>& seen) {
        if (!seen.insert(g.guid).second) return;
        auto it = g.values.find("member");
        if (it == g.values.end()) return;
        for (const auto& dn : it->second) {
          if (auto u = user_by_dn.find(Lower(dn)); u != user_by_dn.end()) out.insert(u->second);
          if (auto n = group_entry.find(Lower(dn)); n != group_entry.end()) {
            effective(*n->second, out, seen);
          }
        }
      };
  for (const auto& g : groups) {
    std::set<std::string> members;
    if (flatten) {
      std::set<std::string> seen;
      effective(g, members, seen);
    } else if (auto it = g.values.find("member"); it != g.values.end()) {
      for (const auto& dn : it->second) {
        if (auto u = user_by_dn.find(Lower(dn)); u != user_by_dn.end()) members.insert(u->second);
        if (auto n = group_by_dn.find(Lower(dn)); n != group_by_dn.end()) {
          members.insert(n->second);
        }
      }
    }
    expected.groups[g.guid] = GroupLine(g.First("name"), members);
  }
  return expected;
}

// ---- the target ----------------------------------------------------------

std::string Text(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : "";
}

// The target's users and groups that carry an externalId, in Expected's
// form, and how many objects carry none (made by hand).
struct Target {
  Expected objects;
  std::vector<json::object> foreign_users;  // without externalId
  std::vector<json::object> foreign_groups;
  std::map<std::string, std::string> id_of;  // externalId -> peer id
  int duplicate_user_names = 0;
  int duplicate_external_ids = 0;
};

Target ReadTarget(ScimPeer& peer) {
  Target target;
  json::object dump = peer.Dump();
  std::map<std::string, std::string> external_of;  // peer id -> externalId
  std::set<std::string> names, external_ids;
  const json::array empty;
  const json::value* users = dump.if_contains("users");
  for (const auto& v : users != nullptr && users->is_array() ? users->as_array() : empty) {
    const json::object& u = v.as_object();
    const std::string external_id = Text(u, "externalId");
    if (!names.insert(Lower(Text(u, "userName"))).second) ++target.duplicate_user_names;
    if (external_id.empty()) {
      target.foreign_users.push_back(u);
      continue;
    }
    if (!external_ids.insert(external_id).second) ++target.duplicate_external_ids;
    external_of[Text(u, "id")] = external_id;
    target.id_of[external_id] = Text(u, "id");
    std::string given, family, email;
    if (const json::value* name = u.if_contains("name"); name != nullptr && name->is_object()) {
      given = Text(name->as_object(), "givenName");
      family = Text(name->as_object(), "familyName");
    }
    if (const json::value* emails = u.if_contains("emails");
        emails != nullptr && emails->is_array() && !emails->as_array().empty()) {
      email = Text(emails->as_array().front().as_object(), "value");
    }
    const json::value* active = u.if_contains("active");
    target.objects.users[external_id] =
        UserLine(Text(u, "userName"), Text(u, "displayName"), given, family, email,
                 active != nullptr && active->is_bool() && active->as_bool());
  }
  const json::value* groups = dump.if_contains("groups");
  for (const auto& v : groups != nullptr && groups->is_array() ? groups->as_array() : empty) {
    const json::object& g = v.as_object();
    const std::string external_id = Text(g, "externalId");
    if (external_id.empty()) {
      target.foreign_groups.push_back(g);
      continue;
    }
    external_of[Text(g, "id")] = external_id;
    target.id_of[external_id] = Text(g, "id");
  }
  for (const auto& v : groups != nullptr && groups->is_array() ? groups->as_array() : empty) {
    const json::object& g = v.as_object();
    const std::string external_id = Text(g, "externalId");
    if (external_id.empty()) continue;
    std::set<std::string> members;
    if (const json::value* m = g.if_contains("members"); m != nullptr && m->is_array()) {
      for (const auto& member : m->as_array()) {
        const std::string id = Text(member.as_object(), "value");
        auto it = external_of.find(id);
        members.insert(it != external_of.end() ? it->second : "foreign:" + id);
      }
    }
    target.objects.groups[external_id] = GroupLine(Text(g, "displayName"), members);
  }
  return target;
}

int64_t StatInt(const json::object& stats, const char* key) {
  const json::value* v = stats.if_contains(key);
  return v != nullptr && v->is_int64() ? v->as_int64() : 0;
}
int64_t Writes(ScimPeer& peer) { return StatInt(peer.Stats(), "writes"); }

// ---- syncd with a [store] kind = "scim" -------------------------------

// A SyncdRun whose [store] is the peer, the token in a 0600 file. Every
// command's output is checked for the token.
class ScimRun {
 public:
  // `store_keys`: more [store] keys (rate_limit and max_in_flight default
  // to 1000/s and 4 unless given); `more_tables` follow [state].
  ScimRun(ScimPeer& peer, const std::string& scope, const std::string& store_keys = "",
          const std::string& more_tables = "")
      : peer_(peer), run_(scope, "", more_tables) {
    token_file_ = fs::path(run_.config_path()).parent_path() / "scim-token";
    SetToken(peer.token());
    std::string store = "[store]\nkind = \"scim\"\nurl = \"" + peer.url() + "\"\ntoken_file = \"" +
                        token_file_ + "\"\nprofile = \"" +
                        (peer.profile() == "aws" ? "aws" : "generic") + "\"\n" + store_keys;
    if (store_keys.find("rate_limit") == std::string::npos) store += "rate_limit = 1000\n";
    if (store_keys.find("max_in_flight") == std::string::npos) store += "max_in_flight = 4\n";
    config_ = run_.BaseConfig();
    std::string& config = config_;
    const std::string local = "[store]\npath = \"" + run_.store_path() + "\"\n";
    const size_t at = config.find(local);
    EXPECT_NE(at, std::string::npos) << config;
    if (at != std::string::npos) config.replace(at, local.size(), store);
    run_.WriteConfig(config);
  }

  // Replaces `from` with `to` in the config file.
  void EditConfig(const std::string& from, const std::string& to) {
    const size_t at = config_.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    config_.replace(at, from.size(), to);
    run_.WriteConfig(config_);
  }

  void SetToken(const std::string& token) const {
    std::ofstream(token_file_, std::ios::trunc) << token << "\n";
    chmod(token_file_.c_str(), 0600);
  }

  CommandResult Syncd(const std::string& args) const {
    CommandResult r = run_.Syncd(args);
    ExpectNoToken(r.out + r.err, args);
    return r;
  }
  CommandResult Once() const { return Syncd("--once"); }

  void ExpectNoToken(const std::string& text, const std::string& what) const {
    EXPECT_EQ(text.find(peer_.token()), std::string::npos)
        << "the SCIM token appears in the output of syncd " << what << ":\n"
        << text;
  }

  const SyncdRun& run() const { return run_; }

 private:
  ScimPeer& peer_;
  SyncdRun run_;
  std::string token_file_;
  std::string config_;
};

// The target holds exactly AD's scope (and nothing else of syncd's).
void ExpectTargetEqualsAd(ScimPeer& peer, const Expected& expected) {
  Target target = ReadTarget(peer);
  EXPECT_EQ(target.objects.users, expected.users);
  EXPECT_EQ(target.objects.groups, expected.groups);
  EXPECT_EQ(target.duplicate_user_names, 0);
  EXPECT_EQ(target.duplicate_external_ids, 0);
}

std::string AddUserLdif(const std::string& dn, const std::string& sam, const std::string& given,
                        const std::string& sn, const std::string& extra = "") {
  return "dn: " + dn + "\nchangetype: add\nobjectClass: user\nsAMAccountName: " + sam +
         "\nuserPrincipalName: " + sam + "@corp.example.com\n" +
         (given.empty() ? "" : "givenName: " + given + "\n") + "sn: " + sn +
         "\ndisplayName: " + (given.empty() ? sn : given + " " + sn) + "\nmail: " + sam +
         "@corp.example.com\nuserAccountControl: 512\n" + extra;
}

void AddGroup(const std::string& dn, const std::string& sam,
              const std::vector<std::string>& members) {
  std::string ldif =
      "dn: " + dn + "\nchangetype: add\nobjectClass: group\nsAMAccountName: " + sam + "\n";
  for (const auto& m : members) ldif += "member: " + m + "\n";
  TestDc::Get().Modify(ldif);
}

// A small OU: users a (disabled), b, c, d; groups Parent {a, Child} and Child {b, c}.
struct SmallOu {
  std::string ou;
  std::string name;
  std::string User(const std::string& who) const { return "CN=" + name + "-" + who + "," + ou; }
  std::string Group(const std::string& who) const { return "CN=" + name + " " + who + "," + ou; }
};

SmallOu MakeSmallOu(const std::string& name) {
  TestDc& dc = TestDc::Get();
  SmallOu s{dc.FreshOu(name), name};
  for (const std::string who : {"a", "b", "c", "d"}) {
    const std::string sam = Lower(name) + "." + who;
    dc.Modify(AddUserLdif(s.User(who), sam, "Given" + who, "Family" + who));
  }
  dc.Modify("dn: " + s.User("a") +
            "\nchangetype: modify\nreplace: userAccountControl\n"
            "userAccountControl: 514\n");
  AddGroup(s.Group("Child"), Lower(name) + "-child", {s.User("b"), s.User("c")});
  AddGroup(s.Group("Parent"), Lower(name) + "-parent", {s.User("a"), s.Group("Child")});
  return s;
}

// ---- fixtures ------------------------------------------------------------

class ScimSync : public ::testing::Test {
 protected:
  void SetUp() override { TestDc::Get(); }
  ScimPeer& Peer(const std::string& profile) {
    ScimPeer& peer = ScimPeer::Get(profile);
    if (!peer.url().empty()) peer.Reset();
    return peer;
  }
};

class ScimProfiles : public ScimSync, public ::testing::WithParamInterface<std::string> {
 protected:
  bool Flatten() const { return GetParam() == "aws"; }
  // rfc: nested groups as members (the generic profile's "direct").
  std::string StoreKeys() const { return Flatten() ? "" : "nested_groups = \"direct\"\n"; }
};

// Items 1, 2 and 10: a first full sync, then every kind of AD change through
// an incremental run; dry runs before each send nothing.
TEST_P(ScimProfiles, FullThenIncrementalEqualsAd) {
  ScimPeer& peer = Peer(GetParam());
  ASSERT_FALSE(peer.url().empty());
  TestDc& dc = TestDc::Get();
  // The OU moved users go to first: emptied before the names are reused.
  const std::string outside = dc.FreshOu("Scim" + GetParam() + "Out");
  const SmallOu s = MakeSmallOu("Scim" + GetParam());
  ScimRun run(peer, OuScope(s.ou), StoreKeys(), kNoBudget);

  // A dry run against an empty target (the first run) writes nothing.
  CommandResult dry = run.Syncd("--dry-run");
  EXPECT_EQ(dry.exit_code, 2) << dry.out << dry.err;
  EXPECT_EQ(Writes(peer), 0) << dry.out;

  CommandResult first = run.Once();
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  {
    SCOPED_TRACE("after the full sync");
    Expected expected = AdScope(s.ou, s.ou, Flatten());
    ASSERT_EQ(expected.users.size(), 4U);
    ASSERT_EQ(expected.groups.size(), 2U);
    ExpectTargetEqualsAd(peer, expected);
  }

  // Every kind of change.
  dc.Modify(AddUserLdif(s.User("e"), Lower(s.name) + ".e", "Givene", "Familye"));  // create
  dc.Modify("dn: " + s.User("a") +
            "\nchangetype: modify\nreplace: displayName\n"  // rename
            "displayName: Renamed A\n-\nreplace: sn\nsn: Newfamily\n");
  dc.Modify("dn: " + s.User("b") + "\nchangetype: modrdn\nnewrdn: CN=" + s.name +  // move out
            "-b\ndeleteoldrdn: 1\nnewsuperior: " + outside + "\n");
  dc.Ldap("ldapdelete", ShellQuote(s.User("c")));  // delete
  dc.Modify("dn: " + s.Group("Parent") + "\nchangetype: modify\nadd: member\nmember: " +
            s.User("d") + "\n-\ndelete: member\nmember: " + s.User("a") + "\n");  // add, remove
  dc.Modify("dn: " + s.Group("Child") + "\nchangetype: modify\nadd: member\nmember: " +
            s.User("e") + "\n");  // nested: e reaches Parent through Child

  peer.ResetStats();
  dry = run.Syncd("--dry-run");
  EXPECT_EQ(dry.exit_code, 2) << dry.out << dry.err;
  EXPECT_EQ(Writes(peer), 0) << dry.out;

  CommandResult second = run.Once();
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  SCOPED_TRACE("after the incremental run");
  Expected expected = AdScope(s.ou, s.ou, Flatten());
  ASSERT_EQ(expected.users.size(), 3U);  // a, d, e
  ExpectTargetEqualsAd(peer, expected);
  // The nested change, spelled out.
  Target target = ReadTarget(peer);
  const std::string e = *dc.SearchGuids(s.User("e"), "(objectClass=*)").begin();
  const std::string parent = *dc.SearchGuids(s.Group("Parent"), "(objectClass=*)").begin();
  const std::string& parent_line = target.objects.groups[parent];
  EXPECT_EQ(parent_line.find(e) != std::string::npos, Flatten()) << parent_line;
}

// The peer's SCIM requests of one route ("POST /Users").
int64_t Route(ScimPeer& peer, const std::string& route) { return peer.Requests(route); }

// `syncd quarantine list --json`: name -> reason.
std::map<std::string, std::string> Quarantined(const ScimRun& run) {
  CommandResult r = run.Syncd("quarantine list --json");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::map<std::string, std::string> out;
  if (r.exit_code != 0) return out;
  const json::value list = json::parse(r.out);
  for (const auto& e : list.as_array()) {
    out[std::string(e.at("name").as_string())] = std::string(e.at("reason").as_string());
  }
  return out;
}

std::string Guid(const std::string& dn) {
  auto guids = TestDc::Get().SearchGuids(dn, "(objectClass=*)");
  EXPECT_EQ(guids.size(), 1U) << dn;
  return guids.empty() ? "" : *guids.begin();
}

// Item 4: a user IAM Identity Center would refuse (no givenName) is
// quarantined and reported, the rest applies, later runs skip it without a
// request, and it comes back when AD gives it the name.
TEST_F(ScimSync, UserWithoutGivenNameIsQuarantinedUntilAdFixesIt) {
  ScimPeer& peer = Peer("aws");
  ASSERT_FALSE(peer.url().empty());
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("ScimQuarantine");
  dc.Modify(AddUserLdif("CN=ScimQ-ok," + ou, "scimq.ok", "Okay", "Fine"));
  dc.Modify(AddUserLdif("CN=ScimQ-bad," + ou, "scimq.bad", "", "Nogiven"));
  ScimRun run(peer, OuScope(ou));

  CommandResult first = run.Once();
  EXPECT_EQ(first.exit_code, 1) << first.out << first.err;
  EXPECT_NE(first.err.find("givenName"), std::string::npos) << first.err;
  EXPECT_NE(first.err.find("quarantined"), std::string::npos) << first.err;
  Target target = ReadTarget(peer);
  ASSERT_EQ(target.objects.users.size(), 1U);  // the rest applied
  EXPECT_EQ(target.objects.users.begin()->first, Guid("CN=ScimQ-ok," + ou));

  auto quarantined = Quarantined(run);
  ASSERT_EQ(quarantined.size(), 1U);
  const std::string name = quarantined.begin()->first;
  EXPECT_NE(name.find("scimq.bad"), std::string::npos) << name;
  EXPECT_NE(quarantined.begin()->second.find("givenName"), std::string::npos)
      << quarantined.begin()->second;
  CommandResult status = run.Syncd("status");
  EXPECT_NE(status.out.find("quarantined: 1"), std::string::npos) << status.out << status.err;
  EXPECT_NE(status.out.find("scimq.bad"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("givenName"), std::string::npos) << status.out;

  // Later runs leave it out without sending anything, and say it is pending.
  peer.ResetStats();
  CommandResult again = run.Once();
  EXPECT_EQ(again.exit_code, 2) << again.out << again.err;
  EXPECT_EQ(Writes(peer), 0);
  CommandResult full = run.Syncd("--once --full");
  EXPECT_EQ(full.exit_code, 2) << full.out << full.err;
  EXPECT_EQ(Writes(peer), 0);

  // `quarantine retry` sends it again: refused again, before any request.
  CommandResult retry = run.Syncd("quarantine retry " + ShellQuote(name));
  EXPECT_EQ(retry.exit_code, 0) << retry.out << retry.err;
  EXPECT_NE(retry.out.find("released"), std::string::npos) << retry.out;
  EXPECT_TRUE(Quarantined(run).empty());
  CommandResult retried = run.Once();
  EXPECT_EQ(retried.exit_code, 1) << retried.out << retried.err;
  EXPECT_EQ(Quarantined(run).size(), 1U);
  EXPECT_EQ(Writes(peer), 0);

  // AD fixes it: out of quarantine and into the target.
  dc.Modify("dn: CN=ScimQ-bad," + ou + "\nchangetype: modify\nadd: givenName\ngivenName: Now\n");
  CommandResult fixed = run.Once();
  EXPECT_EQ(fixed.exit_code, 0) << fixed.out << fixed.err;
  EXPECT_TRUE(Quarantined(run).empty());
  ExpectTargetEqualsAd(peer, AdScope(ou, ou, true));
}

// Item 6: a 409 on a create adopts the object syncd made before a crash (its
// externalId), and refuses (quarantines) a foreign one, leaving it as it was;
// `quarantine retry` sends the refused one again once the way is clear.
TEST_F(ScimSync, ConflictAdoptsOwnObjectAndRefusesForeignOne) {
  ScimPeer& peer = Peer("aws");
  ASSERT_FALSE(peer.url().empty());
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("ScimAdopt");
  for (const std::string who : {"mine", "other", "bare"}) {
    dc.Modify(
        AddUserLdif("CN=ScimAdopt-" + who + "," + ou, "scimadopt." + who, "G" + who, "F" + who));
  }
  const std::string mine = Guid("CN=ScimAdopt-mine," + ou);
  auto made = [&](const std::string& sam, const std::string& external_id) {
    json::object user{{"userName", sam + "@corp.example.com"},
                      {"displayName", "Before"},
                      {"name", json::object{{"givenName", "Old"}, {"familyName", "Old"}}}};
    if (!external_id.empty()) user["externalId"] = external_id;
    return peer.Control("POST", "/users", json::serialize(user)).as_object();
  };
  const std::string mine_id = Text(made("scimadopt.mine", mine), "id");
  made("scimadopt.other", "someone-else");
  made("scimadopt.bare", "");
  const json::array before = peer.Dump().at("users").as_array();
  auto foreign = [&](const json::array& users) {
    std::map<std::string, std::string> out;  // userName -> the whole resource
    for (const auto& u : users) {
      const std::string name = Text(u.as_object(), "userName");
      if (name.find("scimadopt.mine") == std::string::npos) out[name] = json::serialize(u);
    }
    return out;
  };

  ScimRun run(peer, OuScope(ou));
  CommandResult r = run.Once();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("scimadopt.other"), std::string::npos) << r.err;
  Target target = ReadTarget(peer);
  // Adopted: the same object, now with AD's values; no second one.
  ASSERT_EQ(target.id_of.count(mine), 1U);
  EXPECT_EQ(target.id_of[mine], mine_id);
  EXPECT_EQ(target.objects.users[mine], AdScope(ou, ou, true).users[mine]);
  EXPECT_EQ(target.objects.users.size(), 2U);  // ours and the one with "someone-else"
  EXPECT_EQ(target.duplicate_user_names, 0);
  // Refused: both foreign objects untouched, both quarantined with the reason.
  EXPECT_EQ(foreign(peer.Dump().at("users").as_array()), foreign(before));
  auto quarantined = Quarantined(run);
  EXPECT_EQ(quarantined.size(), 2U);
  std::string other_name;
  for (const auto& [name, reason] : quarantined) {
    if (name.find("scimadopt.other") != std::string::npos) other_name = name;
    EXPECT_FALSE(reason.empty()) << name;
  }
  ASSERT_FALSE(other_name.empty());

  // The next run does not send them again.
  peer.ResetStats();
  CommandResult again = run.Once();
  EXPECT_EQ(again.exit_code, 2) << again.out << again.err;
  EXPECT_EQ(Writes(peer), 0);

  // The foreign object goes away; retry sends ours.
  const json::object dump = peer.Dump();
  for (const auto& u : dump.at("users").as_array()) {
    if (Text(u.as_object(), "externalId") == "someone-else") {
      peer.Control("DELETE", "/users/" + Text(u.as_object(), "id"));
    }
  }
  CommandResult retry = run.Syncd("quarantine retry " + ShellQuote(other_name));
  EXPECT_EQ(retry.exit_code, 0) << retry.out << retry.err;
  CommandResult retried = run.Once();
  EXPECT_EQ(retried.exit_code, 2) << retried.out << retried.err;  // "bare" still held
  EXPECT_EQ(ReadTarget(peer).id_of.count(Guid("CN=ScimAdopt-other," + ou)), 1U);
}

// Item 5: an object made by hand in the target, with a name AD does not
// have, is never touched, not even by a full reconciliation.
TEST_F(ScimSync, HandMadeObjectsAreNeverTouched) {
  ScimPeer& peer = Peer("aws");
  ASSERT_FALSE(peer.url().empty());
  const SmallOu s = MakeSmallOu("ScimHand");
  const json::object user =
      peer.Control("POST", "/users",
                   R"({"userName": "handmade@elsewhere.example", "displayName": "Hand Made",
                       "name": {"givenName": "Hand", "familyName": "Made"}})")
          .as_object();
  const json::object group =
      peer.Control("POST", "/groups", R"({"displayName": "Hand Made Group"})").as_object();
  peer.Control("POST", "/groups/" + Text(group, "id") + "/members",
               R"({"value": ")" + Text(user, "id") + "\"}");
  const json::value user_before = peer.Control("GET", "/users/" + Text(user, "id"));
  const json::value group_before = peer.Control("GET", "/groups/" + Text(group, "id"));

  ScimRun run(peer, OuScope(s.ou), "", kNoBudget);
  CommandResult r = run.Once();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  CommandResult full = run.Syncd("--once --full");
  EXPECT_EQ(full.exit_code, 0) << full.out << full.err;
  EXPECT_EQ(peer.Control("GET", "/users/" + Text(user, "id")), user_before);
  EXPECT_EQ(peer.Control("GET", "/groups/" + Text(group, "id")), group_before);
  ExpectTargetEqualsAd(peer, AdScope(s.ou, s.ou, true));
}

// Item 9: a membership and a user deleted in the target behind syncd's back
// come back with --once --full; --dry-run --full shows it and writes nothing.
TEST_F(ScimSync, FullRunRepairsDriftAndDryRunOnlyShowsIt) {
  ScimPeer& peer = Peer("aws");
  ASSERT_FALSE(peer.url().empty());
  const SmallOu s = MakeSmallOu("ScimDrift");
  ScimRun run(peer, OuScope(s.ou), "", kNoBudget);
  CommandResult first = run.Once();
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  const Expected expected = AdScope(s.ou, s.ou, true);
  ExpectTargetEqualsAd(peer, expected);

  Target target = ReadTarget(peer);
  const std::string child = target.id_of[Guid(s.Group("Child"))];
  const std::string b = target.id_of[Guid(s.User("b"))];
  const std::string d = target.id_of[Guid(s.User("d"))];
  peer.Control("DELETE", "/groups/" + child + "/members/" + b);
  peer.Control("DELETE", "/users/" + d);
  ASSERT_NE(ReadTarget(peer).objects.users, expected.users);

  peer.ResetStats();
  CommandResult dry = run.Syncd("--dry-run --full");
  EXPECT_EQ(dry.exit_code, 2) << dry.out << dry.err;
  EXPECT_NE(dry.out.find("scimdrift.d"), std::string::npos) << dry.out;  // the user
  EXPECT_NE(dry.out.find("Child"), std::string::npos) << dry.out;        // the membership
  EXPECT_EQ(Writes(peer), 0) << dry.out;

  CommandResult repair = run.Syncd("--once --full");
  EXPECT_EQ(repair.exit_code, 0) << repair.out << repair.err;
  ExpectTargetEqualsAd(peer, AdScope(s.ou, s.ou, true));
}

// Item 11: a refused token stops the run with a message that says so; the
// token appears nowhere (ScimRun checks every command's output).
TEST_F(ScimSync, RefusedTokenFailsTheRunAndNoTokenIsShown) {
  ScimPeer& peer = Peer("rfc");
  ASSERT_FALSE(peer.url().empty());
  const SmallOu s = MakeSmallOu("ScimToken");
  ScimRun run(peer, OuScope(s.ou), "nested_groups = \"direct\"\n");
  CommandResult ok = run.Syncd("--once -v");
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;

  const std::string wrong = "wrong-" + peer.token();
  run.SetToken(wrong);
  peer.ResetStats();
  CommandResult refused = run.Syncd("--once --full -v");
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(Lower(refused.err).find("token"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("401"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.out.find(wrong), std::string::npos) << refused.out;
  EXPECT_EQ(refused.err.find(wrong), std::string::npos) << refused.err;
  EXPECT_EQ(Writes(peer), 0);
}

// Item 3: a group of 1,600 members goes out in requests of at most 100
// membership values (the aws peer refuses more, so it also succeeds).
TEST_F(ScimSync, BigGroupIsWrittenInRequestsOfAtMostAHundred) {
  ScimPeer& peer = Peer("aws");
  ASSERT_FALSE(peer.url().empty());
  TestDc& dc = TestDc::Get();
  const std::string people = "OU=People," + dc.SyncOu();
  const std::string groups = "OU=Groups," + dc.SyncOu();
  ScimRun run(peer,
              "user_bases = [\"" + people + "\"]\ngroup_bases = [\"" + groups +
                  "\"]\ngroup_filter = \"(cn=Big Group)\"\n",
              "rate_limit = 5000\nmax_in_flight = 8\n");
  CommandResult r = run.Once();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const Expected expected = AdScope(people, groups, true, "", "(cn=Big Group)");
  ASSERT_EQ(expected.groups.size(), 1U);
  const std::string& line = expected.groups.begin()->second;
  const size_t members =
      std::count(line.begin() + static_cast<std::ptrdiff_t>(line.find(':')), line.end(), ' ');
  EXPECT_GE(members, 1500U);
  const json::object stats = peer.Stats();
  EXPECT_LE(StatInt(stats, "member_changes_max"), 100) << json::serialize(stats);
  EXPECT_GE(StatInt(stats, "member_change_requests"), static_cast<int64_t>((members + 99) / 100))
      << json::serialize(stats);
  EXPECT_EQ(StatInt(stats, "member_changes"), static_cast<int64_t>(members))
      << json::serialize(stats);
  const json::object& codes = stats.at("status_counts").as_object();
  for (const auto& [code, n] : codes) EXPECT_LT(std::atoi(std::string(code).c_str()), 300) << code;
  ExpectTargetEqualsAd(peer, expected);
}

// The 1,000 "Bulk User" entries of the sample data (bulk00001..bulk01000).
const char kThousandBulkUsers[] = "(|(sAMAccountName=bulk00*)(sAMAccountName=bulk01000))";

// Item 7: kill -9 at random moments of a throttled provisioning of 1,000
// users, then a run to the end: the target equals AD, without duplicates,
// and no create was sent twice except those in flight at a kill.
//
// The bound: a create is journaled before it is sent and marked applied once
// answered, so a kill can only lose the answers of the requests in flight
// (at most max_in_flight); the resumed run sends those again (and adopts the
// objects by externalId on the 409). Hence POST /Users accepted by the peer
// (429s excluded: they are refusals, retried) <= 1,000 + kills * max_in_flight.
TEST_F(ScimSync, KillNineDuringThrottledProvisioningNeitherLosesNorRepeats) {
  ScimPeer& peer = Peer("aws");
  ASSERT_FALSE(peer.url().empty());
  TestDc& dc = TestDc::Get();
  const std::string people = "OU=People," + dc.SyncOu();
  const std::string no_groups = dc.FreshOu("ScimKillNoGroups");
  constexpr int kInFlight = 4;
  ScimRun run(peer,
              "user_bases = [\"" + people + "\"]\ngroup_bases = [\"" + no_groups +
                  "\"]\nuser_filter = \"" + kThousandBulkUsers + "\"\n",
              "rate_limit = 250\nmax_in_flight = " + std::to_string(kInFlight) + "\n");
  const Expected expected = AdScope(people, no_groups, true, kThousandBulkUsers);
  ASSERT_EQ(expected.users.size(), 1000U);
  peer.SetFaults(R"({"write_rate": 300, "write_burst": 10, "every_429": 37, "retry_after": 0})");

  const char* binary = std::getenv("SYNCD_BINARY");
  ASSERT_NE(binary, nullptr);
  std::mt19937 random(std::random_device{}());
  int kills = 0;
  const std::string output = run.run().config_path() + ".killed.out";
  for (int attempt = 0; attempt < 4; ++attempt) {
    const int64_t start = Route(peer, "POST /Users");
    const int64_t at = start + std::uniform_int_distribution<int64_t>(20, 200)(random);
    pid_t child = fork();
    if (child == 0) {
      FILE* out = std::freopen(output.c_str(), "a", stdout);
      (void)out;
      dup2(1, 2);
      execl(binary, binary, "--config", run.run().config_path().c_str(), "--once", nullptr);
      _exit(127);
    }
    int status = 0;
    bool exited = false;
    while (!(exited = waitpid(child, &status, WNOHANG) == child)) {
      if (Route(peer, "POST /Users") >= at) break;
      std::this_thread::sleep_for(milliseconds(5));
    }
    if (exited) break;  // it finished first: nothing left to kill
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    ++kills;
  }
  EXPECT_GE(kills, 3);
  {
    std::ifstream in(output);
    std::stringstream text;
    text << in.rdbuf();
    run.ExpectNoToken(text.str(), "--once (killed)");
  }
  CommandResult last = run.Once();
  EXPECT_EQ(last.exit_code, 0) << last.out << last.err;
  ExpectTargetEqualsAd(peer, expected);
  const json::object stats = peer.Stats();
  const int64_t accepted =
      Route(peer, "POST /Users") - StatInt(stats.at("status_counts").as_object(), "429");
  EXPECT_LE(accepted, 1000 + kills * kInFlight) << json::serialize(stats);
  EXPECT_GT(StatInt(stats.at("status_counts").as_object(), "429"), 0)
      << "the provisioning was not throttled: " << json::serialize(stats);
}

// Item 8: SIGTERM during a throttled apply of the daemon: the run sends
// while it can still commit within shutdown_timeout, defers the rest to the
// revisit list and commits what landed; the daemon exits in time, and the
// next run picks the deferred objects up and converges.
TEST_F(ScimSync, SigtermDuringThrottledApplyExitsInTimeAndTheNextRunResumes) {
  ScimPeer& peer = Peer("aws");
  ASSERT_FALSE(peer.url().empty());
  TestDc& dc = TestDc::Get();
  const std::string people = "OU=People," + dc.SyncOu();
  const std::string no_groups = dc.FreshOu("ScimTermNoGroups");
  const char kHundred[] = "(sAMAccountName=bulk002*)";  // bulk00200..bulk00299
  constexpr int kShutdownTimeout = 5;
  ScimRun run(peer,
              "user_bases = [\"" + people + "\"]\ngroup_bases = [\"" + no_groups +
                  "\"]\nuser_filter = \"" + kHundred + "\"\n",
              "rate_limit = 10\nmax_in_flight = 2\n",
              "[daemon]\ninterval = 600\njitter = 0\nshutdown_timeout = " +
                  std::to_string(kShutdownTimeout) + "\n");
  const Expected expected = AdScope(people, no_groups, true, kHundred);
  ASSERT_EQ(expected.users.size(), 100U);

  DaemonProcess daemon(run.run());
  ASSERT_TRUE(Eventually([&] { return Route(peer, "POST /Users") >= 10; }, seconds(60)))
      << daemon.Log();
  const auto signalled = std::chrono::steady_clock::now();
  daemon.Signal(SIGTERM);
  const int status = daemon.WaitExit(seconds(30));
  const auto took = std::chrono::steady_clock::now() - signalled;
  EXPECT_EQ(status, 0) << daemon.Log();
  EXPECT_LT(took, seconds(kShutdownTimeout + 3)) << daemon.Log();
  run.ExpectNoToken(daemon.Log(), "(daemon)");
  EXPECT_NE(daemon.Log().find(" deferred"), std::string::npos) << daemon.Log();
  const size_t landed = ReadTarget(peer).objects.users.size();
  ASSERT_LT(landed, 100U) << "the apply was not interrupted";
  EXPECT_GT(landed, 10U) << "the run went on sending until the shutdown deadline";

  run.EditConfig("rate_limit = 10\n", "rate_limit = 1000\n");
  CommandResult next = run.Syncd("--once -v");
  EXPECT_EQ(next.exit_code, 0) << next.out << next.err;
  ExpectTargetEqualsAd(peer, expected);
}

INSTANTIATE_TEST_SUITE_P(Profiles, ScimProfiles, ::testing::Values("aws", "rfc"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace syncd::testing
