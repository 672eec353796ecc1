#include "syncd/planner.h"
#include "tests/unit/test_util.h"

#include <gtest/gtest.h>

namespace syncd {
namespace {

using testing::G;
using testing::U;

ReadSnapshot Read(std::vector<SyncObject> objects, std::vector<Membership> memberships = {}) {
  ReadSnapshot r;
  r.desired.objects = std::move(objects);
  r.desired.memberships = std::move(memberships);
  return r;
}

SafetyConfig NoBudget() { return {-1, 100}; }

std::vector<std::string> Lines(const Plan& plan) {
  std::vector<std::string> out;
  for (const auto& op : plan.operations) {
    out.push_back(std::string(OpName(op.op)) + " " + op.object.name +
                  (op.member ? " " + op.member->name : ""));
  }
  return out;
}

TEST(Planner, FromEmptyCreatesGroupsThenUsersThenMemberships) {
  auto plan = BuildPlan(Read({U("1", "bob"), U("2", "alice"), G("9", "staff")}, {{"9", "1"}}), {},
                        {}, NoBudget());
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"create staff", "create alice", "create bob",
                                                   "add-member staff bob"}));
  EXPECT_TRUE(plan.held.empty());
}

TEST(Planner, NoChangePlansNothing) {
  std::vector<SyncObject> objects = {U("1", "bob"), G("9", "staff")};
  auto plan = BuildPlan(Read(objects, {{"9", "1"}}), objects, {{"9", "1"}}, NoBudget());
  EXPECT_TRUE(plan.empty());
}

TEST(Planner, AttributeChangeIsUpdateWithOldAndNew) {
  SyncObject before = U("1", "bob");
  before.attributes["displayName"] = "Bob";
  SyncObject after = before;
  after.attributes["displayName"] = "Robert";
  after.attributes["email"] = "r@x";
  auto plan = BuildPlan(Read({after}), {before}, {}, NoBudget());
  ASSERT_EQ(plan.operations.size(), 1u);
  const Operation& op = plan.operations[0];
  EXPECT_EQ(op.op, OpType::kUpdate);
  ASSERT_EQ(op.changes.size(), 2u);
  EXPECT_EQ(op.changes[0], (AttributeChange{"displayName", "Bob", "Robert"}));
  EXPECT_EQ(op.changes[1], (AttributeChange{"email", std::nullopt, "r@x"}));
}

TEST(Planner, MoveIsUpdateNotDeleteAndCreate) {
  SyncObject before = U("1", "bob");
  SyncObject after = before;
  after.dn = "CN=bob,OU=Moved,DC=corp";
  auto plan = BuildPlan(Read({after}), {before}, {}, NoBudget());
  ASSERT_EQ(plan.operations.size(), 1u);
  EXPECT_EQ(plan.operations[0].op, OpType::kUpdate);
  EXPECT_EQ(plan.operations[0].changes[0].attribute, "dn");
}

TEST(Planner, DeleteRemovesObjectWithoutSeparateMembershipRemoval) {
  std::vector<SyncObject> cached = {U("1", "bob"), G("9", "staff")};
  auto plan = BuildPlan(Read({G("9", "staff")}), cached, {{"9", "1"}}, NoBudget());
  EXPECT_EQ(Lines(plan), std::vector<std::string>{"delete bob"});
}

TEST(Planner, MembershipRemovedWhenBothEndsStay) {
  std::vector<SyncObject> objects = {U("1", "bob"), G("9", "staff")};
  auto plan = BuildPlan(Read(objects), objects, {{"9", "1"}}, NoBudget());
  EXPECT_EQ(Lines(plan), std::vector<std::string>{"remove-member staff bob"});
}

TEST(Planner, IncompleteReadHoldsDeletesAndRemovalsButAppliesTheRest) {
  std::vector<SyncObject> cached = {U("1", "bob"), U("2", "carol"), G("9", "staff")};
  ReadSnapshot read = Read({U("1", "bob"), G("9", "staff"), U("3", "dave")});
  read.complete = false;
  read.incomplete_reason = "connection lost";
  auto plan = BuildPlan(read, cached, {{"9", "1"}}, NoBudget());
  EXPECT_EQ(Lines(plan), std::vector<std::string>{"create dave"});
  ASSERT_EQ(plan.held.size(), 2u);
  for (const auto& held : plan.held) {
    EXPECT_NE(held.reason.find("incomplete"), std::string::npos);
  }
}

TEST(Planner, DeletionsOverCountBudgetAreHeldPerKind) {
  std::vector<SyncObject> cached = {U("1", "a"), U("2", "b"), U("3", "c"), G("9", "g")};
  auto plan = BuildPlan(Read({U("4", "new")}), cached, {}, {2, 100});
  // Three user deletes exceed max_deletes = 2; the one group delete does not.
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"create new", "delete g"}));
  ASSERT_EQ(plan.held.size(), 3u);
  EXPECT_NE(plan.held[0].reason.find("max_deletes = 2"), std::string::npos);
}

TEST(Planner, SourceSwitchDeletesTheOldSourceFirstAndPastTheBudget) {
  std::vector<SyncObject> cached = {U("1", "alice"), U("2", "bob"), G("9", "staff")};
  SafetyConfig budget{1, 10};
  auto plan = BuildPlan(Read({U("5", "alice"), G("8", "staff")}, {{"8", "5"}}), cached, {}, budget,
                        /*source_switch=*/true);
  // The old alice must be gone before the new one takes her userName.
  EXPECT_EQ(Lines(plan),
            (std::vector<std::string>{"delete alice", "delete bob", "delete staff", "create staff",
                                      "create alice", "add-member staff alice"}));
  EXPECT_TRUE(plan.held.empty());
}

TEST(Planner, SourceSwitchWithAnEmptyOrPartialReadKeepsTheBudget) {
  std::vector<SyncObject> cached = {U("1", "alice"), U("2", "bob")};
  SafetyConfig budget{1, 10};
  auto empty = BuildPlan(Read({}), cached, {}, budget, /*source_switch=*/true);
  EXPECT_TRUE(empty.operations.empty());
  EXPECT_EQ(empty.held.size(), 2u);
  ReadSnapshot partial = Read({U("5", "carol")});
  partial.complete = false;
  partial.incomplete_reason = "connection lost";
  auto plan = BuildPlan(partial, cached, {}, budget, /*source_switch=*/true);
  EXPECT_EQ(Lines(plan), std::vector<std::string>{"create carol"});
  EXPECT_EQ(plan.held.size(), 2u);
}

TEST(Planner, DeletionsOverPercentBudgetAreHeld) {
  std::vector<SyncObject> cached = {U("1", "a"), U("2", "b"), U("3", "c"), U("4", "d")};
  auto plan = BuildPlan(Read({U("1", "a"), U("2", "b")}), cached, {}, {-1, 25});
  EXPECT_TRUE(plan.operations.empty());
  ASSERT_EQ(plan.held.size(), 2u);
  EXPECT_NE(plan.held[0].reason.find("50% of 4"), std::string::npos);
  auto within = BuildPlan(Read({U("1", "a"), U("2", "b"), U("3", "c")}), cached, {}, {-1, 25});
  EXPECT_EQ(Lines(within), std::vector<std::string>{"delete d"});
}

TEST(Planner, SummaryCountsPerKind) {
  auto plan = BuildPlan(Read({U("1", "bob"), G("9", "staff")}, {{"9", "1"}}), {}, {}, NoBudget());
  auto s = Summarize(plan);
  EXPECT_EQ(s["user"]["create"], 1);
  EXPECT_EQ(s["group"]["create"], 1);
  EXPECT_EQ(s["membership"]["add-member"], 1);
  EXPECT_EQ(s["user"]["held"], 0);
}

// Regression: an object that scope skipped (no value for its name) was
// planned for deletion although it is still in AD.
TEST(Planner, ObjectSkippedByScopeIsNotDeleted) {
  std::vector<SyncObject> cached = {U("1", "bob"), U("2", "carol")};
  ReadSnapshot read;
  read.desired.objects = {U("1", "bob")};
  read.desired.skipped = {"2"};
  auto plan = BuildPlan(read, cached, {}, {-1, 100});
  EXPECT_TRUE(plan.operations.empty());
  ASSERT_EQ(plan.held.size(), 1u);
  EXPECT_EQ(plan.held[0].operation.object.name, "carol");
}

}  // namespace
}  // namespace syncd
