// A thin RAII layer over the SQLite C API, shared by state/ and store/.
// Every value goes through bound parameters; SQL text is never built from data.
#ifndef SYNCD_CORE_SQLITE_H_
#define SYNCD_CORE_SQLITE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace syncd::sql {

class Statement;

class Database {
 public:
  // Opens `path`. read_only opens an existing file without creating it and
  // refuses writes (it may still roll back a crashed writer's journal).
  // Sets WAL-free rollback journaling, foreign keys and a busy timeout.
  // A file it creates is owner-only (0600) whatever the umask, and so are
  // its journal files.
  static Result<std::unique_ptr<Database>> Open(const std::string& path, bool read_only);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements that take no parameters (schema, pragmas).
  Status Exec(const std::string& sql);
  Result<Statement> Prepare(std::string_view sql);
  // Like Prepare, for statements run once per object on hot paths: the
  // compiled statement is kept and reused. The handle returned borrows it and
  // resets it when destroyed. Precondition: at most one live handle per SQL
  // text at a time.
  Result<Statement> PrepareCached(std::string_view sql);

  // user_version pragma, used for schema migrations.
  Result<int> UserVersion();
  Status SetUserVersion(int version);

  // Applies `migrations[i]` for every i >= current user_version, each in its
  // own transaction together with the version bump.
  Status Migrate(const std::vector<std::string>& migrations);

  std::string ErrorMessage() const;
  int64_t Changes() const;
  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

// A prepared statement. Bind indexes start at 1, column indexes at 0.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  ~Statement();

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, const std::string& text);
  Statement& Bind(int index, const char* text);
  Statement& BindBlob(int index, std::string_view bytes);
  Statement& BindNull(int index);
  Statement& Bind(int index, const std::optional<std::string>& text);

  // Advances; true while a row is available.
  Result<bool> Step();
  // Runs to completion (for statements that return no rows).
  Status Run();
  // Steps through every remaining row and calls on_row for each, with this
  // statement positioned on that row (on_row reads columns; it must not Step
  // or Reset). Stops at the first non-ok Status, from on_row or from a Step,
  // and returns it unchanged; returns Ok after the last row. Resets in every
  // case (clearing the bindings, as Run does), so the statement can be bound
  // and run again.
  Status ForEachRow(const std::function<Status(const Statement&)>& on_row);
  void Reset();

  int64_t ColumnInt(int col) const;
  std::string ColumnText(int col) const;  // "" for NULL
  std::string ColumnBlob(int col) const;
  bool ColumnIsNull(int col) const;

 private:
  friend class Database;
  Statement(sqlite3_stmt* stmt, sqlite3* db, bool owned = true)
      : stmt_(stmt), db_(db), owned_(owned) {}
  void Release();  // finalizes an owned statement, resets a borrowed one
  sqlite3_stmt* stmt_;
  sqlite3* db_;
  bool owned_;
};

// Scoped transaction: rolls back unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  const Status& status() const { return begin_status_; }
  Status Commit();

 private:
  Database& db_;
  Status begin_status_;
  bool done_ = false;
};

}  // namespace syncd::sql

#endif  // SYNCD_CORE_SQLITE_H_
