// Helpers shared by the unit tests.
#ifndef SYNCD_TESTS_UNIT_TEST_UTIL_H_
#define SYNCD_TESTS_UNIT_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>

#include "core/model.h"
#include "core/sqlite.h"
#include "store/sink.h"

// Expects `outcome` (evaluated once) to be of kind `kind_`, shown by name,
// with its reason on failure. The names are compared as strings: under
// ASan each translation unit keeps its own copy of a string literal, so
// comparing the pointers fails even for equal names.
#define EXPECT_OUTCOME(kind_, outcome)                                  \
  do {                                                                  \
    const ::syncd::OpOutcome& got_outcome_ = (outcome);                 \
    EXPECT_STREQ(::syncd::OutcomeName(got_outcome_.kind),               \
                 ::syncd::OutcomeName(::syncd::OpOutcome::Kind::kind_)) \
        << got_outcome_.reason;                                         \
  } while (false)

namespace syncd::testing {

// Runs a coroutine to completion on a private io_context.
template <typename T>
T RunAwaitable(boost::asio::awaitable<T> awaitable) {
  boost::asio::io_context loop;
  auto future = boost::asio::co_spawn(loop, std::move(awaitable), boost::asio::use_future);
  loop.run();
  return future.get();
}

inline std::string ReadTestData(const std::string& name) {
  const char* root = std::getenv("SYNCD_SOURCE_DIR");
  std::ifstream in(std::string(root ? root : ".") + "/tests/data/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A fresh directory under /tmp, removed with everything in it on
// destruction. path() is empty if it could not be created; check that in
// SetUp (ASSERT_FALSE(dir.path().empty())) before using it.
// An environment variable's value, or nothing if unset.
inline std::optional<std::string> GetEnv(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::optional<std::string>(value) : std::nullopt;
}

// Puts back what GetEnv() saw.
inline void RestoreEnv(const char* name, const std::optional<std::string>& value) {
  if (value.has_value()) {
    setenv(name, value->c_str(), 1);
  } else {
    unsetenv(name);
  }
}

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "syncd-test") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) {
      path_ = std::move(tmpl);
    }
  }
  ~TempDir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// `read` of the first row of `sql`, read through a separate read-only
// connection to the database at `path` (what is on disk); `fallback`, and a
// test failure, when there is no row.
template <typename T, typename Read>
T QueryFirst(const std::string& path, const std::string& sql, T fallback, Read read) {
  auto db = sql::Database::Open(path, /*read_only=*/true);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  if (!db.ok()) {
    return fallback;
  }
  auto stmt = (*db)->Prepare(sql);
  EXPECT_TRUE(stmt.ok()) << stmt.status().ToString();
  if (!stmt.ok()) {
    return fallback;
  }
  auto row = stmt->Step();
  EXPECT_TRUE(row.ok() && *row) << sql;
  return row.ok() && *row ? read(*stmt) : fallback;
}

// The first column of the first row of `sql` (QueryFirst).
inline int64_t QueryInt(const std::string& path, const std::string& sql) {
  return QueryFirst<int64_t>(path, sql, -1,
                             [](const sql::Statement& row) { return row.ColumnInt(0); });
}
inline std::string QueryText(const std::string& path, const std::string& sql) {
  return QueryFirst<std::string>(path, sql, "",
                                 [](const sql::Statement& row) { return row.ColumnText(0); });
}

inline Operation MakeOp(OpType type, const SyncObject& object) {
  Operation op;
  op.op = type;
  op.kind = object.kind;
  op.object = MakeObjectRef(object);
  return op;
}

// Sets one attribute of `op`'s image. Images are shared between
// operations: a changed copy takes its place.
inline void SetAttribute(Operation* op, const std::string& name, const std::string& value) {
  SyncObject changed = *op->object;
  changed.attributes[name] = value;
  op->object = MakeObjectRef(std::move(changed));
}

inline Operation MemberOp(OpType type, const SyncObject& group, const SyncObject& member) {
  Operation op = MakeOp(type, group);
  op.member = MakeObjectRef(member);
  return op;
}

// A mapped object named `name` (its userName or displayName), with an
// externalId and DN derived from the two.
inline SyncObject Obj(ObjectKind kind, const std::string& guid, const std::string& name) {
  SyncObject o;
  o.kind = kind;
  o.guid = guid;
  o.external_id = "ext-" + guid;
  o.name = name;
  o.attributes[kind == ObjectKind::kUser ? "userName" : "displayName"] = name;
  o.source.Mutable().dn = "CN=" + name + ",DC=corp";
  return o;
}
inline SyncObject U(const std::string& guid, const std::string& name) {
  return Obj(ObjectKind::kUser, guid, name);
}
inline SyncObject G(const std::string& guid, const std::string& name) {
  return Obj(ObjectKind::kGroup, guid, name);
}
// `objects` shared, as a read's results hold them (scope::ScopeResult).
inline std::vector<ObjectRef> Shared(std::vector<SyncObject> objects) {
  std::vector<ObjectRef> refs;
  for (auto& o : objects) refs.push_back(MakeObjectRef(std::move(o)));
  return refs;
}

}  // namespace syncd::testing

#endif  // SYNCD_TESTS_UNIT_TEST_UTIL_H_
