#include "state/state_db.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "state/internal.h"

namespace syncd {

StateDb::StateDb(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StateDb::~StateDb() = default;

// Read-only policy: a missing file, or one never migrated (user_version 0),
// reads as an empty state held in memory. An existing file at an older schema
// version is an error rather than an in-memory migration, because a dry run
// must show what a real run would do, and a real run would first migrate it.
Result<std::unique_ptr<StateDb>> StateDb::Open(const std::string& path, bool read_only) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->read_only = read_only;
  const int latest = static_cast<int>(state_internal::kMigrations.size());

  bool in_memory = false;
  if (read_only) {
    std::error_code ec;
    bool exists = std::filesystem::exists(path, ec);
    if (ec) {
      return Status::Unavailable("cannot check state file " + path + ": " + ec.message());
    }
    in_memory = !exists;
    if (exists) {
      auto db = sql::Database::Open(path, /*read_only=*/true);
      if (!db.ok()) {
        return db.status();
      }
      auto version = (*db)->UserVersion();
      if (!version.ok()) {
        return impl->Context(version.status());
      }
      if (*version == 0) {
        in_memory = true;
      } else if (*version < latest) {
        return Status::InvalidArgument("state file " + path + " has schema version " +
                                       std::to_string(*version) + ", older than this syncd's (" +
                                       std::to_string(latest) +
                                       "); run syncd once without --dry-run to migrate it");
      } else if (*version > latest) {
        return Status::InvalidArgument(
            "state file " + path + " has schema version " + std::to_string(*version) +
            ", newer than this syncd knows (" + std::to_string(latest) + "); upgrade syncd");
      } else {
        impl->db = std::move(db).value();
      }
    }
  }
  if (!impl->db) {
    auto db = sql::Database::Open(in_memory ? ":memory:" : path, /*read_only=*/false);
    if (!db.ok()) {
      return db.status();
    }
    impl->db = std::move(db).value();
    Status st = impl->db->Migrate(state_internal::kMigrations);
    if (!st.ok()) {
      return impl->Context(st);
    }
  }
  auto version = impl->db->UserVersion();
  if (!version.ok()) {
    return impl->Context(version.status());
  }
  impl->schema_version = *version;
  return std::unique_ptr<StateDb>(new StateDb(std::move(impl)));
}

int StateDb::SchemaVersion() const { return impl_->schema_version; }

}  // namespace syncd
