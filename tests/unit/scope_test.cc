#include "scope/scope.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "ldap/codec.h"

namespace syncd::scope {
namespace {

const std::string kDomainSid = "S-1-5-21-100-200-300";

std::string Guid(int n) {
  std::string digits = std::to_string(n);
  return *ldap::GuidFromString("00000000-0000-0000-0000-" + std::string(12 - digits.size(), '0') +
                               digits);
}

std::string Sid(int rid) { return *ldap::SidFromString(kDomainSid + "-" + std::to_string(rid)); }

ldap::Entry User(int n, const std::string& sam, const std::string& ou = "People") {
  ldap::Entry e;
  e.dn = "CN=" + sam + ",OU=" + ou + ",DC=corp";
  e.attributes["objectguid"] = {Guid(n)};
  e.attributes["objectsid"] = {Sid(1000 + n)};
  e.attributes["samaccountname"] = {sam};
  e.attributes["userprincipalname"] = {sam + "@corp.example.com"};
  e.attributes["name"] = {sam};
  e.attributes["useraccountcontrol"] = {"512"};
  e.attributes["primarygroupid"] = {"513"};
  return e;
}

ldap::Entry Group(int n, const std::string& name, const std::vector<const ldap::Entry*>& members) {
  ldap::Entry e;
  e.dn = "CN=" + name + ",OU=Groups,DC=corp";
  e.attributes["objectguid"] = {Guid(n)};
  e.attributes["objectsid"] = {Sid(2000 + n)};
  e.attributes["samaccountname"] = {name};
  e.attributes["name"] = {name};
  auto& values = e.attributes["member"];
  for (const auto* m : members) values.push_back(m->dn);
  return e;
}

std::vector<std::string> Names(const ScopeResult& r) {
  std::vector<std::string> names;
  for (const auto& o : r.objects) names.push_back(o->name);
  return names;
}

bool HasEdge(const ScopeResult& r, const ldap::Entry& group, const ldap::Entry& member) {
  Membership m{group.First("objectguid"), member.First("objectguid")};
  return std::find(r.memberships.begin(), r.memberships.end(), m) != r.memberships.end();
}

TEST(Mapping, DefaultsMapUserAttributes) {
  ldap::Entry u = User(1, "jdoe");
  u.attributes["givenname"] = {"John"};
  u.attributes["sn"] = {"Doe"};
  u.attributes["mail"] = {"john@corp.example.com"};
  u.attributes["useraccountcontrol"] = {"514"};  // disabled
  auto r = Evaluate({}, AttributeMapping::Defaults(), {u}, {});
  ASSERT_EQ(r.objects.size(), 1u);
  const SyncObject& o = *r.objects[0];
  EXPECT_EQ(o.name, "jdoe@corp.example.com");
  EXPECT_EQ(o.external_id, "00000000-0000-0000-0000-000000000001");
  EXPECT_EQ(o.attributes.at("givenName"), "John");
  EXPECT_EQ(o.attributes.at("familyName"), "Doe");
  EXPECT_EQ(o.attributes.at("email"), "john@corp.example.com");
  EXPECT_EQ(o.attributes.at("displayName"), "jdoe") << "falls back to name";
  EXPECT_EQ(o.attributes.at("active"), "false");
  EXPECT_EQ(o.source->sam_account_name, "jdoe");
}

TEST(Mapping, UserNameFallsBackToSamAccountName) {
  ldap::Entry u = User(1, "nodoe");
  u.attributes.erase("userprincipalname");
  auto r = Evaluate({}, AttributeMapping::Defaults(), {u}, {});
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(r.objects[0]->name, "nodoe");
}

TEST(Mapping, OverrideReplacesSources) {
  AttributeMapping m = AttributeMapping::Defaults();
  ASSERT_TRUE(m.Set(ObjectKind::kUser, "userName", {"sAMAccountName"}).ok());
  ASSERT_TRUE(m.Set(ObjectKind::kUser, "department", {"department"}).ok());
  EXPECT_FALSE(m.Set(ObjectKind::kUser, "active", {"description"}).ok());
  ldap::Entry u = User(1, "jdoe");
  u.attributes["department"] = {"Finance"};
  auto r = Evaluate({}, m, {u}, {});
  EXPECT_EQ(r.objects[0]->name, "jdoe");
  EXPECT_EQ(r.objects[0]->attributes.at("department"), "Finance");
}

TEST(Mapping, InvalidUtf8ValueIsSkippedWithWarning) {
  ldap::Entry u = User(1, "latin");
  u.attributes["givenname"] = {"Jos\xe9"};
  auto r = Evaluate({}, AttributeMapping::Defaults(), {u}, {});
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_FALSE(r.objects[0]->attributes.contains("givenName"));
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("not valid UTF-8"), std::string::npos);
}

TEST(Scope, EntryWithoutGuidIsSkipped) {
  ldap::Entry u = User(1, "noguid");
  u.attributes.erase("objectguid");
  auto r = Evaluate({}, AttributeMapping::Defaults(), {u}, {});
  EXPECT_TRUE(r.objects.empty());
  EXPECT_EQ(r.warnings.size(), 1u);
}

TEST(Scope, DuplicateEntriesFromOverlappingBasesCountOnce) {
  ldap::Entry u = User(1, "dup");
  auto r = Evaluate({}, AttributeMapping::Defaults(), {u, u}, {});
  EXPECT_EQ(r.objects.size(), 1u);
}

TEST(Scope, MembershipFromMemberAndPrimaryGroup) {
  ldap::Entry alice = User(1, "alice"), bob = User(2, "bob");
  ldap::Entry staff = Group(10, "Staff", {&alice});
  // bob's primary group is Staff: not listed in member.
  bob.attributes["primarygroupid"] = {std::to_string(2000 + 10)};
  auto r = Evaluate({}, AttributeMapping::Defaults(), {alice, bob}, {staff});
  EXPECT_TRUE(HasEdge(r, staff, alice));
  EXPECT_TRUE(HasEdge(r, staff, bob));
  EXPECT_EQ(r.memberships.size(), 2u);
}

TEST(Scope, ExtendedDnMembersResolveByGuid) {
  ldap::Entry alice = User(1, "alice");
  ldap::Entry g = Group(10, "G", {});
  g.attributes["member"] = {"<GUID=00000000-0000-0000-0000-000000000001>;CN=renamed,DC=corp"};
  auto r = Evaluate({}, AttributeMapping::Defaults(), {alice}, {g});
  EXPECT_TRUE(HasEdge(r, g, alice));
}

TEST(Scope, MembersOutsideScopeGetNoEdge) {
  ldap::Entry alice = User(1, "alice");
  ldap::Entry outsider = User(2, "outsider");
  ldap::Entry g = Group(10, "G", {&alice, &outsider});
  auto r = Evaluate({}, AttributeMapping::Defaults(), {alice}, {g});
  EXPECT_EQ(r.memberships.size(), 1u);
}

TEST(Scope, GroupBasedScopeFollowsNestingAndStopsOnCycles) {
  ldap::Entry a = User(1, "a"), b = User(2, "b"), c = User(3, "c");
  ldap::Entry inner = Group(11, "Inner", {&b});
  ldap::Entry outer = Group(10, "Outer", {&a, &inner});
  inner.attributes["member"].push_back(outer.dn);  // a cycle, as AD allows
  ldap::Entry other = Group(12, "Other", {&c});
  ScopeConfig config;
  config.groups = {"CN=Outer,OU=Groups,DC=corp"};
  auto r = Evaluate(config, AttributeMapping::Defaults(), {a, b, c}, {inner, outer, other});
  auto names = Names(r);
  EXPECT_EQ(names, (std::vector<std::string>{"a@corp.example.com", "b@corp.example.com", "Inner",
                                             "Outer"}));
  EXPECT_TRUE(HasEdge(r, inner, outer));
}

TEST(Scope, GroupBasedScopeBySamAccountNameWarnsOnUnknown) {
  ldap::Entry a = User(1, "a");
  ldap::Entry g = Group(10, "Team", {&a});
  ScopeConfig config;
  config.groups = {"team", "missing"};
  auto r = Evaluate(config, AttributeMapping::Defaults(), {a}, {g});
  EXPECT_EQ(r.objects.size(), 2u);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("missing"), std::string::npos);
}

TEST(Scope, ExclusionsByDnSubtreeAndSamAccountName) {
  ldap::Entry a = User(1, "a"), b = User(2, "b", "Contractors"), c = User(3, "c");
  ScopeConfig config;
  config.exclude = {"OU=Contractors,DC=corp", "C"};
  auto r = Evaluate(config, AttributeMapping::Defaults(), {a, b, c}, {});
  EXPECT_EQ(Names(r), std::vector<std::string>{"a@corp.example.com"});
}

TEST(Scope, ExcludedGroupIsNotExpanded) {
  ldap::Entry a = User(1, "a");
  ldap::Entry inner = Group(11, "Inner", {&a});
  ldap::Entry outer = Group(10, "Outer", {&inner});
  ScopeConfig config;
  config.groups = {"Outer"};
  config.exclude = {"Inner"};
  auto r = Evaluate(config, AttributeMapping::Defaults(), {a}, {inner, outer});
  EXPECT_EQ(Names(r), std::vector<std::string>{"Outer"});
}

TEST(Scope, SearchFilterAndAttributes) {
  ScopeConfig config;
  config.user_filter = "department=IT";
  EXPECT_EQ(SearchFilter(config, ObjectKind::kUser),
            "(&(objectCategory=person)(objectClass=user)(department=IT))");
  EXPECT_EQ(SearchFilter(config, ObjectKind::kGroup), "(&(objectClass=group))");
  auto attrs = SearchAttributes(AttributeMapping::Defaults(), ObjectKind::kGroup);
  EXPECT_NE(std::find(attrs.begin(), attrs.end(), "member"), attrs.end());
  EXPECT_NE(std::find(attrs.begin(), attrs.end(), "objectGUID"), attrs.end());
  EXPECT_EQ(std::count(attrs.begin(), attrs.end(), "name"), 1) << "deduplicated";
}

// Regression: a configured scope group that was renamed away left its
// members out of scope and, the read being complete, deleted them.
TEST(Scope, MissingScopeGroupMakesTheEvaluationIncomplete) {
  ldap::Entry a = User(1, "a");
  ldap::Entry g = Group(10, "Team", {&a});
  ScopeConfig config;
  config.groups = {"Team", "Renamed Away"};
  auto r = Evaluate(config, AttributeMapping::Defaults(), {a}, {g});
  EXPECT_NE(r.incomplete_reason.find("Renamed Away"), std::string::npos);
  config.groups = {"Team"};
  EXPECT_EQ(Evaluate(config, AttributeMapping::Defaults(), {a}, {g}).incomplete_reason, "");
}

// What a reader may act on before the read ends: every object the result
// will hold, the very same, as it is added, and a group's members read
// before it; nothing under group-based scope, where only Finish knows.
TEST(Scope, ObjectsAndEdgesInScopeAreReportedAsTheyAreAddedUnlessTheScopeIsGroupBased) {
  ldap::Entry a = User(1, "a");
  ldap::Entry excluded = User(2, "gone");
  ldap::Entry no_guid = User(3, "noguid");
  no_guid.attributes.erase("objectguid");
  ldap::Entry late = User(4, "late");  // added after the group that lists it
  ldap::Entry team = Group(10, "Team", {&a, &late});
  ScopeConfig config;
  config.exclude = {"gone"};
  std::vector<const SyncObject*> seen;
  std::vector<std::pair<const SyncObject*, const SyncObject*>> edges;
  // The callee keeps the image and hands back a twin (its identity, no DN),
  // as an early create does: the scope keeps the twin and still resolves
  // members by DN, as they come and at Finish.
  const Evaluator::InScope report{
      [&](const ObjectRef& o) {
        ObjectRef kept = MakeObjectRef(IdentityOf(*o));
        seen.push_back(kept.get());
        return kept;
      },
      [&](const ObjectRef& g, const ObjectRef& m) { edges.emplace_back(g.get(), m.get()); }};
  Evaluator evaluator(config, AttributeMapping::Defaults(), report);
  evaluator.Add(a, ObjectKind::kUser);
  EXPECT_EQ(seen.size(), 1u) << "reported when added, not at Finish";
  for (const auto* e : {&excluded, &no_guid, &a}) evaluator.Add(*e, ObjectKind::kUser);
  evaluator.Add(team, ObjectKind::kGroup);
  evaluator.Add(late, ObjectKind::kUser);
  auto r = evaluator.Finish();
  std::vector<const SyncObject*> kept;
  for (const auto& o : r.objects) kept.push_back(o.get());
  std::sort(seen.begin(), seen.end());
  std::sort(kept.begin(), kept.end());
  EXPECT_EQ(seen, kept);
  // Team's member a, read before it: reported as the group is added, on the
  // result's objects. Its member `late`, read after it: resolved by Finish.
  ASSERT_EQ(edges.size(), 1u);
  ASSERT_EQ(r.memberships.size(), 2u);
  const Membership reported{edges.front().first->guid, edges.front().second->guid};
  EXPECT_NE(std::find(r.memberships.begin(), r.memberships.end(), reported), r.memberships.end());
  EXPECT_NE(std::find(seen.begin(), seen.end(), edges.front().second), seen.end());

  config.groups = {"Team"};
  seen.clear();
  edges.clear();
  Evaluator group_based(config, AttributeMapping::Defaults(), report);
  group_based.Add(a, ObjectKind::kUser);
  group_based.Add(team, ObjectKind::kGroup);
  group_based.Add(late, ObjectKind::kUser);
  EXPECT_EQ(group_based.Finish().objects.size(), 3u);
  EXPECT_TRUE(seen.empty());
  EXPECT_TRUE(edges.empty());
}

TEST(Scope, MemberDnsResolveWhateverTheirCaseAndOrder) {
  ldap::Entry a = User(1, "a");
  ldap::Entry inner = Group(11, "Inner", {});
  ldap::Entry outer = Group(10, "Outer", {});
  outer.attributes["member"] = {"cn=INNER,ou=groups,dc=CORP"};  // added before Inner
  inner.attributes["member"] = {"CN=a,OU=People,DC=corp"};
  Evaluator evaluator({}, AttributeMapping::Defaults());
  evaluator.Add(outer, ObjectKind::kGroup);
  evaluator.Add(inner, ObjectKind::kGroup);
  evaluator.Add(a, ObjectKind::kUser);
  auto r = evaluator.Finish();
  EXPECT_TRUE(HasEdge(r, outer, inner));
  EXPECT_TRUE(HasEdge(r, inner, a));
  EXPECT_EQ(r.memberships.size(), 2u);
}

// Mapping happens as entries arrive; its warnings and skips are reported
// only for what the scope keeps.
TEST(Scope, OutOfScopeObjectsAreNeitherWarnedAboutNorSkipped) {
  ldap::Entry a = User(1, "a");
  ldap::Entry stray = User(2, "stray");
  stray.attributes["givenname"] = {"\xff"};
  stray.attributes.erase("userprincipalname");
  stray.attributes.erase("samaccountname");
  ldap::Entry team = Group(10, "Team", {&a});
  ScopeConfig config;
  config.groups = {"Team"};
  auto r = Evaluate(config, AttributeMapping::Defaults(), {a, stray}, {team});
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_TRUE(r.skipped.empty());
  EXPECT_EQ(Names(r), (std::vector<std::string>{"a@corp.example.com", "Team"}));
  config.groups = {};
  r = Evaluate(config, AttributeMapping::Defaults(), {a, stray}, {team});
  EXPECT_EQ(r.skipped, std::vector<std::string>{stray.First("objectguid")});
}

TEST(Scope, UnmappableObjectIsReportedAsSkipped) {
  ldap::Entry u = User(1, "noname");
  u.attributes.erase("userprincipalname");
  u.attributes.erase("samaccountname");
  auto r = Evaluate({}, AttributeMapping::Defaults(), {u}, {});
  EXPECT_TRUE(r.objects.empty());
  EXPECT_EQ(r.skipped, std::vector<std::string>{u.First("objectguid")});
}

}  // namespace
}  // namespace syncd::scope
