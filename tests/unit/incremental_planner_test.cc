// BuildIncrementalPlan: the plan from what a change feed named, against the
// slice of the cache it touches.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "syncd/planner.h"
#include "tests/unit/safety_util.h"
#include "tests/unit/test_util.h"

namespace syncd {
namespace {

using testing::Budget;
using testing::G;
using testing::NoBudget;
using testing::U;

std::vector<std::string> Lines(const std::vector<Operation>& ops) {
  std::vector<std::string> out;
  out.reserve(ops.size());
  for (const auto& op : ops) {
    out.push_back(std::string(OpName(op.op)) + " " + op.object->name +
                  (op.member ? " " + op.member->name : ""));
  }
  return out;
}
std::vector<std::string> Lines(const Plan& plan) { return Lines(plan.operations); }
std::vector<std::string> HeldLines(const Plan& plan) {
  std::vector<Operation> ops;
  for (const auto& h : plan.held) ops.push_back(h.operation);
  return Lines(ops);
}

// A cache holding `objects` as named ones and `others` as identities only,
// with totals counting both.
CachedSlice Cache(std::vector<SyncObject> objects, std::vector<SyncObject> others = {},
                  std::set<Membership> memberships = {}) {
  CachedSlice slice;
  for (auto& o : objects) {
    ++slice.totals[o.kind];
    slice.objects.emplace(o.guid, std::move(o));
  }
  for (auto& o : others) {
    ++slice.totals[o.kind];
    slice.others.emplace(o.guid, std::move(o));
  }
  slice.memberships = std::move(memberships);
  return slice;
}

TEST(IncrementalPlanner, CreatesUpdatesAndDeletesNamedObjects) {
  SyncObject carol_before = U("3", "carol");
  SyncObject carol_after = carol_before;
  carol_after.attributes["email"] = "carol@corp";
  IncrementalRead read;
  read.present = {U("1", "alice"), G("9", "staff"), carol_after};
  read.absent = {"4"};
  auto plan = BuildIncrementalPlan(read, Cache({carol_before, U("4", "dave")}), NoBudget());
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"create staff", "create alice", "update carol",
                                                   "delete dave"}));
  ASSERT_EQ(plan.operations[2].changes->size(), 1u);
  EXPECT_EQ((*plan.operations[2].changes)[0],
            (AttributeChange{"email", std::nullopt, std::string("carol@corp")}));
  EXPECT_EQ(plan.operations[3].object->source->dn, "CN=dave,DC=corp")
      << "a delete carries the cached image";
  EXPECT_TRUE(plan.held.empty());
  EXPECT_TRUE(plan.read_complete);
}

TEST(IncrementalPlanner, MoveIsAnUpdate) {
  SyncObject before = U("1", "alice");
  SyncObject after = before;
  after.source.Mutable().dn = "CN=alice,OU=Moved,DC=corp";
  IncrementalRead read;
  read.present = {after};
  auto plan = BuildIncrementalPlan(read, Cache({before}), NoBudget());
  ASSERT_EQ(Lines(plan), std::vector<std::string>{"update alice"});
  EXPECT_EQ((*plan.operations[0].changes)[0].attribute, "dn");
}

TEST(IncrementalPlanner, UnchangedPresentObjectPlansNothing) {
  IncrementalRead read;
  read.present = {U("1", "alice"), G("9", "staff")};
  read.member_of["1"] = {"9"};
  read.members["9"] = {"1"};
  auto plan = BuildIncrementalPlan(
      read, Cache({U("1", "alice"), G("9", "staff")}, {}, {{"9", "1"}}), NoBudget());
  EXPECT_TRUE(plan.empty()) << ::testing::PrintToString(Lines(plan));
}

TEST(IncrementalPlanner, AbsentButNeverCachedPlansNothing) {
  IncrementalRead read;
  read.absent = {"7"};  // deleted, or never in scope
  auto plan = BuildIncrementalPlan(read, Cache({}, {U("1", "alice")}), NoBudget());
  EXPECT_TRUE(plan.empty());
}

TEST(IncrementalPlanner, SkippedObjectIsNeverDeleted) {
  IncrementalRead read;
  read.skipped = {"2"};
  auto plan = BuildIncrementalPlan(read, Cache({U("2", "bob")}), NoBudget());
  EXPECT_TRUE(plan.empty()) << ::testing::PrintToString(Lines(plan));
}

TEST(IncrementalPlanner, SkippedObjectKeepsItsEdges) {
  // Bob could not be mapped this run but is still in AD and still in Staff.
  IncrementalRead read;
  read.skipped = {"2"};
  read.members["9"] = {"2"};
  auto plan = BuildIncrementalPlan(read, Cache({U("2", "bob")}, {G("9", "staff")}, {{"9", "2"}}),
                                   NoBudget());
  EXPECT_TRUE(plan.empty()) << ::testing::PrintToString(Lines(plan));
}

TEST(IncrementalPlanner, MemberDeltaAddsAndRemovesOnlyEdgesBetweenInScopeEnds) {
  IncrementalRead read;
  read.present = {G("9", "staff")};
  read.member_deltas["9"].added = {"1", "5"};    // 5: not in scope (never cached, not read)
  read.member_deltas["9"].removed = {"3", "6"};  // 6: not in scope either
  auto plan = BuildIncrementalPlan(
      read, Cache({G("9", "staff")}, {U("1", "alice"), U("3", "carol")}, {{"9", "3"}}), NoBudget());
  EXPECT_EQ(Lines(plan),
            (std::vector<std::string>{"add-member staff alice", "remove-member staff carol"}));
  // Membership operations carry only identities.
  EXPECT_TRUE(plan.operations[0].object->attributes.empty());
  EXPECT_TRUE(plan.operations[0].member->attributes.empty());
  EXPECT_EQ(plan.operations[0].member->external_id, "ext-1");
}

TEST(IncrementalPlanner, MemberDeltaThatAgreesWithTheCachePlansNothing) {
  IncrementalRead read;
  read.present = {G("9", "staff")};
  read.member_deltas["9"].added = {"1"};    // already cached
  read.member_deltas["9"].removed = {"3"};  // already not cached
  auto plan = BuildIncrementalPlan(
      read, Cache({G("9", "staff")}, {U("1", "alice"), U("3", "carol")}, {{"9", "1"}}), NoBudget());
  EXPECT_TRUE(plan.empty()) << ::testing::PrintToString(Lines(plan));
}

TEST(IncrementalPlanner, MemberDeltaToANewlyCreatedMember) {
  IncrementalRead read;
  read.present = {U("1", "alice")};  // created in AD and added to Staff in the same window
  read.member_of["1"] = {"9"};
  read.member_deltas["9"].added = {"1"};
  auto plan = BuildIncrementalPlan(read, Cache({}, {G("9", "staff")}), NoBudget());
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"create alice", "add-member staff alice"}));
}

TEST(IncrementalPlanner, FullMemberListRemovesCachedEdgesNotInIt) {
  IncrementalRead read;
  read.present = {G("9", "staff")};
  read.members["9"] = {"1", "2"};
  auto plan = BuildIncrementalPlan(
      read,
      Cache({G("9", "staff")}, {U("1", "alice"), U("2", "bob"), U("3", "carol")},
            {{"9", "1"}, {"9", "3"}}),
      NoBudget());
  EXPECT_EQ(Lines(plan),
            (std::vector<std::string>{"add-member staff bob", "remove-member staff carol"}));
}

TEST(IncrementalPlanner, FullMemberListLeavesOtherGroupsEdgesAlone) {
  IncrementalRead read;
  read.present = {G("9", "staff")};
  read.members["9"] = {"1"};
  auto plan = BuildIncrementalPlan(
      read, Cache({G("9", "staff")}, {U("1", "alice"), G("8", "admins")}, {{"9", "1"}, {"8", "1"}}),
      NoBudget());
  EXPECT_TRUE(plan.empty()) << ::testing::PrintToString(Lines(plan));
}

TEST(IncrementalPlanner, MemberOfEvidenceWinsOverAGroupDeltaRemoval) {
  // The delta says Alice left Staff; her memberOf, read later, says she is in.
  IncrementalRead read;
  read.present = {U("1", "alice"), G("9", "staff")};
  read.member_deltas["9"].removed = {"1"};
  read.member_of["1"] = {"9"};
  auto plan = BuildIncrementalPlan(read, Cache({U("1", "alice"), G("9", "staff")}), NoBudget());
  EXPECT_EQ(Lines(plan), std::vector<std::string>{"add-member staff alice"});
}

TEST(IncrementalPlanner, MemberOfEvidenceWinsOverAGroupDeltaAdditionOfACachedEdge) {
  IncrementalRead read;
  read.present = {U("1", "alice"), G("9", "staff")};
  read.member_deltas["9"].added = {"1"};
  read.member_of["1"] = {};
  auto plan = BuildIncrementalPlan(
      read, Cache({U("1", "alice"), G("9", "staff")}, {}, {{"9", "1"}}), NoBudget());
  EXPECT_EQ(Lines(plan), std::vector<std::string>{"remove-member staff alice"});
}

// BUG (demonstrated): the member side overrides only edges the cache holds.
// When the group's delta adds an edge the cache does not have, and the
// member's memberOf (read later, so newer) does not name the group, the
// delta's add survives: the plan adds a membership AD no longer has, against
// the documented rule that member-side evidence wins where both speak.
TEST(IncrementalPlanner, MemberOfEvidenceWinsOverAGroupDeltaAddition) {
  IncrementalRead read;
  read.present = {U("1", "alice"), G("9", "staff")};
  read.member_deltas["9"].added = {"1"};
  read.member_of["1"] = {};  // removed again between the DirSync read and the re-read
  auto plan = BuildIncrementalPlan(read, Cache({U("1", "alice"), G("9", "staff")}), NoBudget());
  EXPECT_TRUE(plan.empty()) << ::testing::PrintToString(Lines(plan));
}

TEST(IncrementalPlanner, MemberOfRemovesCachedEdgesToGroupsItNoLongerNames) {
  IncrementalRead read;
  read.present = {U("1", "alice")};
  read.member_of["1"] = {"9"};
  auto plan = BuildIncrementalPlan(
      read, Cache({U("1", "alice")}, {G("9", "staff"), G("8", "admins")}, {{"8", "1"}, {"9", "1"}}),
      NoBudget());
  EXPECT_EQ(Lines(plan), std::vector<std::string>{"remove-member admins alice"});
}

TEST(IncrementalPlanner, EdgesOfADeletedObjectGoWithItsDelete) {
  IncrementalRead read;
  read.absent = {"3"};
  read.member_deltas["9"].removed = {"3"};
  read.present = {G("9", "staff")};
  read.members["8"] = {};  // Admins' full list no longer has Carol either
  auto plan = BuildIncrementalPlan(
      read, Cache({U("3", "carol"), G("9", "staff")}, {G("8", "admins")}, {{"9", "3"}, {"8", "3"}}),
      NoBudget());
  EXPECT_EQ(Lines(plan), std::vector<std::string>{"delete carol"});
}

TEST(IncrementalPlanner, EdgesOfADeletedGroupGoWithItsDelete) {
  IncrementalRead read;
  read.absent = {"9"};
  read.present = {U("1", "alice")};
  read.member_of["1"] = {};
  auto plan = BuildIncrementalPlan(
      read, Cache({G("9", "staff"), U("1", "alice")}, {}, {{"9", "1"}}), NoBudget());
  EXPECT_EQ(Lines(plan), std::vector<std::string>{"delete staff"});
}

TEST(IncrementalPlanner, EdgeWhoseGroupEndIsAUserIsIgnored) {
  IncrementalRead read;
  read.present = {U("1", "alice")};
  read.member_of["1"] = {"2"};  // "2" is a cached user, not a group
  auto plan = BuildIncrementalPlan(read, Cache({U("1", "alice")}, {U("2", "bob")}), NoBudget());
  EXPECT_TRUE(plan.empty()) << ::testing::PrintToString(Lines(plan));
}

TEST(IncrementalPlanner, DeletionsOverTheCountBudgetAreHeld) {
  IncrementalRead read;
  read.absent = {"1", "2", "3", "9"};
  read.present = {U("4", "new")};
  auto plan = BuildIncrementalPlan(
      read, Cache({U("1", "a"), U("2", "b"), U("3", "c"), G("9", "g")}, {U("5", "e")}),
      Budget(2, 100));
  // Three user deletes exceed max_deletes = 2; the one group delete does not.
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"create new", "delete g"}));
  ASSERT_EQ(plan.held.size(), 3u);
  EXPECT_EQ(HeldLines(plan), (std::vector<std::string>{"delete a", "delete b", "delete c"}));
  EXPECT_NE(plan.held[0].reason.find("max_deletes = 2"), std::string::npos) << plan.held[0].reason;
}

TEST(IncrementalPlanner, DeletionsOverThePercentBudgetAreHeldAgainstTheWholeCache) {
  // 2 of the 4 cached users (the slice names only two; totals count all).
  IncrementalRead read;
  read.absent = {"1", "2"};
  auto plan = BuildIncrementalPlan(
      read, Cache({U("1", "a"), U("2", "b")}, {U("3", "c"), U("4", "d")}), Budget(-1, 25));
  EXPECT_TRUE(plan.operations.empty());
  ASSERT_EQ(plan.held.size(), 2u);
  EXPECT_NE(plan.held[0].reason.find("50% of 4"), std::string::npos) << plan.held[0].reason;

  IncrementalRead one;
  one.absent = {"1"};
  auto within = BuildIncrementalPlan(
      one, Cache({U("1", "a")}, {U("2", "b"), U("3", "c"), U("4", "d")}), Budget(-1, 25));
  EXPECT_EQ(Lines(within), std::vector<std::string>{"delete a"});
}

TEST(IncrementalPlanner, IncompleteReadHoldsDeletesAndRemovalsButAppliesTheRest) {
  IncrementalRead read;
  read.present = {U("1", "alice"), G("9", "staff")};
  read.absent = {"2"};
  read.members["9"] = {"1"};  // carol left
  read.complete = false;
  read.incomplete_reason = "OU=People: sizeLimitExceeded";
  auto plan = BuildIncrementalPlan(
      read, Cache({U("2", "bob"), G("9", "staff")}, {U("3", "carol")}, {{"9", "3"}}), NoBudget());
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"create alice", "add-member staff alice"}));
  EXPECT_EQ(HeldLines(plan), (std::vector<std::string>{"remove-member staff carol", "delete bob"}));
  for (const auto& held : plan.held) {
    EXPECT_NE(held.reason.find("incomplete"), std::string::npos) << held.reason;
    EXPECT_NE(held.reason.find("sizeLimitExceeded"), std::string::npos) << held.reason;
  }
  EXPECT_FALSE(plan.read_complete);
  EXPECT_EQ(plan.incomplete_reason, "OU=People: sizeLimitExceeded");
}

TEST(IncrementalPlanner, OrderMatchesTheFullPlanner) {
  IncrementalRead read;
  read.present = {U("2", "bob"), G("8", "admins"), U("1", "alice"), G("9", "staff")};
  read.absent = {"5", "6"};
  read.members["9"] = {"1", "2"};
  read.members["8"] = {"1"};
  auto plan = BuildIncrementalPlan(
      read, Cache({G("5", "old-group"), U("6", "old-user")}, {U("7", "zed")}, {}), NoBudget());
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"create admins", "create staff", "create alice",
                                                   "create bob", "add-member admins alice",
                                                   "add-member staff alice", "add-member staff bob",
                                                   "delete old-user", "delete old-group"}));
}

TEST(IncrementalPlanner, SameInputsGiveTheSamePlan) {
  IncrementalRead read;
  read.present = {U("2", "bob"), U("1", "alice"), G("9", "staff")};
  read.member_deltas["9"].added = {"1", "2"};
  const CachedSlice cache = Cache({G("9", "staff")});
  EXPECT_EQ(Lines(BuildIncrementalPlan(read, cache, NoBudget())),
            Lines(BuildIncrementalPlan(read, cache, NoBudget())));
}

// The change budget holds an incremental plan too (the held objects are
// re-read by the next run, as held deletions are), against the whole cache.
TEST(IncrementalPlanner, UpdatesOverTheChangeBudgetAreHeld) {
  std::vector<SyncObject> cached;
  IncrementalRead read;
  for (int i = 0; i < 12; ++i) {
    SyncObject u = U(std::to_string(i), "u" + std::to_string(i));
    u.attributes["email"] = u.name + "@x";
    cached.push_back(u);
    u.attributes["email"] = "";
    read.present.push_back(u);
  }
  CachedSlice slice = Cache(cached);
  slice.totals[ObjectKind::kUser] = 50;
  SafetyConfig safety = NoBudget();
  safety.max_change_percent = 20;
  auto plan = BuildIncrementalPlan(read, slice, safety);
  EXPECT_TRUE(plan.operations.empty());
  ASSERT_EQ(plan.held.size(), 12u);
  EXPECT_NE(plan.held[0].reason.find("change email on 24% of 50 users"), std::string::npos)
      << plan.held[0].reason;
  slice.totals[ObjectKind::kUser] = 60;  // 20%: within the budget
  EXPECT_EQ(BuildIncrementalPlan(read, slice, safety).operations.size(), 12u);
}

}  // namespace
}  // namespace syncd
