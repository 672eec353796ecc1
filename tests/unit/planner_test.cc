#include "syncd/planner.h"
#include "ldap/codec.h"
#include "tests/unit/safety_util.h"
#include "tests/unit/test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>
#include <unordered_set>

namespace syncd {
namespace {

using testing::Budget;
using testing::G;
using testing::NoBudget;
using testing::U;

ReadSnapshot Read(std::vector<SyncObject> objects, std::vector<Membership> memberships = {}) {
  ReadSnapshot r;
  r.desired.objects = testing::Shared(std::move(objects));
  r.desired.memberships = std::move(memberships);
  return r;
}

std::vector<std::string> Lines(const Plan& plan) {
  std::vector<std::string> out;
  for (const auto& op : plan.operations) {
    out.push_back(std::string(OpName(op.op)) + " " + op.object->name +
                  (op.member ? " " + op.member->name : ""));
  }
  return out;
}

TEST(Planner, FromEmptyCreatesGroupsThenUsersThenMemberships) {
  auto plan = BuildPlan(Read({U("1", "bob"), U("2", "alice"), G("9", "staff")}, {{"9", "1"}}),
                        std::vector<SyncObject>{}, {}, NoBudget());
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"create staff", "create alice", "create bob",
                                                   "add-member staff bob"}));
  EXPECT_TRUE(plan.held.empty());
}

TEST(Planner, NoChangePlansNothing) {
  std::vector<SyncObject> objects = {U("1", "bob"), G("9", "staff")};
  auto plan = BuildPlan(Read(objects, {{"9", "1"}}), objects, {{"9", "1"}}, NoBudget());
  EXPECT_TRUE(plan.empty());
}

// Edges are matched in sorted vectors, not sets: an edge listed twice (by
// the cache or the read) is still one edge, kept once or removed once.
TEST(Planner, AnEdgeListedTwiceIsOneEdge) {
  std::vector<SyncObject> objects = {U("1", "bob"), U("2", "alice"), G("9", "staff")};
  auto plan = BuildPlan(Read(objects, {{"9", "1"}, {"9", "1"}}), objects,
                        {{"9", "2"}, {"9", "1"}, {"9", "2"}, {"9", "1"}}, NoBudget());
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"remove-member staff alice"}));
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
  ASSERT_EQ(op.changes->size(), 2u);
  EXPECT_EQ((*op.changes)[0], (AttributeChange{"displayName", "Bob", "Robert"}));
  EXPECT_EQ((*op.changes)[1], (AttributeChange{"email", std::nullopt, "r@x"}));
}

TEST(Planner, MoveIsUpdateNotDeleteAndCreate) {
  SyncObject before = U("1", "bob");
  SyncObject after = before;
  after.source.Mutable().dn = "CN=bob,OU=Moved,DC=corp";
  auto plan = BuildPlan(Read({after}), {before}, {}, NoBudget());
  ASSERT_EQ(plan.operations.size(), 1u);
  EXPECT_EQ(plan.operations[0].op, OpType::kUpdate);
  EXPECT_EQ((*plan.operations[0].changes)[0].attribute, "dn");
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

TEST(Planner, HoldDeletesHoldsEveryDeleteAndNothingElse) {
  std::vector<SyncObject> cached = {U("1", "bob"), U("2", "carol"), G("9", "staff"), G("8", "old")};
  auto plan = BuildPlan(Read({U("1", "bob"), G("9", "staff"), U("3", "dave")}), cached,
                        {{"9", "1"}, {"9", "2"}}, NoBudget());
  ASSERT_EQ(Lines(plan), (std::vector<std::string>{"create dave", "remove-member staff bob",
                                                   "delete carol", "delete old"}));
  HoldDeletes("frozen", &plan);
  // Membership removals go ahead.
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"create dave", "remove-member staff bob"}));
  ASSERT_EQ(plan.held.size(), 2u);
  EXPECT_EQ(plan.held[0].operation.object->name, "carol");
  EXPECT_EQ(plan.held[1].operation.object->name, "old");
  for (const auto& held : plan.held) EXPECT_EQ(held.reason, "frozen");
  // Nothing to hold: nothing changes.
  HoldDeletes("frozen", &plan);
  EXPECT_EQ(plan.held.size(), 2u);
}

// Regression: after an IAM Identity Center switch the new store holds none of
// the old principals; holding their deletes kept them in the cache, where the
// reapply matched its entries to them instead of to the new source's.
TEST(Planner, HoldDeletesLetsThroughWhatTheStoreNoLongerHolds) {
  std::vector<SyncObject> cached = {U("1", "bob"), U("2", "carol"), G("8", "old")};
  auto plan = BuildPlan(Read({U("1", "bob")}), cached, {}, NoBudget());
  ASSERT_EQ(Lines(plan), (std::vector<std::string>{"delete carol", "delete old"}));
  const std::unordered_set<std::string> in_store = {U("1", "bob").external_id,
                                                    U("2", "carol").external_id};
  HoldDeletes("frozen", &plan, &in_store);
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"delete old"})) << "only the cache holds it";
  ASSERT_EQ(plan.held.size(), 1u);
  EXPECT_EQ(plan.held[0].operation.object->name, "carol");
}

TEST(Planner, DeletionsOverCountBudgetAreHeldPerKind) {
  std::vector<SyncObject> cached = {U("1", "a"), U("2", "b"), U("3", "c"), G("9", "g")};
  auto plan = BuildPlan(Read({U("4", "new")}), cached, {}, Budget(2, 100));
  // Three user deletes exceed max_deletes = 2; the one group delete does not.
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"create new", "delete g"}));
  ASSERT_EQ(plan.held.size(), 3u);
  EXPECT_NE(plan.held[0].reason.find("max_deletes = 2"), std::string::npos);
}

TEST(Planner, SourceSwitchDeletesTheOldSourceFirstAndPastTheBudget) {
  std::vector<SyncObject> cached = {U("1", "alice"), U("2", "bob"), G("9", "staff")};
  SafetyConfig budget = Budget(1, 10);
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
  SafetyConfig budget = Budget(1, 10);
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
  auto plan = BuildPlan(Read({U("1", "a"), U("2", "b")}), cached, {}, Budget(-1, 25));
  EXPECT_TRUE(plan.operations.empty());
  ASSERT_EQ(plan.held.size(), 2u);
  EXPECT_NE(plan.held[0].reason.find("50% of 4"), std::string::npos);
  auto within =
      BuildPlan(Read({U("1", "a"), U("2", "b"), U("3", "c")}), cached, {}, Budget(-1, 25));
  EXPECT_EQ(Lines(within), std::vector<std::string>{"delete d"});
}

TEST(Planner, SummaryCountsPerKind) {
  auto plan = BuildPlan(Read({U("1", "bob"), G("9", "staff")}, {{"9", "1"}}),
                        std::vector<SyncObject>{}, {}, NoBudget());
  auto s = Summarize(plan);
  EXPECT_EQ(s["user"]["create"], 1);
  EXPECT_EQ(s["group"]["create"], 1);
  EXPECT_EQ(s["membership"]["add-member"], 1);
  EXPECT_EQ(s["user"]["held"], 0);
}

// The plan's order, spelled out as strings compare: by step, then the
// object's name and GUID, then the member's (none first). The planner sorts
// by integer ranks instead; on names that share long prefixes, repeat, or
// differ only past their 8th byte or by a NUL byte, both must agree.
// The steps in the order planner.h documents.
int StepOf(const Operation& op) {
  static const std::vector<std::string> kSteps = {"create group", "create user",   "update",
                                                  "add-member",   "remove-member", "delete user",
                                                  "delete group"};
  std::string step = OpName(op.op);
  if (op.op == OpType::kCreate || op.op == OpType::kDelete)
    step += " " + std::string(KindName(op.kind));
  return static_cast<int>(std::find(kSteps.begin(), kSteps.end(), step) - kSteps.begin());
}
bool InPlanOrder(const Operation& a, const Operation& b) {
  static const std::string kNone;
  using Key = std::tuple<int, const std::string&, const std::string&, const std::string&,
                         const std::string&>;
  auto key = [](const Operation& op) {
    return Key(StepOf(op), op.object->name, op.object->guid, op.member ? op.member->name : kNone,
               op.member ? op.member->guid : kNone);
  };
  return key(a) < key(b);
}

TEST(Planner, OperationsAreInStepNameGuidOrderWhateverTheNames) {
  const std::vector<std::string> names = {"Smith",
                                          "Smith",
                                          "Smithers",
                                          "SmithersA",
                                          "SmithersB",
                                          std::string("Smithers\0", 9),
                                          std::string("Smith\0b", 7),
                                          std::string("Smith\0a", 7),
                                          "",
                                          "a",
                                          "Zed",
                                          "\xc3\xa9mile",
                                          "emile"};
  std::vector<SyncObject> read_objects, cached;
  std::vector<Membership> edges, cached_edges;
  for (size_t i = 0; i < 60; ++i) {
    const std::string guid = "g" + std::to_string((i * 37) % 60);
    const std::string& name = names[(i * 7) % names.size()];
    SyncObject o = i % 4 == 0 ? G(guid, name) : U(guid, name);
    if (i % 6 == 1) {
      cached.push_back(o);  // only in the cache: a delete
      continue;
    }
    if (i % 5 == 0) {
      cached.push_back(o);  // in the cache and the read: an update
      o.attributes["title"] = "new";
    }
    read_objects.push_back(o);
  }
  for (size_t g = 0; g < read_objects.size(); ++g) {
    if (read_objects[g].kind != ObjectKind::kGroup) continue;
    for (size_t m = 0; m < read_objects.size(); m += 3) {
      if (m == g) continue;
      Membership edge{read_objects[g].guid, read_objects[m].guid};
      (m % 2 == 0 ? edges : cached_edges).push_back(edge);
    }
  }
  auto plan = BuildPlan(Read(read_objects, edges), cached, cached_edges, Budget(1, 100));
  ASSERT_GT(plan.operations.size(), 100u);
  ASSERT_GT(plan.held.size(), 1u);  // the deletes over max_deletes = 1
  auto out_of_order = [](const Operation& a, const Operation& b) { return !InPlanOrder(a, b); };
  EXPECT_EQ(std::adjacent_find(plan.operations.begin(), plan.operations.end(), out_of_order),
            plan.operations.end());
  for (size_t i = 1; i < plan.held.size(); ++i) {
    EXPECT_TRUE(InPlanOrder(plan.held[i - 1].operation, plan.held[i].operation)) << i;
  }
  for (OpType step :
       {OpType::kCreate, OpType::kUpdate, OpType::kAddMember, OpType::kRemoveMember}) {
    EXPECT_TRUE(std::any_of(plan.operations.begin(), plan.operations.end(),
                            [step](const Operation& op) { return op.op == step; }))
        << OpName(step);
  }
}

// Regression: an object that scope skipped (no value for its name) was
// planned for deletion although it is still in AD.
TEST(Planner, ObjectSkippedByScopeIsNotDeleted) {
  std::vector<SyncObject> cached = {U("1", "bob"), U("2", "carol")};
  ReadSnapshot read;
  read.desired.objects = testing::Shared({U("1", "bob")});
  read.desired.skipped = {"2"};
  auto plan = BuildPlan(read, cached, {}, Budget(-1, 100));
  EXPECT_TRUE(plan.operations.empty());
  ASSERT_EQ(plan.held.size(), 1u);
  EXPECT_EQ(plan.held[0].operation.object->name, "carol");
}

// An object whose objectGUID is 16 bytes of `n`, as the store and the read
// have it (externalId: the GUID's string form).
SyncObject Real(ObjectKind kind, char n, const std::string& name) {
  SyncObject o =
      kind == ObjectKind::kUser ? U(std::string(16, n), name) : G(std::string(16, n), name);
  o.external_id = *ldap::GuidToString(o.guid);
  return o;
}

StoredObject Stored(const SyncObject& o) {
  StoredObject s;
  s.kind = o.kind;
  s.external_id = o.external_id;
  s.name = o.name;
  s.attributes = o.attributes;
  return s;
}

// Both steps of a reconciliation's baseline, as the engine takes them
// around its read.
Baseline ReconcileBaseline(OwnedContents owned, std::vector<SyncObject> cached,
                           std::vector<Membership> cached_memberships, const ReadSnapshot& read) {
  return FinishBaseline(
      PrepareBaseline(std::move(owned), std::move(cached), std::move(cached_memberships)), read);
}

// Users with email "<name>@x" in `count` numbered objects.
std::vector<SyncObject> Mailed(int count) {
  std::vector<SyncObject> users;
  for (int i = 0; i < count; ++i) {
    SyncObject u = Real(ObjectKind::kUser, static_cast<char>('a' + i), "u" + std::to_string(i));
    u.attributes["email"] = u.name + "@x";
    users.push_back(u);
  }
  return users;
}

SafetyConfig ChangeBudget(double percent, int64_t floor) {
  SafetyConfig safety = NoBudget();
  safety.max_change_percent = percent;
  safety.change_budget_floor = floor;
  return safety;
}

// Issue 14: with the state lost, a full reconciliation diffed AD against an
// empty cache, created nothing (the store had it all) and deleted nothing.
TEST(ReconcileBaseline, LostStateDeletesFromTheStoreWhatAdNoLongerHas) {
  SyncObject kept = Real(ObjectKind::kUser, 'k', "kept");
  SyncObject gone = Real(ObjectKind::kUser, 'g', "gone");
  SyncObject staff = Real(ObjectKind::kGroup, 's', "staff");
  OwnedContents owned;
  owned.objects = {Stored(kept), Stored(gone), Stored(staff)};
  owned.memberships = {{staff.external_id, kept.external_id},
                       {staff.external_id, gone.external_id}};
  ReadSnapshot read = Read({kept, staff}, {{staff.guid, kept.guid}});
  Baseline baseline = ReconcileBaseline(owned, {}, {}, read);
  EXPECT_EQ(baseline.objects.size(), 3u);
  // The edge AD still wants is left out: the cache must learn it.
  EXPECT_EQ(baseline.memberships, (std::vector<Membership>{{staff.guid, gone.guid}}));
  auto plan =
      BuildPlan(read, baseline.objects, baseline.memberships, NoBudget(), false, &baseline.applied);
  // The state learns the objects and memberships it forgot (no-ops in the
  // store) and loses nothing else.
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"update kept", "update staff",
                                                   "add-member staff kept", "delete gone"}));
}

// Review finding: where the store already equals AD but the cache is behind
// (a store newer than the state), no operation meant the cache stayed stale
// and incremental runs planned against wrong values.
TEST(ReconcileBaseline, CacheBehindAStoreThatMatchesAdIsBroughtUpToDate) {
  SyncObject now = Real(ObjectKind::kUser, 'a', "a");
  now.attributes["email"] = "new@x";
  SyncObject before = now;
  before.attributes["email"] = "old@x";
  OwnedContents owned;
  owned.objects = {Stored(now)};
  std::vector<SyncObject> cached = {before};
  ReadSnapshot read = Read({now});
  Baseline baseline = ReconcileBaseline(owned, cached, {}, read);
  auto plan = BuildPlan(read, baseline.objects, {}, NoBudget(), false, &baseline.applied);
  EXPECT_EQ(Lines(plan), std::vector<std::string>{"update a"});
}

// Review finding: with the store wiped, the deletions of cached objects AD
// no longer has were 100% of a baseline holding only them, and were held.
TEST(ReconcileBaseline, WipedStoreKeepsTheDeletionBudgetsBaseAtWhatSyncdHeld) {
  std::vector<SyncObject> cached = Mailed(20);
  ReadSnapshot read = Read({cached.begin() + 2, cached.end()});
  Baseline baseline = ReconcileBaseline({}, cached, {}, read);
  auto plan = BuildPlan(read, baseline.objects, {}, Budget(500, 50), false, &baseline.applied);
  EXPECT_TRUE(plan.held.empty()) << plan.held.front().reason;
  EXPECT_EQ(Summarize(plan)["user"]["delete"], 2);
  EXPECT_EQ(Summarize(plan)["user"]["create"], 18);
}

TEST(ReconcileBaseline, WipedStoreIsCreatedAgainWithItsMemberships) {
  SyncObject a = Real(ObjectKind::kUser, 'a', "a");
  SyncObject staff = Real(ObjectKind::kGroup, 's', "staff");
  std::vector<SyncObject> cached = {a, staff};
  std::vector<Membership> edges = {{staff.guid, a.guid}};
  ReadSnapshot read = Read(cached, edges);
  Baseline baseline = ReconcileBaseline({}, cached, edges, read);
  EXPECT_TRUE(baseline.objects.empty());
  EXPECT_TRUE(baseline.memberships.empty());
  auto plan =
      BuildPlan(read, baseline.objects, baseline.memberships, NoBudget(), false, &baseline.applied);
  EXPECT_EQ(Lines(plan),
            (std::vector<std::string>{"create staff", "create a", "add-member staff a"}));
}

TEST(ReconcileBaseline, DriftIsRepairedAndNotCountedAgainstTheChangeBudget) {
  std::vector<SyncObject> users = Mailed(20);
  OwnedContents owned;
  for (const auto& u : users) {
    StoredObject s = Stored(u);
    s.attributes.erase("email");  // cleared behind syncd's back
    owned.objects.push_back(s);
  }
  ReadSnapshot read = Read(users);
  Baseline baseline = ReconcileBaseline(owned, users, {}, read);
  auto plan = BuildPlan(read, baseline.objects, {}, ChangeBudget(20, 0), false, &baseline.applied);
  EXPECT_EQ(plan.operations.size(), 20u);
  EXPECT_TRUE(plan.held.empty());
  ASSERT_FALSE(plan.operations.empty());
  EXPECT_EQ(plan.operations[0].changes,
            (std::vector<AttributeChange>{{"email", std::nullopt, "u0@x"}}));
}

TEST(ReconcileBaseline, StaleCacheEntriesGoAndForeignObjectsStayOut) {
  SyncObject stale = Real(ObjectKind::kUser, 'z', "stale");
  SyncObject staff = Real(ObjectKind::kGroup, 's', "staff");
  SyncObject a = Real(ObjectKind::kUser, 'a', "a");
  OwnedContents owned;
  owned.objects = {Stored(staff), Stored(a)};
  StoredObject odd;
  odd.external_id = "not-a-guid";
  odd.name = "odd";
  owned.objects.push_back(odd);
  // The cache remembers an edge the store lost and AD no longer has.
  std::vector<SyncObject> cached = {stale, staff, a};
  std::vector<Membership> cached_edges = {{staff.guid, a.guid}};
  ReadSnapshot read = Read({staff, a});
  Baseline baseline = ReconcileBaseline(owned, cached, cached_edges, read);
  EXPECT_EQ(baseline.unreadable, std::vector<std::string>{"user odd (externalId not-a-guid)"});
  auto plan =
      BuildPlan(read, baseline.objects, baseline.memberships, NoBudget(), false, &baseline.applied);
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"remove-member staff a", "delete stale"}));
}

TEST(ChangeBudget, MappingMistakeClearingEveryEmailIsHeld) {
  std::vector<SyncObject> before = Mailed(20);
  std::vector<SyncObject> after = before;
  for (auto& u : after) u.attributes.erase("email");
  after[0].attributes["displayName"] = "renamed";
  auto plan = BuildPlan(Read(after), before, {}, ChangeBudget(20, 10));
  EXPECT_TRUE(plan.operations.empty());
  ASSERT_EQ(plan.held.size(), 20u);
  EXPECT_NE(plan.held[0].reason.find("20 user updates change email on 100% of 20 users"),
            std::string::npos)
      << plan.held[0].reason;
  // Within the floor, or the attribute's own limit, nothing is held.
  EXPECT_TRUE(BuildPlan(Read(after), before, {}, ChangeBudget(20, 20)).held.empty());
  SafetyConfig email_free = ChangeBudget(20, 10);
  email_free.max_change_percent_by_attribute["email"] = 100;
  auto allowed = BuildPlan(Read(after), before, {}, email_free);
  EXPECT_TRUE(allowed.held.empty());
  EXPECT_EQ(allowed.operations.size(), 20u);
}

TEST(ChangeBudget, ChangesOnAFewObjectsApply) {
  std::vector<SyncObject> before = Mailed(20);
  std::vector<SyncObject> after = before;
  for (int i = 0; i < 4; ++i) after[i].attributes["email"] = "new" + std::to_string(i) + "@x";
  auto plan = BuildPlan(Read(after), before, {}, ChangeBudget(20, 0));
  EXPECT_EQ(plan.operations.size(), 4u) << "4 of 20 is 20%, not over it";
  after[4].attributes["email"] = "new4@x";
  EXPECT_EQ(BuildPlan(Read(after), before, {}, ChangeBudget(20, 0)).held.size(), 5u);
}

// The store's, the cache's and the read's edges meet in sorted vectors: the
// store listing an edge twice, or in another order, changes nothing, and
// the edges of a store object syncd cannot read stay out.
TEST(ReconcileBaseline, StoreEdgesInAnyOrderOrTwiceAreTheSameEdges) {
  SyncObject a = Real(ObjectKind::kUser, 'a', "a");
  SyncObject b = Real(ObjectKind::kUser, 'b', "b");
  SyncObject staff = Real(ObjectKind::kGroup, 's', "staff");
  std::vector<SyncObject> cached = {a, b, staff};
  OwnedContents owned;
  owned.objects = {Stored(staff), Stored(b), Stored(a)};
  owned.memberships = {{staff.external_id, b.external_id},
                       {staff.external_id, a.external_id},
                       {staff.external_id, b.external_id},
                       {staff.external_id, "not-a-guid"}};
  // The read wants only staff <- a; the cache knows both edges.
  ReadSnapshot read = Read(cached, {{staff.guid, a.guid}});
  Baseline baseline =
      ReconcileBaseline(owned, cached, {{staff.guid, b.guid}, {staff.guid, a.guid}}, read);
  std::vector<Membership> expected = {{staff.guid, a.guid}, {staff.guid, b.guid}};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(baseline.memberships, expected);
  auto plan =
      BuildPlan(read, baseline.objects, baseline.memberships, NoBudget(), false, &baseline.applied);
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"remove-member staff b"}));
}

// The scope hands its edges sorted, and the baseline searches them as they
// are; a read whose edges come in another order (or twice) must still find
// every one of them. Regression: an edge listed twice that the cache lacked
// was planned as two add-members.
TEST(ReconcileBaseline, ReadEdgesInAnyOrderOrTwiceAreTheSameEdges) {
  std::vector<SyncObject> users;
  for (char c : std::string("abcd")) users.push_back(Real(ObjectKind::kUser, c, {c}));
  SyncObject staff = Real(ObjectKind::kGroup, 's', "staff");
  std::vector<SyncObject> cached = users;
  cached.push_back(staff);
  OwnedContents owned;
  owned.objects = {Stored(staff)};
  for (const auto& u : users) {
    owned.objects.push_back(Stored(u));
    owned.memberships.push_back({staff.external_id, u.external_id});
  }
  // The store has all four edges and the cache none (a lost state): each
  // wanted edge stays out of the baseline, so that its add-member teaches
  // the cache. Listed last to first, and one twice.
  std::vector<Membership> wanted;
  for (auto u = users.rbegin(); u != users.rend(); ++u) wanted.push_back({staff.guid, u->guid});
  wanted.push_back({staff.guid, users[1].guid});
  ReadSnapshot read = Read(cached, wanted);
  Baseline baseline = ReconcileBaseline(owned, cached, {}, read);
  EXPECT_TRUE(baseline.memberships.empty());
  auto plan =
      BuildPlan(read, baseline.objects, baseline.memberships, NoBudget(), false, &baseline.applied);
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"add-member staff a", "add-member staff b",
                                                   "add-member staff c", "add-member staff d"}));
}

// A store that cannot list its groups' members (IAM Identity Center): the
// cache's edges stand in for them, so nothing is re-added or removed that
// the cache already agrees with, and a recreated group gets its members.
TEST(ReconcileBaseline, UnlistedMembershipsComeFromTheCache) {
  SyncObject a = Real(ObjectKind::kUser, 'a', "a");
  SyncObject b = Real(ObjectKind::kUser, 'b', "b");
  SyncObject staff = Real(ObjectKind::kGroup, 's', "staff");
  SyncObject ops = Real(ObjectKind::kGroup, 'o', "ops");
  std::vector<SyncObject> cached = {a, b, staff, ops};
  std::vector<Membership> edges = {{staff.guid, a.guid}, {ops.guid, b.guid}};
  OwnedContents owned;
  owned.objects = {Stored(a), Stored(b), Stored(staff)};  // ops was deleted behind syncd's back
  owned.memberships_complete = false;
  ReadSnapshot read = Read(cached, edges);
  Baseline baseline = ReconcileBaseline(owned, cached, edges, read);
  EXPECT_EQ(baseline.memberships, (std::vector<Membership>{{staff.guid, a.guid}}));
  auto plan =
      BuildPlan(read, baseline.objects, baseline.memberships, NoBudget(), false, &baseline.applied);
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"create ops", "add-member ops b"}));
}

// A full reconciliation prepares its baseline before the read, so that the
// store's and the cache's images of each object are one image while the
// read brings its own; where the two differ, the read settles it after.
TEST(ReconcileBaseline, PreparedBeforeTheReadItHoldsOneImageAnObjectUntilTheReadSettlesDrift) {
  std::vector<SyncObject> users = Mailed(3);  // u0, u1, u2 as the cache has them
  OwnedContents owned;
  for (const auto& u : users) owned.objects.push_back(Stored(u));
  owned.objects[1].attributes["email"] = "drift@x";  // changed behind syncd's back
  owned.objects[2].attributes["email"] = "new@x";    // a store ahead of the cache
  PreparedBaseline prepared = PrepareBaseline(owned, users, {});
  ASSERT_EQ(prepared.baseline.objects.size(), 3u) << "merged: one image an object";
  EXPECT_EQ(prepared.from_store, 3u);
  ASSERT_EQ(prepared.diverged.size(), 2u);
  EXPECT_EQ(prepared.baseline.objects[prepared.diverged[0].first]->attributes.at("email"),
            "drift@x");
  EXPECT_EQ(prepared.diverged[0].second.at("email"), "u1@x");

  std::vector<SyncObject> in_ad = users;
  in_ad[2].attributes["email"] = "new@x";
  ReadSnapshot read = Read(in_ad);
  Baseline baseline = FinishBaseline(std::move(prepared), read);
  // The drift is repaired and counts against what syncd wrote; the cache
  // that was behind the store learns what AD and the store agree on.
  EXPECT_EQ(baseline.applied.attributes.count(users[1].guid), 1u);
  EXPECT_EQ(baseline.applied.attributes.count(users[2].guid), 0u);
  auto plan = BuildPlan(read, baseline.objects, {}, NoBudget(), false, &baseline.applied);
  EXPECT_EQ(Lines(plan), (std::vector<std::string>{"update u1", "update u2"}));
  ASSERT_EQ(plan.operations.size(), 2u);
  EXPECT_EQ(plan.operations[0].changes,
            (std::vector<AttributeChange>{{"email", "drift@x", "u1@x"}}));
  EXPECT_EQ(plan.operations[1].changes, (std::vector<AttributeChange>{{"email", "u2@x", "new@x"}}));
}

// A scheduled reconciliation of a large directory held every unchanged
// object twice (the baseline's image and the read's): the read now keeps
// the baseline's, and the plan is the same as with the read's own.
TEST(ShareUnchanged, TheReadKeepsTheBaselinesImageOfAnObjectEqualInEveryField) {
  std::vector<SyncObject> users = Mailed(4);  // u0..u3
  users[0].source.Mutable().dn = "CN=u0,OU=People";
  OwnedContents owned;
  for (size_t i = 0; i < 3; ++i) owned.objects.push_back(Stored(users[i]));
  owned.objects[1].attributes["email"] = "drift@x";  // u1: the store differs from the cache
  // u3: only the cache has it (the store lost it)
  PreparedBaseline prepared = PrepareBaseline(owned, users, {});
  const auto share = ShareUnchanged(prepared);
  auto position_of = [&](const SyncObject& o) {
    for (size_t i = 0; i < prepared.baseline.objects.size(); ++i) {
      if (prepared.baseline.objects[i]->guid == o.guid) return i;
    }
    return prepared.baseline.objects.size();
  };

  const ObjectRef same = share(MakeObjectRef(users[0]));
  EXPECT_EQ(same, prepared.baseline.objects[position_of(users[0])]) << "held once";
  SyncObject moved = users[0];
  moved.source.Mutable().dn = "CN=u0,OU=Elsewhere";  // a key field the plan shows
  EXPECT_EQ(share(MakeObjectRef(moved))->source->dn, "CN=u0,OU=Elsewhere");
  const ObjectRef drifted = MakeObjectRef(users[1]);
  EXPECT_EQ(share(drifted), drifted) << "FinishBaseline may still change u1's baseline image";
  const ObjectRef cached_only = share(MakeObjectRef(users[3]));
  EXPECT_EQ(cached_only, prepared.baseline.objects[position_of(users[3])]);
  SyncObject stranger = Real(ObjectKind::kUser, 'q', "q");
  const ObjectRef unknown = MakeObjectRef(stranger);
  EXPECT_EQ(share(unknown), unknown);

  // The same plan with the shared images as with the read's own.
  std::vector<SyncObject> in_ad = users;
  in_ad[2].attributes["email"] = "changed@x";
  auto plan_of = [&](bool shared) {
    PreparedBaseline again = PrepareBaseline(owned, users, {});
    const auto keep = ShareUnchanged(again);
    ReadSnapshot read = Read(in_ad);
    if (shared) {
      for (auto& o : read.desired.objects) o = keep(o);
    }
    Baseline baseline = FinishBaseline(std::move(again), read);
    Plan plan = BuildPlan(std::move(read), baseline.objects, std::move(baseline.memberships),
                          NoBudget(), false, &baseline.applied);
    return std::make_pair(Lines(plan), plan.operations.size() > 1 ? std::vector<AttributeChange>(
                                                                        *plan.operations[1].changes)
                                                                  : std::vector<AttributeChange>{});
  };
  const auto shared = plan_of(true);
  EXPECT_EQ(shared, plan_of(false));
  EXPECT_EQ(shared.first, (std::vector<std::string>{"create u3", "update u1", "update u2"}));
}

// The engine streams the cache into a BaselineBuilder: in whatever order
// the objects come, the baseline is PrepareBaseline's.
TEST(BaselineBuilder, TheCacheStreamedInAnyOrderPreparesWhatTheWholeCacheDoes) {
  std::vector<SyncObject> users = Mailed(5);
  users[0].source.Mutable().dn = "CN=u0";
  users[1].source.Mutable().sid_history = {"S-old"};
  OwnedContents owned;
  for (size_t i = 0; i < 4; ++i) owned.objects.push_back(Stored(users[i]));
  owned.objects[2].attributes["email"] = "drift@x";
  owned.objects.push_back(Stored(users[0]));  // stored twice: one cached image
  const PreparedBaseline whole = PrepareBaseline(owned, users, {});

  BaselineBuilder builder(owned);
  for (auto o = users.rbegin(); o != users.rend(); ++o) builder.AddCached(*o);
  const PreparedBaseline streamed = builder.Finish({});

  auto images = [](const PreparedBaseline& p) {
    std::vector<SyncObject> out;
    for (const auto& o : p.baseline.objects) out.push_back(*o);
    return out;
  };
  EXPECT_EQ(images(streamed), images(whole));
  EXPECT_EQ(streamed.from_store, 5u);
  ASSERT_EQ(streamed.baseline.objects.size(), 6u) << "u4, only cached, joins last";
  EXPECT_EQ(streamed.baseline.objects[0]->source->dn, "CN=u0");
  EXPECT_TRUE(streamed.baseline.objects[4]->source->dn.empty()) << "the second u0 has no image";
  EXPECT_EQ(streamed.baseline.objects[1]->source->sid_history, std::vector<std::string>{"S-old"});
  EXPECT_EQ(streamed.diverged, whole.diverged);
  EXPECT_EQ(streamed.baseline.applied.guids, whole.baseline.applied.guids);
  EXPECT_TRUE(std::is_sorted(streamed.baseline.applied.guids.begin(),
                             streamed.baseline.applied.guids.end()));
  EXPECT_EQ(streamed.baseline.applied.totals, whole.baseline.applied.totals);
}

TEST(FlattenNestedGroups, GroupsGetTheirEffectiveUsersThroughEveryLevel) {
  SyncObject a = Real(ObjectKind::kUser, 'a', "a");
  SyncObject b = Real(ObjectKind::kUser, 'b', "b");
  SyncObject top = Real(ObjectKind::kGroup, 't', "top");
  SyncObject mid = Real(ObjectKind::kGroup, 'm', "mid");
  SyncObject leaf = Real(ObjectKind::kGroup, 'l', "leaf");
  std::vector<SyncObject> objects = {a, b, top, mid, leaf};
  // top > mid > leaf > top (a cycle, which AD allows); a in leaf, b in top.
  std::vector<Membership> edges = {{top.guid, mid.guid},
                                   {mid.guid, leaf.guid},
                                   {leaf.guid, top.guid},
                                   {leaf.guid, a.guid},
                                   {top.guid, b.guid}};
  FlattenNestedGroups(testing::Shared(objects), &edges);
  std::vector<Membership> want = {{top.guid, a.guid}, {top.guid, b.guid},  {mid.guid, a.guid},
                                  {mid.guid, b.guid}, {leaf.guid, a.guid}, {leaf.guid, b.guid}};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(edges, want) << "users only, every level, the cycle ends";
}

}  // namespace
}  // namespace syncd
