#include "core/sqlite.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace syncd::sql {

namespace {

// SQLite creates a database as 0644 less the umask, so a run by hand under
// umask 022 left the identity data world-readable. Created here first, owner
// only; SQLite gives its -journal (and -wal, -shm) files the database's mode.
// An existing file keeps the mode it has.
Status CreateOwnerOnly(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status::Unavailable("cannot create SQLite database " + path + ": " +
                               std::strerror(errno));
  }
  close(fd);
  return Status::Ok();
}

// SQLite counts every allocation under one process-wide mutex unless told
// not to; the state and the store write on two threads at once, and that
// mutex was the most contended lock of a full sync's apply. Nothing here
// reads the counts. Must precede SQLite's initialization (the first open).
void DisableMemoryStatistics() {
  static const int kConfigured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)kConfigured;  // SQLITE_MISUSE if something initialized SQLite first: only slower
}

}  // namespace

Result<std::unique_ptr<Database>> Database::Open(const std::string& path, bool read_only) {
  DisableMemoryStatistics();
  if (!read_only && !path.empty() && path != ":memory:") {
    if (Status st = CreateOwnerOnly(path); !st.ok()) return st;
  }
  sqlite3* db = nullptr;
  // A read-only handle still opens the file read-write (never creating it),
  // so that it can roll back a hot journal a crashed writer left behind;
  // query_only then refuses every write.
  int flags = read_only ? SQLITE_OPEN_READWRITE : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Status::Unavailable("cannot open SQLite database " + path + ": " + msg);
  }
  auto database = std::unique_ptr<Database>(new Database(db, path));
  sqlite3_busy_timeout(db, 5000);
  Status st = database->Exec(read_only ? "PRAGMA foreign_keys=ON; PRAGMA query_only=ON;"
                                       : "PRAGMA foreign_keys=ON; PRAGMA journal_mode=DELETE; "
                                         "PRAGMA synchronous=FULL;");
  if (!st.ok()) return st;
  return database;
}

Database::~Database() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Status Database::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : ErrorMessage();
    sqlite3_free(err);
    return Status::Internal(path_ + ": " + msg);
  }
  return Status::Ok();
}

Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK) {
    return Status::Internal(path_ + ": cannot prepare statement: " + ErrorMessage());
  }
  return Statement(stmt, db_);
}

Result<Statement> Database::PrepareCached(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    auto fresh = Prepare(sql);
    if (!fresh.ok()) return fresh.status();
    it = cache_.emplace(std::string(sql), std::exchange(fresh->stmt_, nullptr)).first;
  }
  return Statement(it->second, db_, /*owned=*/false);
}

Result<int> Database::UserVersion() {
  auto stmt = Prepare("PRAGMA user_version");
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  return static_cast<int>(stmt->ColumnInt(0));
}

Status Database::SetUserVersion(int version) {
  // PRAGMA takes no bound parameters; the value is an int we produced.
  return Exec("PRAGMA user_version=" + std::to_string(version));
}

Status Database::Migrate(const std::vector<std::string>& migrations) {
  auto current = UserVersion();
  if (!current.ok()) return current.status();
  if (*current > static_cast<int>(migrations.size())) {
    return Status::InvalidArgument(path_ + " has schema version " + std::to_string(*current) +
                                   ", newer than this syncd knows (" +
                                   std::to_string(migrations.size()) + ")");
  }
  for (int v = *current; v < static_cast<int>(migrations.size()); ++v) {
    Transaction txn(*this);
    if (!txn.status().ok()) return txn.status();
    Status st = Exec(migrations[v]);
    if (!st.ok()) return st.WithContext("schema migration " + std::to_string(v + 1));
    st = SetUserVersion(v + 1);
    if (!st.ok()) return st;
    st = txn.Commit();
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

std::string Database::ErrorMessage() const { return sqlite3_errmsg(db_); }

int64_t Database::Changes() const { return sqlite3_changes64(db_); }

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), db_(other.db_), owned_(other.owned_) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    Release();
    stmt_ = std::exchange(other.stmt_, nullptr);
    db_ = other.db_;
    owned_ = other.owned_;
  }
  return *this;
}

Statement::~Statement() { Release(); }

void Statement::Release() {
  if (stmt_ == nullptr) return;
  if (owned_) {
    sqlite3_finalize(stmt_);
  } else {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  stmt_ = nullptr;
}

Statement& Statement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Statement& Statement::Bind(int index, const std::string& text) {
  return Bind(index, std::string_view(text));
}

Statement& Statement::Bind(int index, const char* text) {
  return Bind(index, std::string_view(text));
}

Statement& Statement::BindBlob(int index, std::string_view bytes) {
  sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Statement& Statement::Bind(int index, const std::optional<std::string>& text) {
  return text ? Bind(index, std::string_view(*text)) : BindNull(index);
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Status::Internal(std::string("SQLite: ") + sqlite3_errmsg(db_));
}

Status Statement::Run() {
  auto row = Step();
  while (row.ok() && *row) row = Step();
  Reset();
  return row.ok() ? Status::Ok() : row.status();
}

Status Statement::ForEachRow(const std::function<Status(const Statement&)>& on_row) {
  Status st;
  for (;;) {
    auto row = Step();
    if (!row.ok()) {
      st = row.status();
      break;
    }
    if (!*row) break;
    st = on_row(*this);
    if (!st.ok()) break;
  }
  Reset();
  return st;
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Statement::ColumnInt(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Statement::ColumnText(int col) const {
  const auto* text = sqlite3_column_text(stmt_, col);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text),
          static_cast<size_t>(sqlite3_column_bytes(stmt_, col))};
}

std::string Statement::ColumnBlob(int col) const {
  const void* blob = sqlite3_column_blob(stmt_, col);
  if (blob == nullptr) return {};
  return {static_cast<const char*>(blob), static_cast<size_t>(sqlite3_column_bytes(stmt_, col))};
}

bool Statement::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

Transaction::Transaction(Database& db) : db_(db), begin_status_(db.Exec("BEGIN IMMEDIATE")) {}

Transaction::~Transaction() {
  if (!done_ && begin_status_.ok()) (void)db_.Exec("ROLLBACK");
}

Status Transaction::Commit() {
  Status st = db_.Exec("COMMIT");
  // A failed COMMIT leaves the transaction open; the destructor rolls it back.
  done_ = st.ok();
  return st;
}

}  // namespace syncd::sql
