#include "store/local/local_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/sqlite.h"
#include "tests/unit/test_util.h"

namespace syncd {
namespace {

using testing::MakeOp;
using testing::MemberOp;

SyncObject User(const std::string& id, const std::string& name, Attributes extra = {}) {
  SyncObject o;
  o.guid = "guid-" + id;
  o.kind = ObjectKind::kUser;
  o.external_id = id;
  o.name = name;
  o.attributes = std::move(extra);
  o.attributes["userName"] = name;
  return o;
}

SyncObject Group(const std::string& id, const std::string& name) {
  SyncObject o;
  o.guid = "guid-" + id;
  o.kind = ObjectKind::kGroup;
  o.external_id = id;
  o.name = name;
  o.attributes = {{"displayName", name}};
  return o;
}

// What a listing shows, comparable in one EXPECT_EQ.
using Row = std::tuple<ObjectKind, std::string, std::string, Attributes, bool>;
std::vector<Row> Rows(const std::vector<StoredObject>& objects) {
  std::vector<Row> rows;
  rows.reserve(objects.size());
  for (const auto& o : objects) {
    rows.emplace_back(o.kind, o.external_id, o.name, o.attributes, o.managed);
  }
  return rows;
}

std::vector<std::string> Names(const std::vector<StoredObject>& objects) {
  std::vector<std::string> names;
  names.reserve(objects.size());
  for (const auto& o : objects) {
    names.push_back(std::string(KindName(o.kind)) + ":" + o.name);
  }
  return names;
}

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    path_ = dir_.path() + "/store.db";
    auto store = LocalStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  void Apply(const Operation& op) {
    Status st = store_->Apply(op);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  std::vector<Row> ListRows(ObjectKind kind) {
    auto list = store_->List(kind);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    return list.ok() ? Rows(*list) : std::vector<Row>{};
  }

  std::vector<std::string> MemberNames(const std::string& group, bool effective) {
    auto members = store_->Members(group, effective);
    EXPECT_TRUE(members.ok()) << members.status().ToString();
    return members.ok() ? Names(*members) : std::vector<std::string>{};
  }

  // Writes behind the store's back, as another tool sharing the file would.
  void RawExec(const std::string& sql) {
    auto db = sql::Database::Open(path_, false);
    ASSERT_TRUE(db.ok());
    Status st = (*db)->Exec(sql);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  int64_t RawCount(const std::string& sql) { return testing::QueryInt(path_, sql); }

  testing::TempDir dir_{"syncd-store-test"};  // outlives store_
  std::string path_;
  std::unique_ptr<LocalStore> store_;
};

TEST_F(LocalStoreTest, CreateMapsAttributesToColumnsAndExtraJson) {
  Attributes attrs = {
      {"displayName", "Jane Doe"},     {"givenName", "Jane"}, {"familyName", "Doe"},
      {"email", "jane@example.com"},   {"active", "false"},   {"department", "Sales"},
      {"odd \"key\"", "line\nbreak\\"}};
  Apply(MakeOp(OpType::kCreate, User("u1", "jdoe", attrs)));
  attrs["userName"] = "jdoe";
  EXPECT_EQ(ListRows(ObjectKind::kUser),
            (std::vector<Row>{{ObjectKind::kUser, "u1", "jdoe", attrs, true}}));
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM users WHERE active = 0 AND email = 'jane@example.com' "
                     "AND json_extract(extra_attributes, '$.department') = 'Sales' "
                     "AND json_extract(extra_attributes, '$.email') IS NULL "
                     "AND managed_by = 'syncd' AND created_at IS NOT NULL"),
            1);

  Apply(MakeOp(OpType::kCreate, Group("g1", "Sales Team")));
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM groups WHERE display_name = 'Sales Team' "
                     "AND extra_attributes IS NULL"),
            1);
}

TEST_F(LocalStoreTest, InvalidActiveValueIsRejectedNamingTheUser) {
  Status st = store_->Apply(MakeOp(OpType::kCreate, User("u1", "jdoe", {{"active", "yes"}})));
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("jdoe"), std::string::npos) << st.message();
  EXPECT_TRUE(ListRows(ObjectKind::kUser).empty());
}

TEST_F(LocalStoreTest, ApplyingEachOperationTwiceEqualsApplyingItOnce) {
  SyncObject user = User("u1", "jdoe", {{"email", "j@example.com"}});
  SyncObject group = Group("g1", "Staff");
  SyncObject updated = User("u1", "jdoe", {{"email", "new@example.com"}});
  const std::vector<Operation> ops = {MakeOp(OpType::kCreate, user),
                                      MakeOp(OpType::kCreate, group),
                                      MemberOp(OpType::kAddMember, group, user),
                                      MakeOp(OpType::kUpdate, updated),
                                      MemberOp(OpType::kRemoveMember, group, user),
                                      MakeOp(OpType::kDelete, user),
                                      MakeOp(OpType::kDelete, group)};
  for (const auto& op : ops) {
    SCOPED_TRACE(OpName(op.op));
    Apply(op);
    auto users = ListRows(ObjectKind::kUser);
    auto groups = ListRows(ObjectKind::kGroup);
    auto edges = RawCount("SELECT COUNT(*) FROM group_members");
    Apply(op);
    EXPECT_EQ(ListRows(ObjectKind::kUser), users);
    EXPECT_EQ(ListRows(ObjectKind::kGroup), groups);
    EXPECT_EQ(RawCount("SELECT COUNT(*) FROM group_members"), edges);
  }
  EXPECT_TRUE(ListRows(ObjectKind::kUser).empty());
  EXPECT_TRUE(ListRows(ObjectKind::kGroup).empty());
}

// Regression: add-member landed for a member whose create the store had
// refused, leaving an edge that nothing would ever remove.
TEST_F(LocalStoreTest, AddMemberOfMissingObjectIsNotFound) {
  SyncObject group = Group("g1", "Staff");
  Apply(MakeOp(OpType::kCreate, group));
  Status st = store_->Apply(MemberOp(OpType::kAddMember, group, User("u-missing", "ghost")));
  EXPECT_EQ(st.code(), Status::Code::kNotFound) << st.ToString();
  EXPECT_NE(st.message().find("the member is not in local store"), std::string::npos);
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM group_members"), 0);
}

TEST_F(LocalStoreTest, ReapplyingUnchangedImageKeepsUpdatedAt) {
  SyncObject user = User("u1", "jdoe", {{"email", "j@example.com"}, {"department", "Ops"}});
  Apply(MakeOp(OpType::kCreate, user));
  RawExec("UPDATE users SET updated_at = '2000-01-01T00:00:00Z'");
  Apply(MakeOp(OpType::kUpdate, user));
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM users WHERE updated_at = '2000-01-01T00:00:00Z'"), 1);
  user.attributes["department"] = "Sales";
  Apply(MakeOp(OpType::kUpdate, user));
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM users WHERE updated_at = '2000-01-01T00:00:00Z'"), 0);
}

TEST_F(LocalStoreTest, OperationFailingHalfwayLeavesRowAndMembershipsIntact) {
  SyncObject group = Group("g1", "Staff");
  SyncObject user = User("u1", "jdoe");
  Apply(MakeOp(OpType::kCreate, group));
  Apply(MakeOp(OpType::kCreate, user));
  Apply(MemberOp(OpType::kAddMember, group, user));
  // Make the second statement of the delete (its memberships) fail.
  RawExec(
      "CREATE TRIGGER no_edge_delete BEFORE DELETE ON group_members "
      "BEGIN SELECT RAISE(ABORT, 'edge delete refused'); END");
  EXPECT_FALSE(store_->Apply(MakeOp(OpType::kDelete, user)).ok());
  EXPECT_EQ(Names(*store_->List(ObjectKind::kUser)), std::vector<std::string>{"user:jdoe"});
  EXPECT_EQ(MemberNames("Staff", false), std::vector<std::string>{"user:jdoe"});
}

TEST_F(LocalStoreTest, UpdateWritesTheFullNewImageDroppingAbsentAttributes) {
  Apply(
      MakeOp(OpType::kCreate, User("u1", "jdoe", {{"email", "j@example.com"}, {"title", "Dev"}})));
  Apply(MakeOp(OpType::kUpdate, User("u1", "john.doe", {{"displayName", "John"}})));
  Attributes want = {{"userName", "john.doe"}, {"displayName", "John"}};
  EXPECT_EQ(ListRows(ObjectKind::kUser),
            (std::vector<Row>{{ObjectKind::kUser, "u1", "john.doe", want, true}}));
}

TEST_F(LocalStoreTest, UpdateOfMissingRowCreatesIt) {
  Apply(MakeOp(OpType::kUpdate, Group("g1", "Staff")));
  EXPECT_EQ(Names(*store_->List(ObjectKind::kGroup)), std::vector<std::string>{"group:Staff"});
}

// Inside a batch the store keeps only who owns each row it looked at, not
// the owner's name: a conflict still names it, in a batch as outside one.
TEST_F(LocalStoreTest, AConflictInABatchNamesTheRowsOwner) {
  RawExec(
      "INSERT INTO users (external_id, user_name, managed_by) VALUES ('u1', 'admin', 'hr-tool')");
  SyncObject admin = User("u1", "admin");
  SyncObject staff = Group("g1", "Staff");
  ASSERT_TRUE(store_->BeginBatch().ok());
  ASSERT_TRUE(store_->Apply(MakeOp(OpType::kCreate, staff)).ok());
  for (const auto& op : {MakeOp(OpType::kUpdate, admin), MakeOp(OpType::kCreate, admin)}) {
    Status st = store_->Apply(op);
    EXPECT_EQ(st.code(), Status::Code::kConflict) << st.ToString();
    EXPECT_NE(st.message().find("(managed_by 'hr-tool')"), std::string::npos) << st.message();
  }
  // The member check sees the foreign row as present: the edge is written.
  EXPECT_TRUE(store_->Apply(MemberOp(OpType::kAddMember, staff, admin)).ok());
  ASSERT_TRUE(store_->CommitBatch().ok());
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM group_members"), 1);
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM users WHERE managed_by = 'hr-tool'"), 1);
}

// In a batch the store remembers each row's owner, and keeps an objectGUID
// external_id (dashed, lower case: what syncd writes) as its 16 bytes. Any
// other spelling is another row: packing it too would have let syncd
// update the upper-case row someone else owns as if it were its own.
TEST_F(LocalStoreTest, OwnersInABatchAreKeptPerExternalIdWhateverItsCase) {
  const std::string theirs = "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9";
  const std::string ours = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9";
  RawExec("INSERT INTO users (external_id, user_name, managed_by) VALUES ('" + theirs +
          "', 'admin', 'hr-tool')");
  SyncObject jdoe = User("1", "jdoe");
  jdoe.external_id = ours;
  SyncObject admin = User("2", "admin2");
  admin.external_id = theirs;
  SyncObject staff = Group("9", "Staff");
  staff.external_id = "9f8e7d6c-5b4a-3928-1706-f5e4d3c2b1a0";
  ASSERT_TRUE(store_->BeginBatch().ok());
  ASSERT_TRUE(store_->Apply(MakeOp(OpType::kCreate, jdoe)).ok());
  ASSERT_TRUE(store_->Apply(MakeOp(OpType::kCreate, staff)).ok());
  Status st = store_->Apply(MakeOp(OpType::kUpdate, admin));
  EXPECT_EQ(st.code(), Status::Code::kConflict) << st.ToString();
  jdoe.attributes["displayName"] = "Jane";
  EXPECT_TRUE(store_->Apply(MakeOp(OpType::kUpdate, jdoe)).ok());
  EXPECT_TRUE(store_->Apply(MemberOp(OpType::kAddMember, staff, jdoe)).ok());
  ASSERT_TRUE(store_->CommitBatch().ok());
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM users WHERE managed_by = 'hr-tool' AND external_id = '" +
                     theirs + "' AND user_name = 'admin'"),
            1);
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM users WHERE managed_by = 'syncd' AND external_id = '" +
                     ours + "' AND display_name = 'Jane'"),
            1);
  EXPECT_EQ(
      RawCount("SELECT COUNT(*) FROM group_members WHERE member_external_id = '" + ours + "'"), 1);
}

TEST_F(LocalStoreTest, CreateAdoptsExistingRowManagedBySyncd) {
  // As after a crash between store commit and state commit: the row exists.
  RawExec(
      "INSERT INTO users (external_id, user_name, display_name, managed_by) "
      "VALUES ('u1', 'old-name', 'Old', 'syncd')");
  Apply(MakeOp(OpType::kCreate, User("u1", "jdoe", {{"displayName", "Jane"}})));
  Attributes want = {{"userName", "jdoe"}, {"displayName", "Jane"}};
  EXPECT_EQ(ListRows(ObjectKind::kUser),
            (std::vector<Row>{{ObjectKind::kUser, "u1", "jdoe", want, true}}));
}

TEST_F(LocalStoreTest, OperationsOnObjectsSyncdDidNotCreateAreConflicts) {
  RawExec(
      "INSERT INTO users (external_id, user_name, managed_by) VALUES ('u1', 'admin', 'hr-tool');"
      "INSERT INTO users (external_id, user_name) VALUES ('u2', 'root');"
      "INSERT INTO groups (external_id, display_name) VALUES ('g1', 'Admins');");
  SyncObject admin = User("u1", "admin");
  SyncObject root = User("u2", "root");
  SyncObject admins = Group("g1", "Admins");
  for (const auto& op : {MakeOp(OpType::kCreate, admin), MakeOp(OpType::kUpdate, admin),
                         MakeOp(OpType::kDelete, admin), MakeOp(OpType::kCreate, root),
                         MakeOp(OpType::kDelete, admins), MakeOp(OpType::kUpdate, admins),
                         MemberOp(OpType::kAddMember, admins, root),
                         MemberOp(OpType::kRemoveMember, admins, root)}) {
    SCOPED_TRACE(std::string(OpName(op.op)) + " " + op.object->name);
    Status st = store_->Apply(op);
    EXPECT_EQ(st.code(), Status::Code::kConflict) << st.ToString();
    EXPECT_NE(st.message().find(op.object->name), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(op.object->external_id), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("not created by syncd"), std::string::npos) << st.message();
  }
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM users WHERE managed_by IS NOT 'syncd'"), 2);
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM users WHERE managed_by = 'hr-tool'"), 1);
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM group_members"), 0);
  auto list = store_->List(ObjectKind::kUser);
  ASSERT_TRUE(list.ok());
  for (const auto& o : *list) {
    EXPECT_FALSE(o.managed) << o.name;
  }
}

TEST_F(LocalStoreTest, CreateWhoseUserNameBelongsToAnotherObjectIsConflictNamingBoth) {
  Apply(MakeOp(OpType::kCreate, User("u1", "jdoe")));
  Status st = store_->Apply(MakeOp(OpType::kCreate, User("u2", "jdoe")));
  EXPECT_EQ(st.code(), Status::Code::kConflict) << st.ToString();
  EXPECT_NE(st.message().find("u2"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("externalId u1"), std::string::npos) << st.message();
  EXPECT_EQ(ListRows(ObjectKind::kUser).size(), 1U);
}

TEST_F(LocalStoreTest, DeleteRemovesRowAndItsMembershipsAsMemberAndAsGroup) {
  SyncObject outer = Group("g1", "Outer");
  SyncObject inner = Group("g2", "Inner");
  SyncObject a = User("u1", "a");
  SyncObject b = User("u2", "b");
  for (const auto& op :
       {MakeOp(OpType::kCreate, outer), MakeOp(OpType::kCreate, inner), MakeOp(OpType::kCreate, a),
        MakeOp(OpType::kCreate, b), MemberOp(OpType::kAddMember, outer, inner),
        MemberOp(OpType::kAddMember, outer, a), MemberOp(OpType::kAddMember, inner, b)}) {
    Apply(op);
  }
  Apply(MakeOp(OpType::kDelete, inner));
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM group_members WHERE group_external_id = 'g2' "
                     "OR member_external_id = 'g2'"),
            0);
  EXPECT_EQ(MemberNames("Outer", false), std::vector<std::string>{"user:a"});
  Apply(MakeOp(OpType::kDelete, a));
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM group_members"), 0);
  EXPECT_EQ(Names(*store_->List(ObjectKind::kUser)), std::vector<std::string>{"user:b"});
}

TEST_F(LocalStoreTest, RollbackLeavesNothingAndCommitKeepsEverything) {
  SyncObject group = Group("g1", "Staff");
  SyncObject user = User("u1", "jdoe");
  ASSERT_TRUE(store_->Begin().ok());
  Apply(MakeOp(OpType::kCreate, group));
  Apply(MakeOp(OpType::kCreate, user));
  Apply(MemberOp(OpType::kAddMember, group, user));
  store_->Rollback();
  EXPECT_TRUE(ListRows(ObjectKind::kUser).empty());
  EXPECT_TRUE(ListRows(ObjectKind::kGroup).empty());
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM group_members"), 0);

  ASSERT_TRUE(store_->Begin().ok());
  Apply(MakeOp(OpType::kCreate, group));
  Apply(MakeOp(OpType::kCreate, user));
  Apply(MemberOp(OpType::kAddMember, group, user));
  ASSERT_TRUE(store_->Commit().ok());
  // Reopen to see what reached the file.
  store_.reset();
  auto reopened = LocalStore::Open(path_, /*read_only=*/true);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  store_ = std::move(reopened).value();
  EXPECT_EQ(MemberNames("Staff", false), std::vector<std::string>{"user:jdoe"});
}

TEST_F(LocalStoreTest, FailedOperationInsideBatchIsUndoneAloneAndBatchCanCommit) {
  ASSERT_TRUE(store_->Begin().ok());
  Apply(MakeOp(OpType::kCreate, User("u1", "jdoe")));
  Status st =
      store_->Apply(MemberOp(OpType::kAddMember, Group("g9", "Ghosts"), User("u1", "jdoe")));
  EXPECT_EQ(st.code(), Status::Code::kNotFound);
  EXPECT_NE(st.message().find("Ghosts"), std::string::npos) << st.message();
  ASSERT_TRUE(store_->Commit().ok());
  EXPECT_EQ(ListRows(ObjectKind::kUser).size(), 1U);
}

// Inside a batch the store keeps what it knows of rows' ownership instead of
// asking SQLite again; the refusals and the rows must be those of the same
// operations applied one by one outside a batch.
TEST_F(LocalStoreTest, BatchGivesTheSameRefusalsAndRowsAsOperationsAppliedAlone) {
  SyncObject staff = Group("g1", "Staff");
  SyncObject temp = Group("g2", "Temp");
  SyncObject hr = Group("g-hr", "HR");
  SyncObject jdoe = User("u1", "jdoe");
  SyncObject ann = User("u2", "ann");
  SyncObject clash = User("u3", "jdoe");  // its userName belongs to u1
  const std::vector<Operation> ops = {
      MakeOp(OpType::kCreate, staff),
      MakeOp(OpType::kCreate, jdoe),
      MakeOp(OpType::kCreate, ann),
      MemberOp(OpType::kAddMember, staff, jdoe),
      MemberOp(OpType::kAddMember, staff, User("u-missing", "ghost")),  // not in the store
      MemberOp(OpType::kAddMember, hr, jdoe),                           // group not syncd's
      MemberOp(OpType::kAddMember, staff, ann),
      MakeOp(OpType::kDelete, ann),  // its edge's delete fails: rolled back
      MemberOp(OpType::kAddMember, staff, ann),
      MakeOp(OpType::kCreate, clash),  // refused after its row was found absent
      MemberOp(OpType::kAddMember, staff, clash),
      MemberOp(OpType::kRemoveMember, staff, jdoe),
      MakeOp(OpType::kCreate, temp),
      MemberOp(OpType::kAddMember, temp, jdoe),
      MakeOp(OpType::kDelete, temp),
      MemberOp(OpType::kAddMember, temp, jdoe),  // the group is gone
  };
  using Outcome = std::pair<Status::Code, std::string>;
  struct RunResult {
    std::vector<Outcome> outcomes;
    std::vector<Row> users, groups;
    std::vector<std::string> staff_members;
  };
  auto run = [&](const std::string& path, bool batch) {
    RunResult result;
    auto store = LocalStore::Open(path);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) {
      return result;
    }
    auto db = sql::Database::Open(path, false);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    if (!db.ok()) {
      return result;
    }
    EXPECT_TRUE((*db)
                    ->Exec("INSERT INTO groups (external_id, display_name, managed_by) "
                           "VALUES ('g-hr', 'HR', 'hr-tool');"
                           "CREATE TRIGGER no_ann_edge_delete BEFORE DELETE ON group_members "
                           "WHEN OLD.member_external_id = 'u2' "
                           "BEGIN SELECT RAISE(ABORT, 'edge delete refused'); END")
                    .ok());
    db->reset();
    if (batch) {
      EXPECT_TRUE((*store)->Begin().ok());
    }
    for (const auto& op : ops) {
      Status st = (*store)->Apply(op);
      result.outcomes.emplace_back(st.code(), st.message());
    }
    if (batch) {
      EXPECT_TRUE((*store)->Commit().ok());
    }
    result.users = Rows(*(*store)->List(ObjectKind::kUser));
    result.groups = Rows(*(*store)->List(ObjectKind::kGroup));
    result.staff_members = Names(*(*store)->Members("Staff", false));
    return result;
  };
  // One path for both: the messages name the store.
  const std::string path = dir_.path() + "/runs.db";
  RunResult alone = run(path, false);
  std::filesystem::remove(path);
  RunResult batched = run(path, true);

  ASSERT_EQ(alone.outcomes.size(), ops.size());
  const std::vector<Status::Code> want_codes = {
      Status::Code::kOk,       Status::Code::kOk,       Status::Code::kOk,
      Status::Code::kOk,       Status::Code::kNotFound, Status::Code::kConflict,
      Status::Code::kOk,       alone.outcomes[7].first, Status::Code::kOk,
      Status::Code::kConflict, Status::Code::kNotFound, Status::Code::kOk,
      Status::Code::kOk,       Status::Code::kOk,       Status::Code::kOk,
      Status::Code::kNotFound};
  for (size_t i = 0; i < ops.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(alone.outcomes[i].first, want_codes[i]) << alone.outcomes[i].second;
    EXPECT_EQ(batched.outcomes[i], alone.outcomes[i]);
  }
  EXPECT_NE(alone.outcomes[7].first, Status::Code::kOk);
  EXPECT_EQ(batched.users, alone.users);
  EXPECT_EQ(batched.groups, alone.groups);
  EXPECT_EQ(batched.staff_members, alone.staff_members);
  EXPECT_EQ(alone.staff_members, std::vector<std::string>{"user:ann"});
  EXPECT_EQ(alone.users.size(), 2U);  // jdoe and ann: not clash, not ann's delete
}

TEST_F(LocalStoreTest, ApplyWithoutBeginAutocommits) {
  Apply(MakeOp(OpType::kCreate, User("u1", "jdoe")));
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM users"), 1);
}

TEST_F(LocalStoreTest, EffectiveMembersFollowNestedGroupsAndTerminateOnCycle) {
  // A contains B contains C contains A; each has one direct user.
  SyncObject a = Group("ga", "A");
  SyncObject b = Group("gb", "B");
  SyncObject c = Group("gc", "C");
  SyncObject ua = User("ua", "user-a");
  SyncObject ub = User("ub", "user-b");
  SyncObject uc = User("uc", "user-c");
  for (const auto& o : {a, b, c, ua, ub, uc}) {
    Apply(MakeOp(OpType::kCreate, o));
  }
  for (const auto& [g, m] : std::vector<std::pair<SyncObject, SyncObject>>{
           {a, b}, {b, c}, {c, a}, {a, ua}, {b, ub}, {c, uc}}) {
    Apply(MemberOp(OpType::kAddMember, g, m));
  }
  EXPECT_EQ(MemberNames("A", false), (std::vector<std::string>{"user:user-a", "group:B"}));
  EXPECT_EQ(MemberNames("A", true),
            (std::vector<std::string>{"user:user-a", "user:user-b", "user:user-c", "group:B",
                                      "group:C"}));
  EXPECT_EQ(MemberNames("C", true),
            (std::vector<std::string>{"user:user-a", "user:user-b", "user:user-c", "group:A",
                                      "group:B"}));
  // Breaking the cycle: C no longer reaches B through A.
  Apply(MemberOp(OpType::kRemoveMember, c, a));
  EXPECT_EQ(MemberNames("C", true), std::vector<std::string>{"user:user-c"});
  EXPECT_EQ(MemberNames("A", true),
            (std::vector<std::string>{"user:user-a", "user:user-b", "user:user-c", "group:B",
                                      "group:C"}));
}

TEST_F(LocalStoreTest, MembersFindsGroupByDisplayNameOrExternalIdElseNotFound) {
  SyncObject group = Group("11111111-aaaa", "Staff");
  Apply(MakeOp(OpType::kCreate, group));
  Apply(MakeOp(OpType::kCreate, User("u2", "zed")));
  Apply(MakeOp(OpType::kCreate, User("u1", "amy")));
  Apply(MemberOp(OpType::kAddMember, group, User("u2", "zed")));
  Apply(MemberOp(OpType::kAddMember, group, User("u1", "amy")));
  const std::vector<std::string> want = {"user:amy", "user:zed"};
  EXPECT_EQ(MemberNames("Staff", false), want);
  EXPECT_EQ(MemberNames("11111111-aaaa", false), want);
  EXPECT_EQ(MemberNames("11111111-aaaa", true), want);

  auto missing = store_->Members("Nobody", false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_NE(missing.status().message().find("Nobody"), std::string::npos);
}

TEST_F(LocalStoreTest, MembersOfAmbiguousDisplayNameAsksForExternalId) {
  Apply(MakeOp(OpType::kCreate, Group("g1", "Staff")));
  Apply(MakeOp(OpType::kCreate, Group("g2", "Staff")));
  auto members = store_->Members("Staff", false);
  ASSERT_FALSE(members.ok());
  EXPECT_EQ(members.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(members.status().message().find("externalId"), std::string::npos);
  EXPECT_TRUE(store_->Members("g2", false).ok());
}

TEST_F(LocalStoreTest, ReadOnlyOpenOfMissingFileIsErrorAndCreatesNothing) {
  const std::string missing = dir_.path() + "/absent.db";
  auto store = LocalStore::Open(missing, /*read_only=*/true);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Status::Code::kNotFound);
  EXPECT_NE(store.status().message().find(missing), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(missing));
}

TEST_F(LocalStoreTest, ReadOnlyOpenListsButRefusesChanges) {
  Apply(MakeOp(OpType::kCreate, User("u1", "jdoe")));
  auto ro = LocalStore::Open(path_, /*read_only=*/true);
  ASSERT_TRUE(ro.ok()) << ro.status().ToString();
  EXPECT_EQ((*ro)->List(ObjectKind::kUser)->size(), 1U);
  EXPECT_FALSE((*ro)->Begin().ok());
  EXPECT_FALSE((*ro)->Apply(MakeOp(OpType::kDelete, User("u1", "jdoe"))).ok());
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM users"), 1);
}

TEST_F(LocalStoreTest, ReadOnlyOpenOfOlderSchemaAsksForARealRunFirst) {
  const std::string old_path = dir_.path() + "/old.db";
  {
    auto db = sql::Database::Open(old_path, false);  // user_version 0
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("CREATE TABLE placeholder (x)").ok());
  }
  auto store = LocalStore::Open(old_path, /*read_only=*/true);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("without --dry-run"), std::string::npos)
      << store.status().message();
}

TEST_F(LocalStoreTest, ReopenKeepsDataAndDoesNotRemigrate) {
  Apply(MakeOp(OpType::kCreate, User("u1", "jdoe")));
  store_.reset();
  auto store = LocalStore::Open(path_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  store_ = std::move(store).value();
  EXPECT_EQ(ListRows(ObjectKind::kUser).size(), 1U);
  EXPECT_EQ(RawCount("PRAGMA user_version"), 3);
}

// Issue 14: the state records which store it describes; the id is made once
// and survives reopening, and another store has another.
TEST_F(LocalStoreTest, IdentityIsStableAndOwnsOnlySyncdsObjects) {
  Apply(MakeOp(OpType::kCreate, User("u1", "jdoe")));
  Apply(MakeOp(OpType::kCreate, Group("g1", "staff")));
  RawExec("INSERT INTO users (external_id, user_name, managed_by) VALUES ('x', 'hand', 'hr')");
  auto first = store_->IdentifyNow();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->id.size(), 32U);
  EXPECT_TRUE(first->holds_owned);
  store_.reset();
  auto peeked = LocalStore::Peek(path_);
  ASSERT_TRUE(peeked.ok() && peeked->has_value());
  EXPECT_EQ((*peeked)->id, first->id);
  EXPECT_TRUE((*peeked)->holds_owned);

  auto other = LocalStore::Open(dir_.path() + "/other.db");
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->IdentifyNow()->id, first->id);
}

TEST_F(LocalStoreTest, PeekCreatesNothingAndReadsAnEmptyFileAsHoldingNothing) {
  const std::string missing = dir_.path() + "/missing.db";
  auto none = LocalStore::Peek(missing);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_FALSE(std::filesystem::exists(missing));
  std::ofstream(dir_.path() + "/empty.db").flush();
  auto empty = LocalStore::Peek(dir_.path() + "/empty.db");
  ASSERT_TRUE(empty.ok() && empty->has_value());
  EXPECT_EQ((*empty)->id, "");
  EXPECT_FALSE((*empty)->holds_owned);
}

TEST_F(LocalStoreTest, ReadOwnedListsSyncdsObjectsAndTheirGroupsMemberships) {
  Apply(MakeOp(OpType::kCreate, User("u1", "jdoe", {{"email", "j@x"}})));
  Apply(MakeOp(OpType::kCreate, Group("g1", "staff")));
  Apply(MemberOp(OpType::kAddMember, Group("g1", "staff"), User("u1", "jdoe")));
  RawExec(
      "INSERT INTO users (external_id, user_name, managed_by) VALUES ('x', 'hand', 'hr');"
      "INSERT INTO groups (external_id, display_name, managed_by) VALUES ('hg', 'hand', 'hr');"
      "INSERT INTO group_members VALUES ('hg', 'u1')");
  auto owned = store_->ReadOwnedNow();
  ASSERT_TRUE(owned.ok()) << owned.status().ToString();
  EXPECT_EQ(Names(owned->objects), (std::vector<std::string>{"user:jdoe", "group:staff"}));
  EXPECT_EQ(owned->objects[0].attributes, (Attributes{{"email", "j@x"}, {"userName", "jdoe"}}));
  EXPECT_EQ(owned->memberships, (std::vector<StoredMembership>{{"g1", "u1"}}));
}

}  // namespace
}  // namespace syncd
