// The assignment ledger without a DC: matching (PlanReapply), applying it to
// a real state and local store, the export format, and the ledger's upkeep
// by sync runs.
#include "syncd/assignments.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/strings.h"
#include "ldap/codec.h"
#include "store/local/local_store.h"
#include "syncd/ledger_json.h"
#include "tests/unit/test_util.h"

namespace syncd {
namespace {

std::string Sid(const std::string& text) { return *ldap::SidFromString(text); }

std::string Guid(char c) { return std::string(16, c); }

SyncObject Principal(char guid, ObjectKind kind, const std::string& name) {
  SyncObject o;
  o.guid = Guid(guid);
  o.kind = kind;
  o.external_id = *ldap::GuidToString(o.guid);
  o.name = name;
  o.source.Mutable().dn = "CN=" + name + ",OU=People,DC=corp,DC=example,DC=com";
  o.source.Mutable().sam_account_name = name;
  return o;
}

LedgerEntry Entry(const SyncObject& p, const std::string& target, LedgerStatus status, int64_t id) {
  LedgerEntry e = LedgerEntryFor(p, target);
  e.status = status;
  e.id = id;
  return e;
}

const std::vector<MatchKey> kDefaultOrder = AssignmentsConfig().match;

// action + key + matched name, per entry id.
std::map<int64_t, std::string> Outcomes(const ReapplyPlan& plan) {
  std::map<int64_t, std::string> out;
  for (const auto& step : plan.steps) {
    std::string text = ReapplyActionName(step.action);
    if (step.key) text += std::string(" ") + MatchKeyName(*step.key);
    if (step.principal) text += " " + plan.principals[*step.principal].name;
    if (!step.candidates.empty()) text += " x" + std::to_string(step.candidates.size());
    out[plan.ledger[step.entry].id] = text;
  }
  return out;
}

TEST(PlanReapply, EachEntryMatchesByTheFirstKeyThatFindsAnything) {
  SyncObject old_alice = Principal('a', ObjectKind::kUser, "alice");
  old_alice.source.Mutable().sid = Sid("S-1-5-21-1-2-3-1104");
  old_alice.source.Mutable().user_principal_name = "alice@corp.example.com";
  SyncObject old_bob = Principal('b', ObjectKind::kUser, "bob");
  old_bob.source.Mutable().user_principal_name = "bob@corp.example.com";
  SyncObject old_frank = Principal('f', ObjectKind::kUser, "frank");
  SyncObject old_staff = Principal('s', ObjectKind::kGroup, "staff");

  SyncObject alice = Principal('A', ObjectKind::kUser, "alice.b");
  alice.source.Mutable().sid_history = {Sid("S-1-5-21-1-2-3-1104")};
  // The same UPN as bob's too: sIDHistory comes first, so alice is alice.
  alice.source.Mutable().user_principal_name = "ALICE@corp.example.com";
  SyncObject bob = Principal('B', ObjectKind::kUser, "robert");
  bob.source.Mutable().user_principal_name = "Bob@Corp.Example.Com";
  SyncObject francis = Principal('F', ObjectKind::kUser, "francis");
  francis.source.Mutable().consistency_guid = old_frank.guid;
  SyncObject staff_user = Principal('U', ObjectKind::kUser, "staff");  // not a group
  SyncObject staff = Principal('S', ObjectKind::kGroup, "staff");

  auto plan = PlanReapply({Entry(old_alice, "app:payroll", LedgerStatus::kOrphaned, 1),
                           Entry(old_bob, "app:wiki", LedgerStatus::kOrphaned, 2),
                           Entry(old_frank, "app:payroll", LedgerStatus::kOrphaned, 3),
                           Entry(old_staff, "aws:PowerUser", LedgerStatus::kOrphaned, 4)},
                          {alice, bob, francis, staff_user, staff}, {}, kDefaultOrder);
  EXPECT_EQ(Outcomes(plan), (std::map<int64_t, std::string>{
                                {1, "restore sIDHistory alice.b"},
                                {2, "restore userPrincipalName robert"},
                                {3, "restore mS-DS-ConsistencyGuid francis"},
                                {4, "restore sAMAccountName staff"},
                            }));
}

TEST(PlanReapply, SeveralCandidatesAtAKeyAreAmbiguousEvenIfALaterKeyIsUnique) {
  SyncObject old_dave = Principal('d', ObjectKind::kUser, "dave");
  old_dave.source.Mutable().mail = "dave@example.com";
  SyncObject one = Principal('1', ObjectKind::kUser, "dave.one");
  one.source.Mutable().mail = "dave@example.com";
  SyncObject two = Principal('2', ObjectKind::kUser, "dave");  // the same sAMAccountName
  two.source.Mutable().mail = "DAVE@example.com";
  auto plan = PlanReapply({Entry(old_dave, "app:wiki", LedgerStatus::kOrphaned, 7)}, {one, two}, {},
                          kDefaultOrder);
  EXPECT_EQ(Outcomes(plan), (std::map<int64_t, std::string>{{7, "ambiguous mail x2"}}));
  EXPECT_FALSE(plan.Settled() && plan.Count(ReapplyAction::kAmbiguous) == 0);
}

TEST(PlanReapply, NoMatchIsMissingAndTheConfiguredOrderIsObeyed) {
  SyncObject old_erin = Principal('e', ObjectKind::kUser, "erin");
  old_erin.source.Mutable().sid = Sid("S-1-5-21-1-2-3-1200");
  SyncObject erin = Principal('E', ObjectKind::kUser, "erin");  // same sAMAccountName
  erin.source.Mutable().sid_history = {old_erin.source->sid};
  auto missing = PlanReapply({Entry(old_erin, "app:wiki", LedgerStatus::kOrphaned, 1)}, {erin}, {},
                             {MatchKey::kObjectGuid, MatchKey::kMail});
  EXPECT_EQ(Outcomes(missing), (std::map<int64_t, std::string>{{1, "missing"}}));
  auto by_sam = PlanReapply({Entry(old_erin, "app:wiki", LedgerStatus::kOrphaned, 1)}, {erin}, {},
                            {MatchKey::kSamAccountName, MatchKey::kSidHistory});
  EXPECT_EQ(Outcomes(by_sam), (std::map<int64_t, std::string>{{1, "restore sAMAccountName erin"}}));
}

TEST(PlanReapply, InPlaceDriftRelinkAndDuplicates) {
  SyncObject gina = Principal('g', ObjectKind::kUser, "gina");
  SyncObject hank = Principal('h', ObjectKind::kUser, "hank");
  SyncObject old_gina = Principal('o', ObjectKind::kUser, "gina");  // by sAMAccountName
  std::vector<StoredAssignment> store = {{ObjectKind::kUser, gina.external_id, "app:payroll"},
                                         {ObjectKind::kUser, gina.external_id, "app:extra"}};
  auto plan = PlanReapply(
      {Entry(gina, "app:payroll", LedgerStatus::kActive, 1),
       Entry(hank, "app:wiki", LedgerStatus::kActive, 2),           // lost by the store
       Entry(old_gina, "app:payroll", LedgerStatus::kOrphaned, 3),  // gina holds it already
       Entry(old_gina, "app:audit", LedgerStatus::kOrphaned, 4),
       Entry(hank, "app:gone", LedgerStatus::kRemoved, 5)},
      {gina, hank}, store, kDefaultOrder);
  EXPECT_EQ(Outcomes(plan), (std::map<int64_t, std::string>{
                                {1, "in-place objectGUID gina"},
                                {2, "restore objectGUID hank"},
                                {3, "duplicate sAMAccountName gina"},
                                {4, "restore sAMAccountName gina"},
                            }));
  ASSERT_EQ(plan.unrecorded.size(), 1u);
  EXPECT_EQ(plan.unrecorded[0].target, "app:extra");
}

TEST(PlanReapply, SwitchingBackMatchesTheOriginalsThroughTheSameLinks) {
  // What a first switch left in the ledger: the migrated principals' keys.
  SyncObject alice_b = Principal('A', ObjectKind::kUser, "alice.b");
  alice_b.source.Mutable().sid = Sid("S-1-5-21-7-8-9-1104");
  alice_b.source.Mutable().sid_history = {Sid("S-1-5-21-1-2-3-1104")};
  SyncObject francis = Principal('F', ObjectKind::kUser, "francis");
  francis.source.Mutable().consistency_guid = Guid('f');
  // The originals, back in scope.
  SyncObject alice = Principal('a', ObjectKind::kUser, "alice");
  alice.source.Mutable().sid = Sid("S-1-5-21-1-2-3-1104");
  SyncObject frank = Principal('f', ObjectKind::kUser, "frank");
  auto plan = PlanReapply({Entry(alice_b, "app:payroll", LedgerStatus::kOrphaned, 1),
                           Entry(francis, "app:payroll", LedgerStatus::kOrphaned, 2)},
                          {alice, frank}, {}, kDefaultOrder);
  EXPECT_EQ(Outcomes(plan), (std::map<int64_t, std::string>{
                                {1, "restore sIDHistory alice"},
                                {2, "restore mS-DS-ConsistencyGuid frank"},
                            }));
}

class LedgerStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.state_path = dir_.path() + "/state.db";
    config_.store.path = dir_.path() + "/store.db";
    state_ = std::move(StateDb::Open(config_.state_path)).value();
    store_ = std::move(LocalStore::Open(config_.store.path)).value();
  }

  // Applies ops to store and state as a run would.
  void Run(const std::vector<Operation>& ops, const std::string& removal_reason = "") {
    ASSERT_TRUE(store_->Begin().ok());
    for (const auto& op : ops) ASSERT_TRUE(store_->Apply(op).ok());
    ASSERT_TRUE(store_->Commit().ok());
    auto id = state_->BeginRun("full", 100);
    ASSERT_TRUE(id.ok());
    RunRecord record{*id, "full", 100, 200, "ok", {}, "", removal_reason};
    ASSERT_TRUE(state_->CommitRun(record, ops).ok());
  }

  static Operation Op(OpType type, const SyncObject& o) {
    return {type, o.kind, MakeObjectRef(o), {}, nullptr};
  }

  testing::TempDir dir_{"syncd-ledger-test"};
  Config config_;
  std::unique_ptr<StateDb> state_;
  std::unique_ptr<LocalStore> store_;
};

TEST_F(LedgerStateTest, RunsKeepKeysCurrentAndOrphanWithWhenAndWhy) {
  SyncObject alice = Principal('a', ObjectKind::kUser, "alice");
  alice.source.Mutable().sid = Sid("S-1-5-21-1-2-3-1104");
  Run({Op(OpType::kCreate, alice)});
  std::vector<LedgerEntry> entry = {LedgerEntryFor(alice, "app:payroll")};
  ASSERT_TRUE(state_->SaveLedger(&entry).ok());
  EXPECT_EQ(entry[0].id, 1);
  EXPECT_EQ(ldap::SidToString(entry[0].domain_sid), "S-1-5-21-1-2-3");
  EXPECT_EQ(entry[0].domain_name, "corp.example.com");

  alice.source.Mutable().user_principal_name = "alice@new.example.com";
  alice.source.Mutable().consistency_guid = Guid('c');
  Run({Op(OpType::kUpdate, alice)});
  auto ledger = state_->LoadLedger();
  ASSERT_TRUE(ledger.ok());
  EXPECT_EQ((*ledger)[0].principal.source->user_principal_name, "alice@new.example.com");
  EXPECT_EQ((*ledger)[0].principal.source->consistency_guid, Guid('c'));

  Run({Op(OpType::kDelete, alice)}, "the source changed from A to B");
  ledger = state_->LoadLedger();
  EXPECT_EQ((*ledger)[0].status, LedgerStatus::kOrphaned);
  EXPECT_EQ((*ledger)[0].reason, "the source changed from A to B");
  EXPECT_EQ((*ledger)[0].changed_at, 200);
  EXPECT_EQ((*ledger)[0].principal.source->user_principal_name, "alice@new.example.com")
      << "the keys stay as last seen";
}

TEST_F(LedgerStateTest, TwoActiveEntriesForOnePrincipalAndTargetAreRefused) {
  SyncObject alice = Principal('a', ObjectKind::kUser, "alice");
  std::vector<LedgerEntry> twice = {LedgerEntryFor(alice, "app:payroll"),
                                    LedgerEntryFor(alice, "app:payroll")};
  EXPECT_FALSE(state_->SaveLedger(&twice).ok());
  EXPECT_TRUE(state_->LoadLedger()->empty()) << "all or nothing";
}

TEST_F(LedgerStateTest, AfterASwitchManualWaitsAndAutoReapplies) {
  SyncObject old_alice = Principal('a', ObjectKind::kUser, "alice");
  Run({Op(OpType::kCreate, old_alice)});
  std::vector<LedgerEntry> entry = {LedgerEntryFor(old_alice, "app:payroll")};
  ASSERT_TRUE(state_->SaveLedger(&entry).ok());
  SyncObject alice = Principal('A', ObjectKind::kUser, "alice");
  alice.source.Mutable().dn = "CN=alice,DC=newcorp,DC=example,DC=net";
  Run({Op(OpType::kDelete, old_alice), Op(OpType::kCreate, alice)}, "switched");

  ASSERT_TRUE(AfterSourceSwitch(*state_, *store_, config_.assignments, 300).ok());
  EXPECT_TRUE(store_->ListAssignments()->empty()) << "manual: nothing happens by itself";
  EXPECT_EQ((*state_->LoadLedger())[0].status, LedgerStatus::kOrphaned);

  config_.assignments.auto_reapply = true;
  ASSERT_TRUE(AfterSourceSwitch(*state_, *store_, config_.assignments, 300).ok());
  auto stored = store_->ListAssignments();
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].external_id, alice.external_id);
  auto ledger = *state_->LoadLedger();
  EXPECT_EQ(ledger[0].status, LedgerStatus::kActive);
  EXPECT_EQ(ledger[0].principal.guid, alice.guid);
  EXPECT_EQ(ledger[0].domain_name, "newcorp.example.net");
  EXPECT_EQ(ledger[0].changed_at, 300);
  EXPECT_NE(ledger[0].reason.find("matched by sAMAccountName; was user alice (corp.example.com)"),
            std::string::npos)
      << ledger[0].reason;
}

// Regression: an active entry whose principal is not in the store (as
// imported) matched a principal by another key before the entry already in
// force there was seen; saving it active broke the ledger's unique index and
// every reapply failed.
TEST_F(LedgerStateTest, ActiveEntryAwayFromTheStoreDoesNotTakeTheClaimOfOneInPlace) {
  SyncObject old_alice = Principal('a', ObjectKind::kUser, "alice");
  old_alice.source.Mutable().sid = Sid("S-1-5-21-1-2-3-1104");
  SyncObject alice = Principal('A', ObjectKind::kUser, "alice.b");
  alice.source.Mutable().sid_history = {old_alice.source->sid};
  Run({Op(OpType::kCreate, alice)});
  std::vector<LedgerEntry> entries = {LedgerEntryFor(old_alice, "app:payroll"),
                                      LedgerEntryFor(alice, "app:payroll")};
  ASSERT_TRUE(state_->SaveLedger(&entries).ok());
  ASSERT_TRUE(store_->Begin().ok());
  ASSERT_TRUE(store_->Assign({ObjectKind::kUser, alice.external_id, "app:payroll"}).ok());
  ASSERT_TRUE(store_->Commit().ok());

  auto plan = LoadReapplyPlan(*state_, *store_, config_.assignments);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(Outcomes(*plan), (std::map<int64_t, std::string>{
                                 {1, "duplicate sIDHistory alice.b"},
                                 {2, "in-place objectGUID alice.b"},
                             }));
  auto outcome = ApplyReapply(*state_, *store_, std::move(*plan), 300);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  auto ledger = *state_->LoadLedger();
  EXPECT_EQ(ledger[0].status, LedgerStatus::kRemoved);
  EXPECT_EQ(ledger[1].status, LedgerStatus::kActive);
}

TEST_F(LedgerStateTest, ImportedActiveEntriesAwayFromTheStoreArriveOrphaned) {
  SyncObject here = Principal('h', ObjectKind::kUser, "here");
  SyncObject away = Principal('w', ObjectKind::kUser, "away");
  Run({Op(OpType::kCreate, here)});
  LedgerEntry a = LedgerEntryFor(here, "app:a"), b = LedgerEntryFor(away, "app:b");
  a.created_at = a.changed_at = b.created_at = b.changed_at = 100;
  const std::string file = dir_.path() + "/export.json";
  std::ofstream(file) << LedgerFileJson({a, b}, 200);
  std::ostringstream out;
  auto code = ImportCommand(config_, file, out);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  auto ledger = *state_->LoadLedger();
  ASSERT_EQ(ledger.size(), 2u);
  EXPECT_EQ(ledger[0].status, LedgerStatus::kActive);
  EXPECT_EQ(ledger[1].status, LedgerStatus::kOrphaned);
  EXPECT_NE(ledger[1].reason.find("its principal is not in the store"), std::string::npos);
}

TEST_F(LedgerStateTest, PreviewOfASwitchMatchesAgainstThePlannedObjects) {
  SyncObject old_alice = Principal('a', ObjectKind::kUser, "alice");
  SyncObject kept = Principal('k', ObjectKind::kUser, "kept");  // the same object in both
  Run({Op(OpType::kCreate, old_alice), Op(OpType::kCreate, kept)});
  std::vector<LedgerEntry> entries = {LedgerEntryFor(old_alice, "app:payroll"),
                                      LedgerEntryFor(kept, "app:wiki")};
  ASSERT_TRUE(state_->SaveLedger(&entries).ok());
  ASSERT_TRUE(store_->Begin().ok());
  for (const auto* p : {&old_alice, &kept}) {
    ASSERT_TRUE(
        store_->Assign({ObjectKind::kUser, p->external_id, p == &kept ? "app:wiki" : "app:payroll"})
            .ok());
  }
  ASSERT_TRUE(store_->Commit().ok());
  SyncObject alice = Principal('A', ObjectKind::kUser, "alice");  // by sAMAccountName
  Plan plan;
  plan.operations = {Op(OpType::kDelete, old_alice), Op(OpType::kCreate, alice),
                     Op(OpType::kUpdate, kept)};
  auto preview = PreviewReapply(*state_, plan, config_, store_.get());
  ASSERT_TRUE(preview.ok()) << preview.status().ToString();
  EXPECT_EQ(Outcomes(*preview), (std::map<int64_t, std::string>{
                                    {1, "restore sAMAccountName alice"},
                                    {2, "in-place objectGUID kept"},
                                }));
  EXPECT_EQ(store_->ListAssignments()->size(), 2u) << "a preview changes nothing";
}

TEST_F(LedgerStateTest, ReapplyPendingSurvivesInTheWatermarkUntilCleared) {
  Watermark w;
  w.feed = "usn";
  w.naming_context = "DC=newcorp,DC=example,DC=net";
  w.reapply_pending = true;
  auto id = state_->BeginRun("full", 100);
  RunRecord record{*id, "full", 100, 200, "ok", {}, "", ""};
  ASSERT_TRUE(state_->CommitRun(record, {}, &w).ok());
  EXPECT_TRUE((*state_->LoadWatermark())->reapply_pending);
  ASSERT_TRUE(state_->ClearReapplyPending().ok());
  EXPECT_FALSE((*state_->LoadWatermark())->reapply_pending);
}

TEST(LedgerFile, RoundTripsEveryKey) {
  SyncObject p = Principal('a', ObjectKind::kUser, "alice");
  p.source.Mutable().sid = Sid("S-1-5-21-1-2-3-1104");
  p.source.Mutable().sid_history = {Sid("S-1-5-21-9-9-9-500"), Sid("S-1-5-21-8-8-8-501")};
  p.source.Mutable().consistency_guid = Guid('c');
  p.source.Mutable().user_principal_name = "alice@corp.example.com";
  p.source.Mutable().mail = "alice@example.com";
  p.attributes["displayName"] = "Alice Ä";
  LedgerEntry e =
      Entry(p, "aws:account/123456789012/permission-set/AdminAccess", LedgerStatus::kOrphaned, 4);
  e.created_at = 1'700'000'000;
  e.changed_at = 1'700'000'600;
  e.reason = "left the store";
  auto back = ParseLedgerFile(LedgerFileJson({e}, 1'700'001'000));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), 1u);
  const LedgerEntry& r = (*back)[0];
  EXPECT_EQ(r.id, 0) << "new to the importing ledger";
  EXPECT_EQ(r.target, e.target);
  EXPECT_EQ(r.status, e.status);
  EXPECT_EQ(r.created_at, e.created_at);
  EXPECT_EQ(r.changed_at, e.changed_at);
  EXPECT_EQ(r.reason, e.reason);
  EXPECT_EQ(r.domain_sid, e.domain_sid);
  EXPECT_EQ(r.domain_name, "corp.example.com");
  for (auto field : {&SyncObject::guid, &SyncObject::external_id, &SyncObject::name}) {
    EXPECT_EQ(r.principal.*field, p.*field);
  }
  EXPECT_EQ(*r.principal.source, *p.source) << "dn, the SIDs and the other keys";
  EXPECT_EQ(r.principal.attributes, p.attributes);
}

TEST(LedgerFile, MalformedInputNamesTheBadPart) {
  const std::string good =
      R"({"format":"syncd-assignments","version":1,"assignments":[{"target":"app:a",)"
      R"("status":"active","createdAt":"2026-11-22T10:00:00Z","changedAt":"2026-11-22T10:00:00Z",)"
      R"("principal":{"kind":"user","name":"alice","objectGUID":"61616161-6161-6161-6161-616161616161"}}]})";
  ASSERT_TRUE(ParseLedgerFile(good).ok()) << ParseLedgerFile(good).status().ToString();
  auto error = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    auto parsed = ParseLedgerFile(text);
    EXPECT_FALSE(parsed.ok()) << text;
    return parsed.ok() ? std::string() : parsed.status().message();
  };
  EXPECT_NE(error("{\"format\"", "[").find("not JSON"), std::string::npos);
  EXPECT_NE(error("syncd-assignments", "other").find("format"), std::string::npos);
  EXPECT_NE(error("\"version\":1", "\"version\":2").find("reads version 1"), std::string::npos);
  EXPECT_NE(error("\"target\":\"app:a\",", "").find("assignments[0].target: is required"),
            std::string::npos);
  EXPECT_NE(error("\"active\"", "\"granted\"").find("assignments[0].status"), std::string::npos);
  EXPECT_NE(error("10:00:00Z\",\"p", "10:00\",\"p").find("assignments[0].changedAt"),
            std::string::npos);
  EXPECT_NE(error("\"kind\":\"user\"", "\"kind\":\"robot\"").find("principal.kind"),
            std::string::npos);
  EXPECT_NE(error("6161-616161616161", "6161-61616161616").find("principal.objectGUID"),
            std::string::npos);
  EXPECT_NE(error("\"name\":\"alice\",", "\"name\":\"alice\",\"sIDHistory\":[\"S-1-5-21-1\",7],")
                .find("principal.sIDHistory[1]"),
            std::string::npos);
}

// Found by fuzz/fuzz_ledger.cc: a createdAt before 1970 was imported, then
// exported as "never", which the next import refused.
TEST(LedgerFile, TimeBeforeTheEpochIsRefusedNotExportedAsNever) {
  const std::string file =
      R"({"format":"syncd-assignments","version":1,"assignments":[{"target":"app:a",)"
      R"("status":"active","createdAt":"1013-11-22T10:00:00Z","changedAt":"2026-11-22T10:00:00Z",)"
      R"("principal":{"kind":"user","name":"alice","objectGUID":"61616161-6161-6161-6161-616161616161"}}]})";
  auto parsed = ParseLedgerFile(file);
  ASSERT_FALSE(parsed.ok()) << LedgerFileJson(*parsed, 0);
  EXPECT_NE(parsed.status().message().find(
                "assignments[0].createdAt: \"1013-11-22T10:00:00Z\" is not a time"),
            std::string::npos)
      << parsed.status().message();
  EXPECT_FALSE(ParseUtcTimestamp("1970-01-01T00:00:00Z"));
  EXPECT_EQ(ParseUtcTimestamp("1970-01-01T00:00:01Z"), 1);
}

TEST(CoreKeys, DomainSidAndDnsDomain) {
  EXPECT_EQ(ldap::SidToString(DomainSidOf(Sid("S-1-5-21-1-2-3-1104"))), "S-1-5-21-1-2-3");
  EXPECT_EQ(DomainSidOf("short"), "");
  EXPECT_EQ(DnsDomainOf("CN=a\\,b,OU=x,DC=Corp,dc=Example,DC=com"), "corp.example.com");
  EXPECT_EQ(DnsDomainOf("CN=dc\\=x,OU=People"), "");
  EXPECT_EQ(ParseUtcTimestamp(UtcTimestamp(1'700'000'000)), 1'700'000'000);
  EXPECT_FALSE(ParseUtcTimestamp("2026-11-22T10:00:00Zjunk"));
}

}  // namespace
}  // namespace syncd
