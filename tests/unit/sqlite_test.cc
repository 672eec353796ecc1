#include "core/sqlite.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/unit/test_util.h"

namespace syncd::sql {
namespace {

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    auto db = Database::Open(dir_.path() + "/test.db", /*read_only=*/false);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
  }

  int64_t Count(const std::string& table) {
    auto stmt = db_->Prepare("SELECT COUNT(*) FROM " + table);
    EXPECT_TRUE(stmt.ok());
    EXPECT_TRUE(*stmt->Step());
    return stmt->ColumnInt(0);
  }

  testing::TempDir dir_{"syncd-sqlite-test"};  // outlives db_
  std::unique_ptr<Database> db_;
};

TEST_F(SqliteTest, BoundParametersRoundTripBlobWithNulAndNonUtf8Text) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE t (i INTEGER, s TEXT, b BLOB, n TEXT)").ok());
  const std::string blob("a\0b\xff\xfe\0", 6);
  const std::string text = "caf\xc3\xa9 \xff\xfe not utf-8";
  const std::string hostile = "'); DROP TABLE t; --";
  auto insert = db_->Prepare("INSERT INTO t (i, s, b, n) VALUES (?1, ?2, ?3, ?4)");
  ASSERT_TRUE(insert.ok());
  ASSERT_TRUE(insert->Bind(1, int64_t{-42})
                  .Bind(2, std::string_view(text))
                  .BindBlob(3, blob)
                  .Bind(4, std::optional<std::string>())
                  .Run()
                  .ok());
  ASSERT_TRUE(insert->Bind(1, int64_t{1} << 40)
                  .Bind(2, std::string_view(hostile))
                  .BindBlob(3, "")
                  .Bind(4, std::optional<std::string>("x"))
                  .Run()
                  .ok());

  auto select = db_->Prepare("SELECT i, s, b, n FROM t ORDER BY rowid");
  ASSERT_TRUE(select.ok());
  ASSERT_TRUE(*select->Step());
  EXPECT_EQ(select->ColumnInt(0), -42);
  EXPECT_EQ(select->ColumnText(1), text);
  EXPECT_EQ(select->ColumnBlob(2), blob);
  EXPECT_EQ(select->ColumnBlob(2).size(), 6U);
  EXPECT_TRUE(select->ColumnIsNull(3));
  ASSERT_TRUE(*select->Step());
  EXPECT_EQ(select->ColumnInt(0), int64_t{1} << 40);
  EXPECT_EQ(select->ColumnText(1), hostile);
  EXPECT_EQ(select->ColumnText(3), "x");
  EXPECT_FALSE(*select->Step());
  EXPECT_EQ(Count("t"), 2);  // the hostile string was data, not SQL
}

TEST_F(SqliteTest, ForEachRowVisitsRowsInOrderAndResetsForReuse) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE t (i INTEGER); INSERT INTO t VALUES (3), (1), (2);").ok());
  auto select = db_->Prepare("SELECT i FROM t WHERE i >= ?1 ORDER BY i");
  ASSERT_TRUE(select.ok());
  std::vector<int64_t> seen;
  auto collect = [&](const Statement& row) {
    seen.push_back(row.ColumnInt(0));
    return Status::Ok();
  };
  ASSERT_TRUE(select->Bind(1, int64_t{1}).ForEachRow(collect).ok());
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 2, 3}));
  // Reset: the statement runs again from the start with new bindings.
  seen.clear();
  ASSERT_TRUE(select->Bind(1, int64_t{2}).ForEachRow(collect).ok());
  EXPECT_EQ(seen, (std::vector<int64_t>{2, 3}));
}

TEST_F(SqliteTest, ForEachRowStopsAtAndReturnsTheFirstErrorFromOnRow) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE t (i INTEGER); INSERT INTO t VALUES (1), (2), (3);").ok());
  auto select = db_->Prepare("SELECT i FROM t ORDER BY i");
  ASSERT_TRUE(select.ok());
  std::vector<int64_t> seen;
  Status st = select->ForEachRow([&](const Statement& row) {
    seen.push_back(row.ColumnInt(0));
    return row.ColumnInt(0) == 2 ? Status::DataLoss("row 2 is bad") : Status::Ok();
  });
  EXPECT_EQ(st.code(), Status::Code::kDataLoss);
  EXPECT_EQ(st.message(), "row 2 is bad");
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 2}));
}

TEST_F(SqliteTest, ForEachRowReturnsAStepError) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE t (i INTEGER); INSERT INTO t VALUES (1), (2), (3);").ok());
  // abs() of the smallest integer overflows, so the third Step fails. Not
  // constant and not sorted, so the first two rows come out before it.
  auto select = db_->Prepare(
      "SELECT CASE WHEN i < 3 THEN i ELSE abs(i - 3 - 9223372036854775807 - 1) END FROM t "
      "ORDER BY rowid");
  ASSERT_TRUE(select.ok());
  std::vector<int64_t> seen;
  Status st = select->ForEachRow([&](const Statement& row) {
    seen.push_back(row.ColumnInt(0));
    return Status::Ok();
  });
  EXPECT_EQ(st.code(), Status::Code::kInternal);
  EXPECT_NE(st.message().find("overflow"), std::string::npos) << st.message();
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 2}));
}

TEST_F(SqliteTest, TransactionRollsBackOnScopeExitUnlessCommitted) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE t (i INTEGER)").ok());
  {
    Transaction txn(*db_);
    ASSERT_TRUE(txn.status().ok());
    ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES (1)").ok());
  }
  EXPECT_EQ(Count("t"), 0);
  {
    Transaction txn(*db_);
    ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES (2)").ok());
    ASSERT_TRUE(txn.Commit().ok());
  }
  EXPECT_EQ(Count("t"), 1);
}

TEST_F(SqliteTest, MigrateIsIdempotentAndAppliesOnlyNewSteps) {
  std::vector<std::string> migrations = {"CREATE TABLE a (x INTEGER);"};
  ASSERT_TRUE(db_->Migrate(migrations).ok());
  ASSERT_TRUE(db_->Exec("INSERT INTO a VALUES (7)").ok());
  // Re-running would fail on CREATE TABLE if step 1 were applied again.
  ASSERT_TRUE(db_->Migrate(migrations).ok());
  migrations.emplace_back("CREATE TABLE b (y INTEGER);");
  ASSERT_TRUE(db_->Migrate(migrations).ok());
  EXPECT_EQ(*db_->UserVersion(), 2);
  EXPECT_EQ(Count("a"), 1);
  EXPECT_EQ(Count("b"), 0);
}

TEST_F(SqliteTest, MigrateRefusesSchemaNewerThanItKnows) {
  ASSERT_TRUE(db_->Migrate({"CREATE TABLE a (x);", "CREATE TABLE b (y);"}).ok());
  Status st = db_->Migrate({"CREATE TABLE a (x);"});
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("newer"), std::string::npos) << st.message();
  EXPECT_EQ(*db_->UserVersion(), 2);
}

TEST_F(SqliteTest, FailedMigrationStepLeavesVersionAndSchemaUnchanged) {
  ASSERT_TRUE(db_->Migrate({"CREATE TABLE a (x);"}).ok());
  Status st = db_->Migrate({"CREATE TABLE a (x);", "CREATE TABLE b (y); THIS IS NOT SQL;"});
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(*db_->UserVersion(), 1);
  auto stmt = db_->Prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'b'");
  ASSERT_TRUE(stmt.ok());
  ASSERT_TRUE(*stmt->Step());
  EXPECT_EQ(stmt->ColumnInt(0), 0);
}

}  // namespace
}  // namespace syncd::sql

namespace syncd::sql {
namespace {

// Regression: after a writer died mid-transaction, read-only opens (dry runs,
// `store users`) failed on the hot journal until a writing run came by.
TEST(SqliteReadOnly, ReadsAfterACrashedWriterAndRefusesWrites) {
  testing::TempDir dir("syncd-sqlite-ro");
  const std::string path = dir.path() + "/crash.db";
  {
    auto db = Database::Open(path, /*read_only=*/false);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1)").ok());
  }
  pid_t child = fork();
  if (child == 0) {
    auto db = Database::Open(path, /*read_only=*/false);
    // Enough rows to spill to disk, then die without COMMIT or ROLLBACK.
    (void)(*db)->Exec(
        "PRAGMA cache_size=1; BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM "
        "n WHERE i < 20000) INSERT INTO t SELECT i FROM n; UPDATE t SET v = v + 1;");
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(std::filesystem::exists(path + "-journal")) << "the crash left no hot journal";

  auto ro = Database::Open(path, /*read_only=*/true);
  ASSERT_TRUE(ro.ok()) << ro.status().ToString();
  auto count = (*ro)->Prepare("SELECT COUNT(*), MAX(v) FROM t");
  ASSERT_TRUE(count.ok());
  auto row = count->Step();
  ASSERT_TRUE(row.ok()) << row.status().ToString();
  EXPECT_EQ(count->ColumnInt(0), 1) << "the crashed transaction must not be visible";
  EXPECT_EQ(count->ColumnInt(1), 1);
  EXPECT_FALSE((*ro)->Exec("INSERT INTO t VALUES (2)").ok()) << "read-only handles refuse writes";
  EXPECT_FALSE(Database::Open(dir.path() + "/missing.db", /*read_only=*/true).ok());
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/missing.db"));
}

// The permission bits of `path`, or -1 if it does not exist.
int ModeOf(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 ? static_cast<int>(info.st_mode & 07777) : -1;
}

// Regression (issue 14): under umask 022 SQLite created the database (and
// its journal) 0644, world-readable.
TEST(SqliteFileMode, DatabaseAndJournalAreOwnerOnlyWhateverTheUmask) {
  testing::TempDir dir("syncd-sqlite-mode");
  const std::string path = dir.path() + "/mode.db";
  const mode_t saved = umask(022);
  auto db = Database::Open(path, /*read_only=*/false);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  // A write transaction that spills to disk: the rollback journal exists
  // until COMMIT.
  ASSERT_TRUE((*db)
                  ->Exec("PRAGMA cache_size=1; CREATE TABLE t (v TEXT); BEGIN; "
                         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n "
                         "WHERE i < 20000) INSERT INTO t SELECT hex(randomblob(64)) FROM n")
                  .ok());
  const int journal = ModeOf(path + "-journal");
  ASSERT_TRUE((*db)->Exec("COMMIT").ok());
  umask(saved);
  EXPECT_EQ(ModeOf(path), 0600);
  EXPECT_EQ(journal, 0600) << "the journal takes the database's mode";
}

TEST(SqliteFileMode, AnExistingFileKeepsItsMode) {
  testing::TempDir dir("syncd-sqlite-mode");
  const std::string path = dir.path() + "/kept.db";
  ASSERT_TRUE(Database::Open(path, /*read_only=*/false).ok());
  ASSERT_EQ(chmod(path.c_str(), 0640), 0);
  ASSERT_TRUE(Database::Open(path, /*read_only=*/false).ok());
  EXPECT_EQ(ModeOf(path), 0640);
}

}  // namespace
}  // namespace syncd::sql
