#include "state/state_db.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/sqlite.h"
#include "tests/unit/test_util.h"

namespace syncd {
namespace {

// The schema version a state file is migrated to.
constexpr int kLatestSchema = 7;

using testing::MakeOp;
using testing::MemberOp;

// Raw 16-byte GUID with NUL and high bytes, so that a text round trip would show.
std::string Guid(char tag) {
  std::string g(16, '\0');
  g[0] = tag;
  g[5] = '\xff';
  g[9] = '\x80';
  return g;
}

SyncObject MakeObject(char tag, ObjectKind kind, const std::string& name) {
  SyncObject o;
  o.guid = Guid(tag);
  o.kind = kind;
  o.external_id = std::string("00000000-0000-0000-0000-00000000000") + tag;
  o.name = name;
  o.source.Mutable().dn = "CN=" + name + ",OU=Staff,DC=corp,DC=example";
  o.attributes = {{"displayName", name + " \"Q\" Ünïcødé"},
                  {"userName", name},
                  {"note", "line1\nline2\ttab\\ \x01\x1f\x7f"},
                  {"empty", ""},
                  {"not-utf8", "\xff\xfe\xc3"}};
  o.source.Mutable().sid = std::string("\x01\x05\0\0\0\0\0\x05\x15\0\0\0", 12) + tag;
  // Deliberately not in byte order: the cache must keep AD's order.
  o.source.Mutable().sid_history = {std::string("\x01\x05\xff", 3) + tag,
                                    std::string("\x01\x05\x00", 3) + tag};
  o.source.Mutable().sam_account_name = name;
  o.source.Mutable().user_principal_name = name + "@corp.example";
  o.source.Mutable().mail = name + "@example.com";
  return o;
}

auto Fields(const SyncObject& o) {
  return std::tie(o.guid, o.kind, o.external_id, o.name, o.source->dn, o.attributes, o.source->sid,
                  o.source->sid_history, o.source->sam_account_name, o.source->user_principal_name,
                  o.source->mail);
}

// A membership is journaled with its two ends' identities only, whatever
// images the plan's operations share.
void ExpectSameOperation(const Operation& got, const Operation& want) {
  EXPECT_EQ(got.op, want.op);
  EXPECT_EQ(got.kind, want.kind);
  const bool membership = IsMembership(want);
  const SyncObject object = membership ? IdentityOf(*want.object) : *want.object;
  EXPECT_TRUE(Fields(*got.object) == Fields(object)) << want.object->name;
  EXPECT_EQ(got.changes, want.changes);
  ASSERT_EQ(got.member != nullptr, want.member != nullptr);
  if (want.member) {
    EXPECT_TRUE(Fields(*got.member) == Fields(IdentityOf(*want.member)));
  }
}

class StateDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    path_ = dir_.path() + "/state.db";
  }

  std::unique_ptr<StateDb> OpenState(bool read_only = false) {
    auto db = StateDb::Open(path_, read_only);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(db).value() : nullptr;
  }

  // Counts rows through a separate connection, to see what is on disk.
  int64_t RawCount(const std::string& sql) { return testing::QueryInt(path_, sql); }

  // Runs a whole run: begin, journal, commit (with `outcomes`, if any).
  int64_t CommitOps(StateDb& db, const std::vector<Operation>& ops,
                    const RunOutcomes* outcomes = nullptr) {
    auto id = db.BeginRun("full", 1000);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    EXPECT_TRUE(db.WriteOutbox(*id, ops).ok());
    RunRecord record;
    record.id = *id;
    record.kind = "full";
    record.finished_at = 1001;
    record.outcome = "ok";
    Status st = db.CommitRun(record, ops, nullptr, outcomes);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return *id;
  }

  // Takes the state file back to what schema 4 looked like: before the
  // per-operation journal, sink references and the quarantine.
  void DowngradeToSchema4() {
    auto raw = sql::Database::Open(path_, false);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE((*raw)
                    ->Exec("DROP TABLE aws_instance; DROP TABLE aws_capture; "
                           "DROP TABLE aws_principals; DROP TABLE aws_identity_stores; "
                           "DROP TABLE aws_operations; "
                           "ALTER TABLE assignments DROP COLUMN target_ref; "
                           "DROP TABLE sink_refs; DROP TABLE quarantine; "
                           "ALTER TABLE outbox DROP COLUMN status; "
                           "ALTER TABLE outbox DROP COLUMN sink_ref; "
                           "ALTER TABLE outbox DROP COLUMN reason")
                    .ok());
    ASSERT_TRUE((*raw)->SetUserVersion(4).ok());
  }

  testing::TempDir dir_{"syncd-state-test"};
  std::string path_;
};

TEST_F(StateDbTest, JournalRoundTripsEveryOperationFieldAcrossReopenAsPending) {
  SyncObject user = MakeObject('u', ObjectKind::kUser, "jdoe");
  SyncObject group = MakeObject('g', ObjectKind::kGroup, "Staff");
  Operation update = MakeOp(OpType::kUpdate, user);
  update.changes = std::vector<AttributeChange>{{"mail", "old@example.com", "new@example.com"},
                                                {"title", std::nullopt, "Engineer"},
                                                {"phone", "555", std::nullopt},
                                                {"empty", "", ""}};
  SyncObject bare;  // every optional part empty
  bare.guid = Guid('b');
  const std::vector<Operation> ops = {
      MakeOp(OpType::kCreate, user),
      update,
      MakeOp(OpType::kDelete, group),
      MemberOp(OpType::kAddMember, group, user),
      MemberOp(OpType::kRemoveMember, group, user),
      MakeOp(OpType::kCreate, bare),
  };
  {
    auto db = OpenState();
    ASSERT_TRUE(db);
    auto run = db->BeginRun("full", 1);
    ASSERT_TRUE(run.ok());
    ASSERT_TRUE(db->WriteOutbox(*run, ops).ok());
  }
  auto db = OpenState();
  ASSERT_TRUE(db);
  int64_t run_id = -1;
  auto journal = db->LoadJournal(&run_id);
  ASSERT_TRUE(journal.ok()) << journal.status().ToString();
  EXPECT_EQ(run_id, 1);
  ASSERT_EQ(journal->size(), ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    SCOPED_TRACE(i);
    const JournalEntry& entry = (*journal)[i];
    EXPECT_EQ(entry.seq, static_cast<int64_t>(i));
    EXPECT_EQ(entry.status, JournalStatus::kPending);
    EXPECT_EQ(entry.sink_ref, "");
    EXPECT_EQ(entry.reason, "");
    ExpectSameOperation(entry.op, ops[i]);
  }
}

TEST_F(StateDbTest, LoadJournalIsEmptyWithRunIdZeroWhenNothingPending) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  int64_t run_id = -1;
  auto pending = db->LoadJournal(&run_id);
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending->empty());
  EXPECT_EQ(run_id, 0);
}

TEST_F(StateDbTest, LoadJournalReturnsLowestRunOrderedBySeq) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  SyncObject a = MakeObject('a', ObjectKind::kUser, "a");
  SyncObject b = MakeObject('b', ObjectKind::kUser, "b");
  ASSERT_TRUE(db->WriteOutbox(7, {MakeOp(OpType::kCreate, a), MakeOp(OpType::kCreate, b)}).ok());
  {
    // A leftover older run, journaled with seq in reverse.
    auto raw = sql::Database::Open(path_, false);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE((*raw)
                    ->Exec("INSERT INTO outbox (run_id, seq, operation) "
                           "SELECT 3, 10 - seq, operation FROM outbox WHERE run_id = 7")
                    .ok());
  }
  int64_t run_id = 0;
  auto pending = db->LoadJournal(&run_id);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(run_id, 3);
  ASSERT_EQ(pending->size(), 2U);
  EXPECT_EQ((*pending)[0].op.object->name, "b");
  EXPECT_EQ((*pending)[0].seq, 9);
  EXPECT_EQ((*pending)[1].op.object->name, "a");
  EXPECT_EQ((*pending)[1].seq, 10);
}

TEST_F(StateDbTest, WriteOutboxRefusesWhileAnotherJournalIsPending) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  SyncObject a = MakeObject('a', ObjectKind::kUser, "a");
  ASSERT_TRUE(db->WriteOutbox(1, {MakeOp(OpType::kCreate, a)}).ok());
  Status st = db->WriteOutbox(2, {MakeOp(OpType::kDelete, a)});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("run 1"), std::string::npos) << st.message();
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM outbox"), 1);
}

// A full reconciliation merges the cache into the store's contents as it
// streams, instead of loading it whole beside them.
TEST_F(StateDbTest, ForEachObjectStreamsTheCacheInGuidOrderWithSidHistoriesAndStopsOnAnError) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  const std::vector<SyncObject> objects = {MakeObject('u', ObjectKind::kUser, "jdoe"),
                                           MakeObject('a', ObjectKind::kUser, "ann"),
                                           MakeObject('g', ObjectKind::kGroup, "Staff")};
  std::vector<Operation> ops;
  ops.reserve(objects.size());
  for (const auto& o : objects) ops.push_back(MakeOp(OpType::kCreate, o));
  auto run = db->BeginRun("full", 1000);
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE(db->WriteOutbox(*run, ops).ok());
  ASSERT_TRUE(db->CommitRun({*run, "full", 1000, 1005, "ok", {}, "", ""}, ops).ok());

  std::vector<SyncObject> streamed;
  Status st = db->ForEachObject([&](SyncObject o) {
    streamed.push_back(std::move(o));
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(streamed.size(), 3U);
  EXPECT_TRUE(Fields(streamed[0]) == Fields(objects[1])) << "by GUID: 'a' < 'g' < 'u'";
  EXPECT_TRUE(Fields(streamed[1]) == Fields(objects[2]));
  EXPECT_TRUE(Fields(streamed[2]) == Fields(objects[0])) << "SID history in AD's order";

  int seen = 0;
  st = db->ForEachObject([&](const SyncObject&) {
    ++seen;
    return Status::Internal("enough");
  });
  EXPECT_EQ(seen, 1);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("enough"), std::string::npos) << st.ToString();
}

TEST_F(StateDbTest, CommitRunAppliesCreatesAndMembershipsAndClearsTheJournal) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  SyncObject user = MakeObject('u', ObjectKind::kUser, "jdoe");
  SyncObject group = MakeObject('g', ObjectKind::kGroup, "Staff");
  std::vector<Operation> ops = {MakeOp(OpType::kCreate, user), MakeOp(OpType::kCreate, group),
                                MemberOp(OpType::kAddMember, group, user),
                                MemberOp(OpType::kAddMember, group, user)};  // idempotent
  auto run = db->BeginRun("full", 1000);
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE(db->WriteOutbox(*run, ops).ok());
  RunRecord record{*run, "full", 1000, 1005, "ok", {{"create", 2}, {"add-member", 1}}, "done", ""};
  ASSERT_TRUE(db->CommitRun(record, ops).ok());

  auto objects = db->LoadObjects();
  ASSERT_TRUE(objects.ok()) << objects.status().ToString();
  ASSERT_EQ(objects->size(), 2U);
  // Ordered by guid: 'g' < 'u'.
  EXPECT_TRUE(Fields((*objects)[0]) == Fields(group));
  EXPECT_TRUE(Fields((*objects)[1]) == Fields(user));
  auto memberships = db->LoadMemberships();
  ASSERT_TRUE(memberships.ok());
  EXPECT_EQ(*memberships, (std::vector<Membership>{{group.guid, user.guid}}));

  int64_t pending_run = -1;
  auto pending = db->LoadJournal(&pending_run);
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending->empty());

  auto runs = db->RecentRuns(10);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1U);
  const RunRecord& r = (*runs)[0];
  EXPECT_EQ(std::tie(r.id, r.kind, r.started_at, r.finished_at, r.outcome, r.counts, r.message),
            std::tie(record.id, record.kind, record.started_at, record.finished_at, record.outcome,
                     record.counts, record.message));
}

// A full sync journals an operation per edge: a membership's entry holds its
// two ends' identities (guid, kind, externalId, name), not their images.
TEST_F(StateDbTest, AMembershipIsJournaledWithItsTwoIdentitiesOnly) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  SyncObject user = MakeObject('u', ObjectKind::kUser, "jdoe");
  SyncObject group = MakeObject('g', ObjectKind::kGroup, "Staff");
  ASSERT_TRUE(db->WriteOutbox(1, {MemberOp(OpType::kAddMember, group, user)}).ok());
  const std::string row = testing::QueryText(path_, "SELECT operation FROM outbox");
  for (const char* image_only : {"dn", "attributes", "sid", "sid_history", "mail"}) {
    EXPECT_EQ(row.find("\"" + std::string(image_only) + "\""), std::string::npos)
        << image_only << " in " << row;
  }
  int64_t run_id = 0;
  auto journal = db->LoadJournal(&run_id);
  ASSERT_TRUE(journal.ok()) << journal.status().ToString();
  ASSERT_EQ(journal->size(), 1U);
  const Operation& op = (*journal)[0].op;
  EXPECT_TRUE(Fields(*op.object) == Fields(IdentityOf(group)));
  EXPECT_TRUE(Fields(*op.member) == Fields(IdentityOf(user)));
}

// Committing a run drops its journal whole, but never another run's.
TEST_F(StateDbTest, CommitRunKeepsAnotherRunsJournal) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  SyncObject a = MakeObject('a', ObjectKind::kUser, "a");
  auto run = db->BeginRun("full", 1);
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE(db->WriteOutbox(*run, {MakeOp(OpType::kCreate, a), MakeOp(OpType::kUpdate, a)}).ok());
  const std::string other = std::to_string(*run + 1);
  {
    auto raw = sql::Database::Open(path_, false);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE((*raw)
                    ->Exec("INSERT INTO outbox (run_id, seq, operation) SELECT " + other +
                           ", seq, operation FROM outbox")
                    .ok());
  }
  RunRecord record{*run, "full", 1, 2, "ok", {}, "", ""};
  Status st = db->CommitRun(record, {MakeOp(OpType::kCreate, a)});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM outbox WHERE run_id = " + std::to_string(*run)), 0);
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM outbox WHERE run_id = " + other), 2);
}

TEST_F(StateDbTest, CommitRunUpdateReplacesImageAndSidHistory) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  SyncObject user = MakeObject('u', ObjectKind::kUser, "jdoe");
  CommitOps(*db, {MakeOp(OpType::kCreate, user)});
  SyncObject renamed = user;
  renamed.name = "john.doe";
  renamed.attributes = {{"userName", "john.doe"}};
  renamed.source.Mutable().sid_history = {user.source->sid_history[1]};
  renamed.source.Mutable().mail.clear();
  CommitOps(*db, {MakeOp(OpType::kUpdate, renamed)});

  auto objects = db->LoadObjects();
  ASSERT_TRUE(objects.ok());
  ASSERT_EQ(objects->size(), 1U);
  EXPECT_TRUE(Fields((*objects)[0]) == Fields(renamed));
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM sid_history"), 1);
  // An empty secondary key is NULL, not "", so the index does not lump them.
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM objects WHERE mail IS NULL"), 1);
}

TEST_F(StateDbTest, DeleteRemovesObjectSidHistoryAndMembershipsOnBothSides) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  SyncObject user = MakeObject('u', ObjectKind::kUser, "jdoe");
  SyncObject outer = MakeObject('o', ObjectKind::kGroup, "Outer");
  SyncObject inner = MakeObject('i', ObjectKind::kGroup, "Inner");
  CommitOps(
      *db, {MakeOp(OpType::kCreate, user), MakeOp(OpType::kCreate, outer),
            MakeOp(OpType::kCreate, inner), MemberOp(OpType::kAddMember, inner, user),
            MemberOp(OpType::kAddMember, outer, inner), MemberOp(OpType::kAddMember, outer, user)});
  ASSERT_EQ(db->LoadMemberships()->size(), 3U);

  CommitOps(*db, {MakeOp(OpType::kDelete, inner)});

  auto objects = db->LoadObjects();
  ASSERT_TRUE(objects.ok());
  ASSERT_EQ(objects->size(), 2U);
  for (const auto& o : *objects) {
    EXPECT_NE(o.guid, inner.guid);
  }
  EXPECT_EQ(*db->LoadMemberships(), (std::vector<Membership>{{outer.guid, user.guid}}));
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM sid_history"), 4);  // 2 each for user and outer
}

// Memberships hold their GUIDs in place (GuidBytes): a row no objectGUID
// could fill is reported as damage, not a crash or a truncated key.
TEST_F(StateDbTest, AMembershipRowWithAnOverlongGuidIsReportedAsDataLoss) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  SyncObject user = MakeObject('u', ObjectKind::kUser, "jdoe");
  SyncObject group = MakeObject('g', ObjectKind::kGroup, "Staff");
  CommitOps(*db, {MakeOp(OpType::kCreate, user), MakeOp(OpType::kCreate, group),
                  MemberOp(OpType::kAddMember, group, user)});
  {
    auto raw = sql::Database::Open(path_, false);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE((*raw)
                    ->Exec("INSERT INTO memberships (group_guid, member_guid) "
                           "VALUES (zeroblob(16), zeroblob(24))")
                    .ok());
  }
  auto all = db->LoadMemberships();
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.status().code(), Status::Code::kDataLoss) << all.status().ToString();
  EXPECT_NE(all.status().message().find("24 bytes"), std::string::npos) << all.status().ToString();
  // The damaged row touches neither object: their own edge still loads.
  auto touching = db->LoadMembershipsTouching({group.guid});
  ASSERT_TRUE(touching.ok()) << touching.status().ToString();
  EXPECT_EQ(*touching, (std::vector<Membership>{{group.guid, user.guid}}));
}

TEST_F(StateDbTest, RemoveMemberDeletesOnlyThatEdge) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  SyncObject a = MakeObject('a', ObjectKind::kUser, "a");
  SyncObject b = MakeObject('b', ObjectKind::kUser, "b");
  SyncObject g = MakeObject('g', ObjectKind::kGroup, "g");
  CommitOps(*db, {MemberOp(OpType::kAddMember, g, a), MemberOp(OpType::kAddMember, g, b)});
  CommitOps(*db, {MemberOp(OpType::kRemoveMember, g, a), MemberOp(OpType::kRemoveMember, g, a)});
  EXPECT_EQ(*db->LoadMemberships(), (std::vector<Membership>{{g.guid, b.guid}}));
}

TEST_F(StateDbTest, CommitRunIsAllOrNothingWhenItFails) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  SyncObject user = MakeObject('u', ObjectKind::kUser, "jdoe");
  std::vector<Operation> ops = {MakeOp(OpType::kCreate, user)};
  ASSERT_TRUE(db->WriteOutbox(42, ops).ok());
  RunRecord missing;
  missing.id = 42;  // never begun: updating its run record fails last
  missing.outcome = "ok";
  Status st = db->CommitRun(missing, ops);
  EXPECT_EQ(st.code(), Status::Code::kNotFound) << st.ToString();
  EXPECT_NE(st.message().find(path_), std::string::npos) << st.message();
  EXPECT_TRUE(db->LoadObjects()->empty());
  int64_t run_id = 0;
  EXPECT_EQ(db->LoadJournal(&run_id)->size(), 1U);
  EXPECT_EQ(run_id, 42);

  // A membership op without a member fails before anything is written.
  Operation broken = MakeOp(OpType::kAddMember, user);
  auto run = db->BeginRun("full", 1);
  RunRecord record;
  record.id = *run;
  st = db->CommitRun(record, {MakeOp(OpType::kCreate, user), broken});
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("jdoe"), std::string::npos) << st.message();
  EXPECT_TRUE(db->LoadObjects()->empty());
}

// Creates staged while the read runs, then the run's other operations in
// the same transaction: nothing is durable before CommitStaged, and a
// rollback drops the early creates too.
TEST_F(StateDbTest, AStageBegunEarlyTakesCreatesThenTheRunAndCommitsOnce) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  SyncObject user = MakeObject('u', ObjectKind::kUser, "jdoe");
  SyncObject group = MakeObject('g', ObjectKind::kGroup, "Staff");
  std::vector<Operation> ops = {MakeOp(OpType::kCreate, user), MakeOp(OpType::kCreate, group),
                                MemberOp(OpType::kAddMember, group, user)};
  const int64_t run = *db->BeginRun("full", 1);
  RunRecord record{run, "full", 1, 2, "ok", {}, "", ""};

  ASSERT_TRUE(db->BeginStage().ok());
  ASSERT_TRUE(db->StageEarly({ops.data(), 1}).ok());
  EXPECT_FALSE(db->CommitStaged().ok()) << "creates alone are not a run";
  EXPECT_FALSE(db->StageRun(record, ops).ok()) << "what was staged early must be named";
  db->RollbackStaged();
  EXPECT_TRUE(db->LoadObjects()->empty()) << "the rollback drops the early creates";

  // A StageRun that fails drops the early creates with it.
  ASSERT_TRUE(db->BeginStage().ok());
  ASSERT_TRUE(db->StageEarly({ops.data(), 1}).ok());
  const std::vector<Operation> broken = {ops[0], MakeOp(OpType::kAddMember, group)};
  const std::vector<bool> first_early = {true, false};
  EXPECT_FALSE(db->StageRun(record, broken, nullptr, nullptr, &first_early).ok());
  EXPECT_TRUE(db->LoadObjects()->empty());

  ASSERT_TRUE(db->BeginStage().ok());
  ASSERT_TRUE(db->StageEarly({ops.data(), 1}).ok());
  const std::vector<bool> staged_early = {true, false, false};
  ASSERT_TRUE(db->StageRun(record, ops, nullptr, nullptr, &staged_early).ok());
  {
    auto other = StateDb::Open(path_, /*read_only=*/true);
    ASSERT_TRUE(other.ok());
    EXPECT_TRUE((*other)->LoadObjects()->empty()) << "nothing durable before the commit";
  }
  ASSERT_TRUE(db->CommitStaged().ok());
  EXPECT_EQ(db->LoadObjects()->size(), 2U);
  EXPECT_EQ(db->LoadMemberships()->size(), 1U);
  EXPECT_EQ(db->RecentRuns(1)->front().outcome, "ok");
}

TEST_F(StateDbTest, ReadOnlyOpenOfMissingPathIsEmptyAndWritesNoFile) {
  {
    auto db = OpenState(/*read_only=*/true);
    ASSERT_TRUE(db);
    EXPECT_EQ(db->SchemaVersion(), kLatestSchema);
    EXPECT_TRUE(db->LoadObjects()->empty());
    EXPECT_TRUE(db->LoadMemberships()->empty());
    int64_t run_id = -1;
    EXPECT_TRUE(db->LoadJournal(&run_id)->empty());
    EXPECT_TRUE(db->RecentRuns(5)->empty());
    EXPECT_FALSE(db->BeginRun("full", 1).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path()));
}

TEST_F(StateDbTest, ReadOnlyOpenOfExistingFileReadsItAndRefusesWrites) {
  SyncObject user = MakeObject('u', ObjectKind::kUser, "jdoe");
  {
    auto db = OpenState();
    ASSERT_TRUE(db);
    CommitOps(*db, {MakeOp(OpType::kCreate, user)});
  }
  auto before = std::filesystem::last_write_time(path_);
  auto db = OpenState(/*read_only=*/true);
  ASSERT_TRUE(db);
  ASSERT_EQ(db->LoadObjects()->size(), 1U);
  EXPECT_TRUE(Fields(db->LoadObjects()->front()) == Fields(user));
  Status st = db->CommitRun(RunRecord{}, {MakeOp(OpType::kDelete, user)});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("read-only"), std::string::npos) << st.message();
  EXPECT_FALSE(db->WriteOutbox(9, {}).ok());
  EXPECT_FALSE(db->FinishRun(RunRecord{}).ok());
  EXPECT_EQ(db->LoadObjects()->size(), 1U);
  EXPECT_EQ(std::filesystem::last_write_time(path_), before);
}

TEST_F(StateDbTest, ReadOnlyOpenOfNeverMigratedEmptyFileReadsAsEmptyState) {
  { std::ofstream touch(path_); }
  auto db = OpenState(/*read_only=*/true);
  ASSERT_TRUE(db);
  EXPECT_TRUE(db->LoadObjects()->empty());
  EXPECT_EQ(std::filesystem::file_size(path_), 0U);
}

TEST_F(StateDbTest, ReopenKeepsDataAndSchemaVersion) {
  SyncObject user = MakeObject('u', ObjectKind::kUser, "jdoe");
  SyncObject group = MakeObject('g', ObjectKind::kGroup, "Staff");
  {
    auto db = OpenState();
    ASSERT_TRUE(db);
    CommitOps(*db, {MakeOp(OpType::kCreate, user), MakeOp(OpType::kCreate, group),
                    MemberOp(OpType::kAddMember, group, user)});
  }
  auto db = OpenState();
  ASSERT_TRUE(db);
  EXPECT_EQ(db->SchemaVersion(), kLatestSchema);
  EXPECT_EQ(db->LoadObjects()->size(), 2U);
  EXPECT_EQ(db->LoadMemberships()->size(), 1U);
  EXPECT_EQ(db->RecentRuns(10)->size(), 1U);
}

TEST_F(StateDbTest, OpenRefusesSchemaNewerThanThisSyncd) {
  {
    auto raw = sql::Database::Open(path_, false);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE((*raw)->SetUserVersion(99).ok());
  }
  for (bool read_only : {false, true}) {
    auto db = StateDb::Open(path_, read_only);
    ASSERT_FALSE(db.ok());
    EXPECT_NE(db.status().message().find("newer"), std::string::npos) << db.status().message();
    EXPECT_NE(db.status().message().find(path_), std::string::npos) << db.status().message();
  }
}

// The latest run still "running" with no journal: the next run cannot know
// what it applied (an atomic batch journals nothing).
TEST_F(StateDbTest, UnfinishedRunIsOneNeitherFinishedNorJournaledUntilAFullRunSucceeds) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  EXPECT_EQ(*db->UnfinishedRun(), 0) << "no run yet";
  const int64_t first = *db->BeginRun("full", 100);
  EXPECT_EQ(*db->UnfinishedRun(), first);
  ASSERT_TRUE(db->FinishRun({first, "full", 100, 110, "ok", {}, "", ""}).ok());
  EXPECT_EQ(*db->UnfinishedRun(), 0);

  // A journal left to resume says what the run applied: not unfinished.
  const int64_t second = *db->BeginRun("incremental", 200);
  ASSERT_TRUE(
      db->WriteOutbox(second, {MakeOp(OpType::kCreate, MakeObject('u', ObjectKind::kUser, "jdoe"))})
          .ok());
  EXPECT_EQ(*db->UnfinishedRun(), 0);
  ASSERT_TRUE(db->CommitRun({second, "incremental", 200, 210, "ok", {}, "", ""}, {}).ok());
  EXPECT_EQ(*db->UnfinishedRun(), 0);

  // Regression: a run after the interrupted one that failed (a flaky DC)
  // cleared the mark, and the run after it went back to incremental with
  // the store still ahead of the cache. Only a full run that ends "ok"
  // clears it; an incremental one cannot have compared the store.
  const int64_t third = *db->BeginRun("incremental", 300);
  const int64_t failed = *db->BeginRun("full", 400);
  ASSERT_TRUE(db->FinishRun({failed, "full", 400, 410, "failed", {}, "DC gone", ""}).ok());
  EXPECT_EQ(*db->UnfinishedRun(), third);
  const int64_t incremental = *db->BeginRun("incremental", 500);
  ASSERT_TRUE(db->FinishRun({incremental, "incremental", 500, 510, "ok", {}, "", ""}).ok());
  EXPECT_EQ(*db->UnfinishedRun(), third);
  const int64_t reconciled = *db->BeginRun("full", 600);
  ASSERT_TRUE(db->FinishRun({reconciled, "full", 600, 610, "ok", {}, "", ""}).ok());
  EXPECT_EQ(*db->UnfinishedRun(), 0) << "the full reconciliation compared the store";
}

TEST_F(StateDbTest, RecentRunsAreMostRecentFirstAndFinishRunRecordsOutcome) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  for (int64_t t : {100, 200, 300}) {
    ASSERT_TRUE(db->BeginRun("full", t).ok());
  }
  RunRecord failed{2, "full", 200, 250, "failed", {{"held", 3}}, "ldap://dc1: timeout", ""};
  ASSERT_TRUE(db->FinishRun(failed).ok());
  RunRecord unknown;
  unknown.id = 77;
  EXPECT_EQ(db->FinishRun(unknown).code(), Status::Code::kNotFound);

  auto runs = db->RecentRuns(2);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 2U);
  EXPECT_EQ((*runs)[0].id, 3);
  EXPECT_EQ((*runs)[0].outcome, "running");
  EXPECT_EQ((*runs)[0].finished_at, 0);
  EXPECT_EQ((*runs)[0].started_at, 300);
  EXPECT_EQ((*runs)[1].id, 2);
  EXPECT_EQ((*runs)[1].outcome, "failed");
  EXPECT_EQ((*runs)[1].finished_at, 250);
  EXPECT_EQ((*runs)[1].counts, failed.counts);
  EXPECT_EQ((*runs)[1].message, failed.message);
}

// --- The watermark and the incremental loads ---

Watermark MakeWatermark() {
  Watermark w;
  w.feed = "dirsync";
  w.naming_context = "DC=corp,DC=example";
  w.dc_host = "dc1.corp.example";
  w.dsa_dn = "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Site,CN=Sites,CN=Configuration,DC=corp";
  w.invocation_id =
      std::string("\x3f\x00\x9c\xff\x6b\x7d\x4e\x88\xa0\xc4\x00\x5e\x9b\x2f\x7a\x60", 16);
  w.highest_usn = 9'007'199'254'740'993;  // above 2^53: must not pass through a double
  w.cookie = std::string("MSDS\x03\x00\x00\x00\xff\xfe\x00tail", 15);
  w.object_security = true;
  w.scope_fingerprint = "0123456789abcdef";
  w.last_success = 1'700'000'000;
  w.last_full = 1'699'000'000;
  w.tombstone_lifetime_days = 60;
  w.store_id = "9c1e5f0c";
  w.revisit = {Guid('a'), Guid('b'), Guid('c')};
  return w;
}

auto WatermarkFields(const Watermark& w) {
  return std::tie(w.feed, w.naming_context, w.dc_host, w.dsa_dn, w.invocation_id, w.highest_usn,
                  w.cookie, w.object_security, w.scope_fingerprint, w.last_success, w.last_full,
                  w.tombstone_lifetime_days, w.store_id);
}

class WatermarkTest : public StateDbTest {
 protected:
  // One whole run, storing `watermark` (nullptr: keeping the stored one).
  Status Commit(StateDb& db, const std::vector<Operation>& ops, const Watermark* watermark) {
    auto id = db.BeginRun("incremental", 2000);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    EXPECT_TRUE(db.WriteOutbox(*id, ops).ok());
    RunRecord record{*id, "incremental", 2000, 2001, "ok", {}, "", ""};
    return db.CommitRun(record, ops, watermark);
  }

  std::optional<Watermark> Load(StateDb& db) {
    auto w = db.LoadWatermark();
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? *w : std::nullopt;
  }
};

TEST_F(WatermarkTest, NoneUntilARunStoresOne) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  EXPECT_FALSE(Load(*db).has_value());
  CommitOps(*db, {MakeOp(OpType::kCreate, MakeObject('u', ObjectKind::kUser, "jdoe"))});
  EXPECT_FALSE(Load(*db).has_value()) << "a run without a watermark stores none";
}

TEST_F(WatermarkTest, RoundTripsEveryFieldAcrossReopen) {
  const Watermark w = MakeWatermark();
  {
    auto db = OpenState();
    ASSERT_TRUE(db);
    ASSERT_TRUE(Commit(*db, {}, &w).ok());
  }
  auto db = OpenState();
  ASSERT_TRUE(db);
  auto loaded = Load(*db);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(WatermarkFields(*loaded) == WatermarkFields(w));
  EXPECT_EQ(loaded->invocation_id.size(), 16u);
  EXPECT_EQ(loaded->cookie.size(), 15u);
  EXPECT_EQ(loaded->revisit, w.revisit);
}

TEST_F(WatermarkTest, RevisitListIsASetOfGuids) {
  Watermark w = MakeWatermark();
  w.revisit = {Guid('c'), Guid('a'), Guid('c'), Guid('b'), Guid('a')};
  auto db = OpenState();
  ASSERT_TRUE(db);
  ASSERT_TRUE(Commit(*db, {}, &w).ok());
  auto loaded = Load(*db);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(std::set<std::string>(loaded->revisit.begin(), loaded->revisit.end()),
            (std::set<std::string>{Guid('a'), Guid('b'), Guid('c')}));
  EXPECT_EQ(loaded->revisit.size(), 3u);
}

TEST_F(WatermarkTest, EmptyBinaryFieldsAndAUsnWatermarkRoundTrip) {
  Watermark w = MakeWatermark();
  w.feed = "usn";
  w.cookie.clear();
  w.object_security = false;
  w.revisit.clear();
  auto db = OpenState();
  ASSERT_TRUE(db);
  ASSERT_TRUE(Commit(*db, {}, &w).ok());
  auto loaded = Load(*db);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(WatermarkFields(*loaded) == WatermarkFields(w));
  EXPECT_TRUE(loaded->revisit.empty());
}

TEST_F(WatermarkTest, ANewWatermarkReplacesTheOldOneAndItsRevisitList) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  const Watermark first = MakeWatermark();
  ASSERT_TRUE(Commit(*db, {}, &first).ok());
  Watermark second = MakeWatermark();
  second.cookie = "newer";
  second.last_success = first.last_success + 60;
  second.revisit = {Guid('z')};
  ASSERT_TRUE(Commit(*db, {}, &second).ok());
  auto loaded = Load(*db);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(WatermarkFields(*loaded) == WatermarkFields(second));
  EXPECT_EQ(loaded->revisit, std::vector<std::string>{Guid('z')});
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM watermark"), 1);
}

TEST_F(WatermarkTest, CommitRunWithoutAWatermarkKeepsTheStoredOne) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  const Watermark w = MakeWatermark();
  ASSERT_TRUE(Commit(*db, {}, &w).ok());
  SyncObject user = MakeObject('u', ObjectKind::kUser, "jdoe");
  ASSERT_TRUE(Commit(*db, {MakeOp(OpType::kCreate, user)}, nullptr).ok());
  auto loaded = Load(*db);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(WatermarkFields(*loaded) == WatermarkFields(w));
  EXPECT_EQ(loaded->revisit, w.revisit);
  EXPECT_EQ(db->LoadObjects()->size(), 1u);
}

TEST_F(WatermarkTest, RolledBackStageLeavesTheOldWatermarkAndCache) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  const Watermark old = MakeWatermark();
  ASSERT_TRUE(Commit(*db, {}, &old).ok());

  Watermark next = MakeWatermark();
  next.cookie = "staged but never committed";
  next.revisit = {Guid('q')};
  SyncObject user = MakeObject('u', ObjectKind::kUser, "jdoe");
  auto id = db->BeginRun("incremental", 3000);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(db->WriteOutbox(*id, {MakeOp(OpType::kCreate, user)}).ok());
  RunRecord record{*id, "incremental", 3000, 3001, "ok", {}, "", ""};
  ASSERT_TRUE(db->StageRun(record, {MakeOp(OpType::kCreate, user)}, &next).ok());
  db->RollbackStaged();

  auto loaded = Load(*db);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(WatermarkFields(*loaded) == WatermarkFields(old));
  EXPECT_EQ(loaded->revisit, old.revisit);
  EXPECT_TRUE(db->LoadObjects()->empty());
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM revisit"), 3);
}

TEST_F(WatermarkTest, CommittedStageStoresTheNewWatermark) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  const Watermark old = MakeWatermark();
  ASSERT_TRUE(Commit(*db, {}, &old).ok());
  Watermark next = MakeWatermark();
  next.cookie = "next";
  auto id = db->BeginRun("incremental", 3000);
  ASSERT_TRUE(id.ok());
  RunRecord record{*id, "incremental", 3000, 3001, "ok", {}, "", ""};
  ASSERT_TRUE(db->StageRun(record, {}, &next).ok());
  ASSERT_TRUE(db->CommitStaged().ok());
  auto loaded = Load(*db);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->cookie, "next");
}

TEST_F(WatermarkTest, FailedCommitRunLeavesTheOldWatermark) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  const Watermark old = MakeWatermark();
  ASSERT_TRUE(Commit(*db, {}, &old).ok());
  Watermark next = MakeWatermark();
  next.cookie = "never stored";
  RunRecord missing;
  missing.id = 999;  // never begun: the run record update fails
  EXPECT_FALSE(db->CommitRun(missing, {}, &next).ok());
  auto loaded = Load(*db);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->cookie, old.cookie);
}

TEST_F(WatermarkTest, ReadOnlyOpenOfMissingStateHasNoWatermarkAndEmptySlices) {
  auto db = OpenState(/*read_only=*/true);
  ASSERT_TRUE(db);
  EXPECT_FALSE(Load(*db).has_value());
  EXPECT_TRUE(db->LoadObjects(std::vector<std::string>{Guid('u')})->empty());
  EXPECT_TRUE(db->LoadIdentities({Guid('u')})->empty());
  EXPECT_TRUE(db->LoadMembershipsTouching({Guid('u')})->empty());
  EXPECT_TRUE(db->CountObjects()->empty());
}

TEST_F(WatermarkTest, StateFromBeforeTheWatermarkMigratesWithNone) {
  SyncObject user = MakeObject('u', ObjectKind::kUser, "jdoe");
  {
    auto db = OpenState();
    ASSERT_TRUE(db);
    CommitOps(*db, {MakeOp(OpType::kCreate, user)});
  }
  DowngradeToSchema4();
  {
    // What a schema-1 state looked like: no watermark tables.
    auto raw = sql::Database::Open(path_, false);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE((*raw)
                    ->Exec("DROP TABLE watermark; DROP TABLE revisit; DROP TABLE assignments; "
                           "ALTER TABLE objects DROP COLUMN consistency_guid")
                    .ok());
    ASSERT_TRUE((*raw)->SetUserVersion(1).ok());
  }
  EXPECT_FALSE(StateDb::Open(path_, /*read_only=*/true).ok())
      << "a dry run does not migrate; the real run must first";
  auto db = OpenState();
  ASSERT_TRUE(db);
  EXPECT_EQ(db->SchemaVersion(), kLatestSchema);
  EXPECT_FALSE(Load(*db).has_value());
  EXPECT_EQ(db->LoadObjects()->size(), 1u);
}

class IncrementalLoadTest : public StateDbTest {
 protected:
  void SetUp() override {
    StateDbTest::SetUp();
    db_ = OpenState();
    ASSERT_TRUE(db_);
    alice_ = MakeObject('a', ObjectKind::kUser, "alice");
    bob_ = MakeObject('b', ObjectKind::kUser, "bob");
    carol_ = MakeObject('c', ObjectKind::kUser, "carol");
    staff_ = MakeObject('s', ObjectKind::kGroup, "Staff");
    admins_ = MakeObject('d', ObjectKind::kGroup, "Admins");
    CommitOps(*db_, {MakeOp(OpType::kCreate, alice_), MakeOp(OpType::kCreate, bob_),
                     MakeOp(OpType::kCreate, carol_), MakeOp(OpType::kCreate, staff_),
                     MakeOp(OpType::kCreate, admins_), MemberOp(OpType::kAddMember, staff_, alice_),
                     MemberOp(OpType::kAddMember, staff_, bob_),
                     MemberOp(OpType::kAddMember, admins_, alice_),
                     MemberOp(OpType::kAddMember, admins_, staff_)});
  }

  std::unique_ptr<StateDb> db_;
  SyncObject alice_, bob_, carol_, staff_, admins_;
};

TEST_F(IncrementalLoadTest, LoadObjectsByGuidReturnsFullImagesOfKnownOnes) {
  auto objects = db_->LoadObjects(std::vector<std::string>{bob_.guid, Guid('x'), staff_.guid});
  ASSERT_TRUE(objects.ok()) << objects.status().ToString();
  ASSERT_EQ(objects->size(), 2u);
  std::map<std::string, SyncObject> by_guid;
  for (const auto& o : *objects) by_guid[o.guid] = o;
  ASSERT_TRUE(by_guid.contains(bob_.guid));
  ASSERT_TRUE(by_guid.contains(staff_.guid));
  EXPECT_TRUE(Fields(by_guid[bob_.guid]) == Fields(bob_));
  EXPECT_TRUE(Fields(by_guid[staff_.guid]) == Fields(staff_));
  EXPECT_TRUE(db_->LoadObjects(std::vector<std::string>{})->empty());
  EXPECT_TRUE(db_->LoadObjects(std::vector<std::string>{Guid('x')})->empty());
}

TEST_F(IncrementalLoadTest, LoadIdentitiesCarriesKindExternalIdAndNameOnly) {
  auto ids = db_->LoadIdentities({alice_.guid, admins_.guid, Guid('x')});
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  ASSERT_EQ(ids->size(), 2u);
  const SyncObject& alice = ids->at(alice_.guid);
  EXPECT_EQ(alice.guid, alice_.guid);
  EXPECT_EQ(alice.kind, ObjectKind::kUser);
  EXPECT_EQ(alice.external_id, alice_.external_id);
  EXPECT_EQ(alice.name, "alice");
  EXPECT_TRUE(alice.attributes.empty());
  EXPECT_TRUE(alice.source->dn.empty());
  EXPECT_EQ(ids->at(admins_.guid).kind, ObjectKind::kGroup);
}

TEST_F(IncrementalLoadTest, LoadMembershipsTouchingFindsBothSidesOnce) {
  // Staff is a group of two and a member of Admins.
  auto edges = db_->LoadMembershipsTouching({staff_.guid});
  ASSERT_TRUE(edges.ok()) << edges.status().ToString();
  EXPECT_EQ(*edges, (std::vector<Membership>{{admins_.guid, staff_.guid},
                                             {staff_.guid, alice_.guid},
                                             {staff_.guid, bob_.guid}}));
  // Both ends named: each edge still comes once.
  auto both = db_->LoadMembershipsTouching({staff_.guid, alice_.guid, staff_.guid});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(*both, (std::vector<Membership>{{admins_.guid, alice_.guid},
                                            {admins_.guid, staff_.guid},
                                            {staff_.guid, alice_.guid},
                                            {staff_.guid, bob_.guid}}));
  EXPECT_TRUE(db_->LoadMembershipsTouching({carol_.guid})->empty());
  EXPECT_TRUE(db_->LoadMembershipsTouching({})->empty());
}

TEST_F(IncrementalLoadTest, CountObjectsPerKind) {
  auto counts = db_->CountObjects();
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  EXPECT_EQ(*counts, (std::map<std::string, int64_t>{{"group", 2}, {"user", 3}}));
  CommitOps(*db_, {MakeOp(OpType::kDelete, carol_), MakeOp(OpType::kDelete, bob_)});
  EXPECT_EQ(*db_->CountObjects(), (std::map<std::string, int64_t>{{"group", 2}, {"user", 1}}));
}

// --- The per-operation journal ---

TEST_F(StateDbTest, AwsPrincipalIdsAreKeptPerIdentityStore) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  std::vector<AwsPrincipalId> ids = {{.guid = Guid('a'),
                                      .kind = ObjectKind::kUser,
                                      .principal_id = "u-1",
                                      .resolved_by = "externalId",
                                      .resolved_at = 10},
                                     {.guid = Guid('g'),
                                      .kind = ObjectKind::kGroup,
                                      .principal_id = "g-1",
                                      .resolved_by = "displayName",
                                      .resolved_at = 11}};
  ASSERT_TRUE(db->SaveAwsPrincipals("d-old", ids).ok());
  ids[0].principal_id = "u-2";
  ASSERT_TRUE(db->SaveAwsPrincipals("d-new", {ids[0]}).ok());

  auto old_store = db->LoadAwsPrincipals("d-old");
  ASSERT_TRUE(old_store.ok()) << old_store.status().ToString();
  ASSERT_EQ(old_store->size(), 2U);
  auto new_store = db->LoadAwsPrincipals("d-new");
  ASSERT_EQ(new_store->size(), 1U);
  EXPECT_EQ((*new_store)[0].guid, Guid('a'));
  EXPECT_EQ((*new_store)[0].principal_id, "u-2");

  ASSERT_TRUE(db->DropAwsPrincipals("d-old", {Guid('a')}).ok());
  old_store = db->LoadAwsPrincipals("d-old");
  ASSERT_EQ(old_store->size(), 1U);
  EXPECT_EQ((*old_store)[0].kind, ObjectKind::kGroup);
  EXPECT_EQ((*old_store)[0].resolved_by, "displayName");
  EXPECT_EQ(db->LoadAwsPrincipals("d-new")->size(), 1U);
}

TEST_F(StateDbTest, AwsIdentityStoreStateRoundTrips) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  EXPECT_FALSE(db->LoadAwsIdentityStore("d-1")->has_value());
  AwsIdentityStoreState store{.identity_store_id = "d-1",
                              .external_id_issuer = "SCIM",
                              .reapplied_at = 5,
                              .ambiguous = 1,
                              .missing = 2,
                              .unrecorded = 3};
  ASSERT_TRUE(db->SaveAwsIdentityStore(store).ok());
  store.missing = 4;
  ASSERT_TRUE(db->SaveAwsIdentityStore(store).ok());
  auto loaded = db->LoadAwsIdentityStore("d-1");
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_EQ((*loaded)->external_id_issuer, "SCIM");
  EXPECT_EQ((*loaded)->missing, 4);
  EXPECT_EQ((*loaded)->unrecorded, 3);
}

TEST_F(StateDbTest, AwsOperationsInsertUpdateAndRefuseARepeatedAssignment) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  AwsOperation op;
  op.identity_store_id = "d-1";
  op.ledger_id = 7;
  op.target = "aws:account/111111111111/permission-set/Admin";
  op.target_ref = R"({"permissionSetArn":"arn:ps"})";
  op.principal_guid = Guid('a');
  op.principal_name = "alice";
  op.status = AwsOpStatus::kUnresolved;
  op.created_at = op.changed_at = 100;
  std::vector<AwsOperation> ops = {op};
  ASSERT_TRUE(db->SaveAwsOperations(&ops).ok());
  ASSERT_NE(ops[0].id, 0);

  ops[0].status = AwsOpStatus::kInProgress;
  ops[0].principal_id = "u-1";
  ops[0].request_id = "req-1";
  ops[0].attempts = 1;
  ops[0].sent_at = 101;
  ASSERT_TRUE(db->SaveAwsOperations(&ops).ok());
  auto loaded = db->LoadAwsOperations("d-1");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 1U);
  const AwsOperation& got = (*loaded)[0];
  EXPECT_EQ(got.id, ops[0].id);
  EXPECT_EQ(got.status, AwsOpStatus::kInProgress);
  EXPECT_EQ(got.request_id, "req-1");
  EXPECT_EQ(got.principal_guid, Guid('a'));
  EXPECT_EQ(got.target_ref, op.target_ref);
  EXPECT_EQ(got.sent_at, 101);
  EXPECT_TRUE(db->LoadAwsOperations("d-2")->empty());

  // The same assignment twice in one store is one operation.
  std::vector<AwsOperation> again = {op};
  EXPECT_FALSE(db->SaveAwsOperations(&again).ok());
  EXPECT_EQ(db->LoadAwsOperations("d-1")->size(), 1U);
  for (AwsOpStatus status :
       {AwsOpStatus::kUnresolved, AwsOpStatus::kPending, AwsOpStatus::kSending,
        AwsOpStatus::kInProgress, AwsOpStatus::kSucceeded, AwsOpStatus::kFailed}) {
    EXPECT_EQ(ParseAwsOpStatus(AwsOpStatusName(status)), status);
  }
}

class JournalTest : public StateDbTest {
 protected:
  void SetUp() override {
    StateDbTest::SetUp();
    alice_ = MakeObject('a', ObjectKind::kUser, "alice");
    bob_ = MakeObject('b', ObjectKind::kUser, "bob");
    staff_ = MakeObject('s', ObjectKind::kGroup, "Staff");
    ops_ = {MakeOp(OpType::kCreate, alice_), MakeOp(OpType::kCreate, bob_),
            MakeOp(OpType::kCreate, staff_), MemberOp(OpType::kAddMember, staff_, alice_)};
  }

  // Begins a run and journals ops_; returns the run's id.
  int64_t Journal(StateDb& db) {
    auto run = db.BeginRun("full", 1);
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    Status st = db.WriteOutbox(*run, ops_);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return *run;
  }

  std::vector<JournalStatus> Statuses(StateDb& db) {
    int64_t run_id = 0;
    auto journal = db.LoadJournal(&run_id);
    EXPECT_TRUE(journal.ok()) << journal.status().ToString();
    std::vector<JournalStatus> out;
    for (const auto& e : journal.ok() ? *journal : std::vector<JournalEntry>{}) {
      out.push_back(e.status);
    }
    return out;
  }

  SyncObject alice_, bob_, staff_;
  std::vector<Operation> ops_;
};

TEST_F(JournalTest, StatusNames) {
  EXPECT_STREQ(JournalStatusName(JournalStatus::kPending), "pending");
  EXPECT_STREQ(JournalStatusName(JournalStatus::kApplied), "applied");
  EXPECT_STREQ(JournalStatusName(JournalStatus::kRefused), "refused");
  EXPECT_STREQ(JournalStatusName(JournalStatus::kDeferred), "deferred");
}

TEST_F(JournalTest, MarksSurviveReopenAndLoadInSeqOrder) {
  int64_t run = 0;
  {
    auto db = OpenState();
    ASSERT_TRUE(db);
    run = Journal(*db);
    // Marked out of order, in two calls; the last mark of a seq wins.
    ASSERT_TRUE(db->MarkJournal(run, {{2, JournalStatus::kRefused, "", "displayName is missing"},
                                      {0, JournalStatus::kDeferred, "", "429 Too Many Requests"}})
                    .ok());
    Status st = db->MarkJournal(run, {{0, JournalStatus::kApplied, "scim-alice", ""}});
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  auto db = OpenState();
  ASSERT_TRUE(db);
  int64_t run_id = 0;
  auto journal = db->LoadJournal(&run_id);
  ASSERT_TRUE(journal.ok()) << journal.status().ToString();
  EXPECT_EQ(run_id, run);
  ASSERT_EQ(journal->size(), ops_.size());
  for (size_t i = 0; i < ops_.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ((*journal)[i].seq, static_cast<int64_t>(i));
    ExpectSameOperation((*journal)[i].op, ops_[i]);
  }
  EXPECT_EQ(Statuses(*db),
            (std::vector<JournalStatus>{JournalStatus::kApplied, JournalStatus::kPending,
                                        JournalStatus::kRefused, JournalStatus::kPending}));
  EXPECT_EQ((*journal)[0].sink_ref, "scim-alice");
  EXPECT_EQ((*journal)[0].reason, "");
  EXPECT_EQ((*journal)[2].sink_ref, "");
  EXPECT_EQ((*journal)[2].reason, "displayName is missing");
  EXPECT_EQ((*journal)[1].reason, "");
}

TEST_F(JournalTest, MarkOfAnUnknownSeqOrRunIsNotFoundAndRecordsNothing) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  const int64_t run = Journal(*db);
  Status st = db->MarkJournal(run, {{0, JournalStatus::kApplied, "scim-alice", ""},
                                    {4, JournalStatus::kApplied, "scim-x", ""}});
  EXPECT_EQ(st.code(), Status::Code::kNotFound) << st.ToString();
  EXPECT_NE(st.message().find("run " + std::to_string(run)), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("operation 4"), std::string::npos) << st.message();
  st = db->MarkJournal(run + 1, {{0, JournalStatus::kApplied, "scim-alice", ""}});
  EXPECT_EQ(st.code(), Status::Code::kNotFound) << st.ToString();
  EXPECT_EQ(Statuses(*db), std::vector<JournalStatus>(ops_.size(), JournalStatus::kPending));
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM outbox WHERE sink_ref != ''"), 0);
}

TEST_F(JournalTest, CommitRunClearsAMarkedJournal) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  const int64_t run = Journal(*db);
  ASSERT_TRUE(db->MarkJournal(run, {{1, JournalStatus::kRefused, "", "conflict"}}).ok());
  RunRecord record{run, "full", 1, 2, "partial", {}, "", ""};
  ASSERT_TRUE(db->CommitRun(record, {ops_[0]}).ok());
  int64_t run_id = -1;
  EXPECT_TRUE(db->LoadJournal(&run_id)->empty());
  EXPECT_EQ(run_id, 0);
  EXPECT_TRUE(db->WriteOutbox(run + 1, ops_).ok()) << "the next run can journal again";
}

TEST_F(JournalTest, SchemaFourOutboxMigratesToPendingEntries) {
  int64_t run = 0;
  {
    auto db = OpenState();
    ASSERT_TRUE(db);
    run = Journal(*db);
  }
  DowngradeToSchema4();
  {
    auto dry = StateDb::Open(path_, /*read_only=*/true);
    ASSERT_FALSE(dry.ok()) << "a dry run does not migrate";
    EXPECT_NE(dry.status().message().find("schema version 4"), std::string::npos)
        << dry.status().message();
  }
  EXPECT_EQ(RawCount("PRAGMA user_version"), 4);
  auto db = OpenState();
  ASSERT_TRUE(db);
  EXPECT_EQ(db->SchemaVersion(), kLatestSchema);
  int64_t run_id = 0;
  auto journal = db->LoadJournal(&run_id);
  ASSERT_TRUE(journal.ok()) << journal.status().ToString();
  EXPECT_EQ(run_id, run);
  ASSERT_EQ(journal->size(), ops_.size());
  for (size_t i = 0; i < ops_.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ((*journal)[i].status, JournalStatus::kPending);
    EXPECT_EQ((*journal)[i].sink_ref, "");
    ExpectSameOperation((*journal)[i].op, ops_[i]);
  }
  EXPECT_TRUE(db->LoadSinkRefs()->empty());
  EXPECT_TRUE(db->LoadQuarantine()->empty());
  EXPECT_TRUE(db->MarkJournal(run, {{3, JournalStatus::kApplied, "", ""}}).ok());
}

// Schema 7 rebuilt the journal's table for a cheaper CHECK: an interrupted
// run's journal survives the rebuild whole, and the CHECK still refuses a
// status no code writes.
TEST_F(JournalTest, SchemaSixJournalSurvivesTheRebuildOfItsTable) {
  int64_t run = 0;
  {
    auto db = OpenState();
    ASSERT_TRUE(db);
    run = Journal(*db);
    ASSERT_TRUE(db->MarkJournal(run, {{0, JournalStatus::kApplied, "ref-a", ""},
                                      {1, JournalStatus::kRefused, "", "conflict"}})
                    .ok());
  }
  {
    auto raw = sql::Database::Open(path_, false);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE((*raw)
                    ->Exec("CREATE TABLE outbox_six (run_id INTEGER NOT NULL, seq INTEGER NOT "
                           "NULL, operation TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending' "
                           "CHECK (status IN ('pending', 'applied', 'refused', 'deferred')), "
                           "sink_ref TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '', "
                           "PRIMARY KEY (run_id, seq)); "
                           "INSERT INTO outbox_six SELECT * FROM outbox; DROP TABLE outbox; "
                           "ALTER TABLE outbox_six RENAME TO outbox")
                    .ok());
    ASSERT_TRUE((*raw)->SetUserVersion(6).ok());
  }
  auto db = OpenState();
  ASSERT_TRUE(db);
  EXPECT_EQ(db->SchemaVersion(), kLatestSchema);
  int64_t run_id = 0;
  auto journal = db->LoadJournal(&run_id);
  ASSERT_TRUE(journal.ok()) << journal.status().ToString();
  EXPECT_EQ(run_id, run);
  ASSERT_EQ(journal->size(), ops_.size());
  EXPECT_EQ((*journal)[0].status, JournalStatus::kApplied);
  EXPECT_EQ((*journal)[0].sink_ref, "ref-a");
  EXPECT_EQ((*journal)[1].status, JournalStatus::kRefused);
  EXPECT_EQ((*journal)[1].reason, "conflict");
  EXPECT_EQ((*journal)[2].status, JournalStatus::kPending);
  ExpectSameOperation((*journal)[3].op, ops_[3]);
  EXPECT_EQ(
      RawCount("SELECT COUNT(*) FROM sqlite_master WHERE name = 'outbox' AND sql LIKE '%IN (%'"),
      0);
  auto raw = sql::Database::Open(path_, false);
  ASSERT_TRUE(raw.ok());
  EXPECT_FALSE((*raw)->Exec("UPDATE outbox SET status = 'lost' WHERE seq = 2").ok());
  EXPECT_TRUE((*raw)->Exec("UPDATE outbox SET status = 'deferred' WHERE seq = 2").ok());
}

// --- Sink references and the quarantine ---

QuarantineEntry Quarantined(const SyncObject& o, const std::string& reason, int64_t since,
                            const std::string& fingerprint) {
  return {o.guid, o.kind, o.name, o.external_id, reason, since, fingerprint};
}

auto QuarantineFields(const QuarantineEntry& e) {
  return std::tie(e.guid, e.kind, e.name, e.external_id, e.reason, e.since, e.fingerprint);
}

using SinkRefs = std::unordered_map<std::string, std::string>;

TEST_F(JournalTest, SinkRefsAreStoredWithTheRunAndUpserted) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  RunOutcomes outcomes;
  outcomes.sink_refs = {{alice_.guid, "scim-alice"}, {staff_.guid, "scim-staff"}};
  CommitOps(*db, {ops_[0], ops_[2]}, &outcomes);
  auto some = db->LoadSinkRefs(std::vector<std::string>{alice_.guid, bob_.guid, Guid('x')});
  ASSERT_TRUE(some.ok()) << some.status().ToString();
  EXPECT_EQ(*some, (SinkRefs{{alice_.guid, "scim-alice"}}));
  EXPECT_EQ(*db->LoadSinkRefs(),
            (SinkRefs{{alice_.guid, "scim-alice"}, {staff_.guid, "scim-staff"}}));

  outcomes.sink_refs = {{alice_.guid, "scim-alice-2"}};
  CommitOps(*db, {}, &outcomes);
  EXPECT_EQ(*db->LoadSinkRefs(),
            (SinkRefs{{alice_.guid, "scim-alice-2"}, {staff_.guid, "scim-staff"}}));
  EXPECT_TRUE(db->LoadSinkRefs(std::vector<std::string>{})->empty());
}

TEST_F(JournalTest, ADeleteDropsTheObjectsSinkRefAndQuarantineEntry) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  RunOutcomes outcomes;
  outcomes.sink_refs = {{alice_.guid, "scim-alice"}, {staff_.guid, "scim-staff"}};
  outcomes.quarantined = {Quarantined(alice_, "manager unknown", 100, "f1"),
                          Quarantined(bob_, "givenName is missing", 100, "f1")};
  CommitOps(*db, {ops_[0], ops_[1], ops_[2]}, &outcomes);
  ASSERT_EQ(db->LoadQuarantine()->size(), 2U);

  CommitOps(*db, {MakeOp(OpType::kDelete, alice_)});
  EXPECT_EQ(*db->LoadSinkRefs(), (SinkRefs{{staff_.guid, "scim-staff"}}));
  auto quarantine = db->LoadQuarantine();
  ASSERT_TRUE(quarantine.ok());
  ASSERT_EQ(quarantine->size(), 1U);
  EXPECT_EQ(quarantine->front().name, "bob");
}

TEST_F(JournalTest, OutcomesAreAllOrNothingWithTheRun) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->WriteOutbox(42, {ops_[0]}).ok());
  RunOutcomes outcomes;
  outcomes.sink_refs = {{alice_.guid, "scim-alice"}};
  outcomes.quarantined = {Quarantined(bob_, "givenName is missing", 100, "f1")};
  RunRecord missing;
  missing.id = 42;  // never begun: the run record's update fails last
  Status st = db->CommitRun(missing, {ops_[0]}, nullptr, &outcomes);
  EXPECT_EQ(st.code(), Status::Code::kNotFound) << st.ToString();
  EXPECT_TRUE(db->LoadSinkRefs()->empty());
  EXPECT_TRUE(db->LoadQuarantine()->empty());

  // An outcome without an objectGUID is refused, naming the object.
  outcomes.quarantined.front().guid.clear();
  auto run = db->BeginRun("full", 1);
  ASSERT_TRUE(run.ok());
  RunRecord record{*run, "full", 1, 2, "ok", {}, "", ""};
  st = db->CommitRun(record, {}, nullptr, &outcomes);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("bob"), std::string::npos) << st.message();
  EXPECT_TRUE(db->LoadSinkRefs()->empty());
}

TEST_F(JournalTest, QuarantineKeepsTheFirstRefusalUntilTheObjectChanges) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  RunOutcomes outcomes;
  outcomes.quarantined = {Quarantined(bob_, "givenName is missing", 100, "f1")};
  CommitOps(*db, {}, &outcomes);
  // Refused again, same image: the reason is the latest, the time the first.
  outcomes.quarantined = {Quarantined(bob_, "givenName is still missing", 200, "f1")};
  CommitOps(*db, {}, &outcomes);
  auto quarantine = db->LoadQuarantine();
  ASSERT_TRUE(quarantine.ok()) << quarantine.status().ToString();
  ASSERT_EQ(quarantine->size(), 1U);
  EXPECT_TRUE(QuarantineFields(quarantine->front()) ==
              QuarantineFields(Quarantined(bob_, "givenName is still missing", 100, "f1")));
  // The AD object changed and was refused again: a new refusal.
  bob_.name = "bob2";
  outcomes.quarantined = {Quarantined(bob_, "familyName is missing", 300, "f2")};
  CommitOps(*db, {}, &outcomes);
  quarantine = db->LoadQuarantine();
  ASSERT_EQ(quarantine->size(), 1U);
  EXPECT_TRUE(QuarantineFields(quarantine->front()) ==
              QuarantineFields(Quarantined(bob_, "familyName is missing", 300, "f2")));
  // Released by the run (it applied this time).
  outcomes.quarantined.clear();
  outcomes.released = {bob_.guid, Guid('x')};
  CommitOps(*db, {}, &outcomes);
  EXPECT_TRUE(db->LoadQuarantine()->empty());
}

TEST_F(JournalTest, LoadQuarantineListsUsersThenGroupsByName) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  SyncObject admins = MakeObject('d', ObjectKind::kGroup, "Admins");
  RunOutcomes outcomes;
  outcomes.quarantined = {
      Quarantined(staff_, "reserved name", 1, "f"), Quarantined(bob_, "no mail", 2, "f"),
      Quarantined(admins, "reserved name", 3, "f"), Quarantined(alice_, "no mail", 4, "f")};
  CommitOps(*db, {}, &outcomes);
  auto quarantine = db->LoadQuarantine();
  ASSERT_TRUE(quarantine.ok()) << quarantine.status().ToString();
  std::vector<std::string> names;
  for (const auto& e : *quarantine) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"alice", "bob", "Admins", "Staff"}));
  EXPECT_EQ(quarantine->front().kind, ObjectKind::kUser);
  EXPECT_EQ(quarantine->back().kind, ObjectKind::kGroup);
}

TEST_F(JournalTest, ReleaseQuarantineByNameIgnoringCaseOrByExternalId) {
  auto db = OpenState();
  ASSERT_TRUE(db);
  RunOutcomes outcomes;
  outcomes.quarantined = {Quarantined(alice_, "no mail", 1, "f"),
                          Quarantined(bob_, "no mail", 2, "f"),
                          Quarantined(staff_, "reserved name", 3, "f")};
  CommitOps(*db, {}, &outcomes);

  auto released = db->ReleaseQuarantine("ALICE");
  ASSERT_TRUE(released.ok()) << released.status().ToString();
  ASSERT_EQ(released->size(), 1U);
  EXPECT_TRUE(QuarantineFields(released->front()) ==
              QuarantineFields(Quarantined(alice_, "no mail", 1, "f")));

  released = db->ReleaseQuarantine(staff_.external_id);
  ASSERT_TRUE(released.ok()) << released.status().ToString();
  ASSERT_EQ(released->size(), 1U);
  EXPECT_EQ(released->front().name, "Staff");

  // Gone: a second release finds nothing, and says what it looked for.
  auto again = db->ReleaseQuarantine("alice");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::kNotFound);
  EXPECT_NE(again.status().message().find("'alice'"), std::string::npos)
      << again.status().message();
  // An externalId matches exactly, not ignoring case.
  std::string upper_id = bob_.external_id;
  std::transform(upper_id.begin(), upper_id.end(), upper_id.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  EXPECT_EQ(db->ReleaseQuarantine(upper_id).status().code(), Status::Code::kNotFound);

  auto left = db->LoadQuarantine();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1U);
  EXPECT_EQ(left->front().name, "bob");
}

TEST_F(JournalTest, ReadOnlyOpenReadsTheJournalRefsAndQuarantineAndWritesNothing) {
  {
    auto db = OpenState();
    ASSERT_TRUE(db);
    RunOutcomes outcomes;
    outcomes.sink_refs = {{alice_.guid, "scim-alice"}};
    outcomes.quarantined = {Quarantined(bob_, "no mail", 1, "f")};
    CommitOps(*db, {ops_[0]}, &outcomes);
    Journal(*db);
  }
  const auto before = std::filesystem::last_write_time(path_);
  const auto size = std::filesystem::file_size(path_);
  auto db = OpenState(/*read_only=*/true);
  ASSERT_TRUE(db);
  int64_t run_id = 0;
  EXPECT_EQ(db->LoadJournal(&run_id)->size(), ops_.size());
  EXPECT_EQ(*db->LoadSinkRefs(), (SinkRefs{{alice_.guid, "scim-alice"}}));
  EXPECT_EQ(db->LoadQuarantine()->size(), 1U);

  const RunOutcomes outcomes;
  for (const Status& st : {db->MarkJournal(run_id, {{0, JournalStatus::kApplied, "x", ""}}),
                           db->ReleaseQuarantine("bob").status(),
                           db->CommitRun(RunRecord{}, {}, nullptr, &outcomes)}) {
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("read-only"), std::string::npos) << st.message();
  }
  EXPECT_EQ(Statuses(*db), std::vector<JournalStatus>(ops_.size(), JournalStatus::kPending));
  EXPECT_EQ(db->LoadQuarantine()->size(), 1U);
  EXPECT_EQ(std::filesystem::last_write_time(path_), before);
  EXPECT_EQ(std::filesystem::file_size(path_), size);

  // A missing state reads as empty and stays missing.
  std::filesystem::remove(path_);
  auto empty = OpenState(/*read_only=*/true);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->LoadJournal(&run_id)->empty());
  EXPECT_TRUE(empty->LoadSinkRefs()->empty());
  EXPECT_TRUE(empty->LoadQuarantine()->empty());
  EXPECT_FALSE(empty->ReleaseQuarantine("bob").ok());
  EXPECT_FALSE(std::filesystem::exists(path_));
}

}  // namespace
}  // namespace syncd
