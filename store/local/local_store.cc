#include "store/local/local_store.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <optional>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "core/memory.h"
#include "core/sqlite.h"
#include "core/strings.h"

namespace syncd {
namespace {

constexpr std::string_view kManagedBy = "syncd";

// Migration i takes the schema from version i to i + 1; append, never edit.
// effective_members uses UNION (not UNION ALL) so that a membership cycle,
// which AD allows, ends the recursion; a group is not listed as its own
// member even when a cycle leads back to it.
const std::vector<std::string> kMigrations = {
    R"sql(
CREATE TABLE users (
  external_id TEXT PRIMARY KEY NOT NULL,
  user_name TEXT UNIQUE NOT NULL,
  display_name TEXT,
  given_name TEXT,
  family_name TEXT,
  email TEXT,
  active INTEGER,
  extra_attributes TEXT,
  managed_by TEXT,
  created_at TEXT,
  updated_at TEXT
);
CREATE TABLE groups (
  external_id TEXT PRIMARY KEY NOT NULL,
  display_name TEXT NOT NULL,
  description TEXT,
  extra_attributes TEXT,
  managed_by TEXT,
  created_at TEXT,
  updated_at TEXT
);
CREATE INDEX groups_display_name ON groups(display_name);
CREATE TABLE group_members (
  group_external_id TEXT NOT NULL REFERENCES groups(external_id) ON DELETE CASCADE,
  member_external_id TEXT NOT NULL,
  PRIMARY KEY (group_external_id, member_external_id)
);
CREATE INDEX group_members_member ON group_members(member_external_id);
CREATE VIEW effective_members (group_external_id, member_external_id) AS
  WITH RECURSIVE closure (group_external_id, member_external_id) AS (
    SELECT group_external_id, member_external_id FROM group_members
    UNION
    SELECT closure.group_external_id, gm.member_external_id
      FROM closure JOIN group_members gm ON gm.group_external_id = closure.member_external_id
  )
  SELECT group_external_id, member_external_id FROM closure
   WHERE group_external_id <> member_external_id;
)sql",
    R"sql(
CREATE TABLE assignments (
  principal_external_id TEXT NOT NULL,
  principal_type TEXT NOT NULL,
  target TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (principal_external_id, target)
);
)sql",
    // Who this store is: made once, so that a state can tell its store was
    // replaced or recreated (an existing store gets its id on migration).
    R"sql(
CREATE TABLE store_meta (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  store_id TEXT NOT NULL,
  created_at TEXT NOT NULL
);
INSERT INTO store_meta (id, store_id, created_at)
  VALUES (1, lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));
)sql",
};

constexpr std::string_view kNow = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";

// Store attribute names that have their own column; the rest go to
// extra_attributes. The name column (userName / displayName) comes from
// SyncObject::name.
constexpr std::string_view kUserNameAttr = "userName";
constexpr std::string_view kDisplayNameAttr = "displayName";
constexpr std::string_view kGivenNameAttr = "givenName";
constexpr std::string_view kFamilyNameAttr = "familyName";
constexpr std::string_view kEmailAttr = "email";
constexpr std::string_view kActiveAttr = "active";
constexpr std::string_view kDescriptionAttr = "description";

const std::string kUserSelect =
    "SELECT u.external_id, u.user_name, u.managed_by, j.key, j.value, u.display_name, "
    "u.given_name, u.family_name, u.email, u.active "
    "FROM users u LEFT JOIN json_each(u.extra_attributes) j ";
const std::string kUserOrder = "ORDER BY u.user_name, u.external_id";
const std::string kGroupSelect =
    "SELECT g.external_id, g.display_name, g.managed_by, j.key, j.value, g.description "
    "FROM groups g LEFT JOIN json_each(g.extra_attributes) j ";
const std::string kGroupOrder = "ORDER BY g.display_name, g.external_id";

// Extra attributes are a flat object of strings; SQLite's json_each reads it
// back, so only the writer lives here (the store does not link a JSON library).
std::optional<std::string> ExtraAttributesJson(const Attributes& attributes,
                                               std::initializer_list<std::string_view> columns) {
  std::string out;
  for (const auto& [name, value] : attributes) {
    bool has_column = false;
    for (auto column : columns) {
      has_column = has_column || name == column;
    }
    if (has_column) {
      continue;
    }
    out += out.empty() ? "{" : ",";
    AppendJsonString(&out, name);
    out += ':';
    AppendJsonString(&out, value);
  }
  if (out.empty()) {
    return std::nullopt;
  }
  return out + "}";
}

std::optional<std::string> Attr(const Attributes& attributes, std::string_view name) {
  auto it = attributes.find(std::string(name));
  if (it == attributes.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::string DescribeObject(ObjectKind kind, const SyncObject& o) {
  return std::string(KindName(kind)) + " " + o.name + " (externalId " + o.external_id + ")";
}

// Reads a column into `attributes` under `name` unless it is NULL.
void ReadColumn(const sql::Statement& stmt, int col, std::string_view name,
                Attributes* attributes) {
  if (!stmt.ColumnIsNull(col)) {
    (*attributes)[std::string(name)] = stmt.ColumnText(col);
  }
}

// The store's id (empty when `has_id` is false: a store from before ids)
// and whether syncd owns anything in it (EXISTS: no scan of the tables).
Result<StoreIdentity> ReadIdentity(sql::Database& db, bool has_id) {
  auto stmt = db.Prepare(
      std::string(has_id ? "SELECT (SELECT store_id FROM store_meta), " : "SELECT '', ") +
      "EXISTS (SELECT 1 FROM users WHERE managed_by = ?1) OR "
      "EXISTS (SELECT 1 FROM groups WHERE managed_by = ?1)");
  if (!stmt.ok()) {
    return stmt.status();
  }
  stmt->Bind(1, kManagedBy);
  auto row = stmt->Step();
  if (!row.ok()) {
    return row.status();
  }
  StoreIdentity identity;
  identity.id = stmt->ColumnText(0);
  identity.holds_owned = stmt->ColumnInt(1) != 0;
  return identity;
}

// A value per external_id, for as many rows as a directory has. syncd's
// external_ids are objectGUIDs in their dashed lower-case form: 36
// characters, an allocation each as a std::string key. Those are kept as
// their 16 bytes; any other external_id (a row someone else made) as itself.
template <typename Value>
class KnownOwners {
 public:
  std::optional<Value> Find(std::string_view external_id) const {
    if (auto packed = Pack(external_id)) {
      auto it = packed_.find(*packed);
      return it == packed_.end() ? std::nullopt : std::optional<Value>(it->second);
    }
    auto it = other_.find(std::string(external_id));
    return it == other_.end() ? std::nullopt : std::optional<Value>(it->second);
  }
  void Set(std::string_view external_id, Value value) {
    if (auto packed = Pack(external_id)) {
      packed_.insert_or_assign(*packed, value);
    } else {
      other_.insert_or_assign(std::string(external_id), value);
    }
  }
  void Erase(std::string_view external_id) {
    if (auto packed = Pack(external_id)) {
      packed_.erase(*packed);
    } else {
      other_.erase(std::string(external_id));
    }
  }
  void Clear() {
    ReleaseMemory(&packed_);
    ReleaseMemory(&other_);
  }

 private:
  using Packed = std::array<uint8_t, 16>;
  struct PackedHash {
    size_t operator()(const Packed& p) const {
      uint64_t halves[2];
      std::memcpy(halves, p.data(), sizeof(halves));
      return static_cast<size_t>(halves[0] ^ (halves[1] * 0x9e3779b97f4a7c15ULL));
    }
  };

  // The 16 bytes of "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" in lower-case
  // hex; nullopt for anything else (so packing loses nothing: upper-case
  // digits would make two external_ids one key).
  static std::optional<Packed> Pack(std::string_view id) {
    if (id.size() != 36) return std::nullopt;
    Packed packed{};
    size_t nibble = 0;
    for (size_t i = 0; i < id.size(); ++i) {
      const char c = id[i];
      if (i == 8 || i == 13 || i == 18 || i == 23) {
        if (c != '-') return std::nullopt;
        continue;
      }
      const int v = HexDigitValue(c);
      if (v < 0 || (c >= 'A' && c <= 'F')) return std::nullopt;
      packed[nibble / 2] = static_cast<uint8_t>(packed[nibble / 2] << 4 | v);
      ++nibble;
    }
    return packed;
  }

  std::unordered_map<Packed, Value, PackedHash> packed_;
  std::unordered_map<std::string, Value> other_;
};

}  // namespace

struct LocalStore::Impl {
  std::unique_ptr<sql::Database> db;
  std::string path;
  bool read_only = false;

  Status Context(const Status& st) const { return st.WithContext("local store " + path); }

  Status CheckWritable() const {
    if (!read_only) {
      return Status::Ok();
    }
    return Status::Internal("local store " + path + " is open read-only; refusing to change it");
  }

  // Who holds the row of an external_id: nobody (no row), syncd, or someone
  // else (a row syncd must not change).
  enum class Owner : uint8_t { kNone, kSyncd, kOther };

  // Inside a batch the write transaction is ours, so no row changes but by
  // this store's own operations: each row's Owner is kept here instead of
  // asked again, which a full sync's per-edge ownership checks would do
  // twice an edge. Per kind, by external_id; empty and unused outside a batch.
  bool in_batch = false;
  KnownOwners<Owner> known_owner[2];

  KnownOwners<Owner>& Known(ObjectKind kind) {
    return known_owner[kind == ObjectKind::kUser ? 0 : 1];
  }

  // Forgets everything known: when a batch begins or ends, and when an
  // operation is rolled back to its savepoint.
  void ForgetKnown() {
    for (auto& known : known_owner) {
      known.Clear();
    }
  }

  void EndBatch() {
    in_batch = false;
    ForgetKnown();
  }

  // After a SELECT of the row, or its successful write.
  void Learn(ObjectKind kind, const std::string& external_id, Owner owner) {
    if (in_batch) {
      Known(kind).Set(external_id, owner);
    }
  }

  // Who holds the row with this external_id.
  Result<Owner> OwnerOf(ObjectKind kind, const std::string& external_id) {
    if (in_batch) {
      if (auto known = Known(kind).Find(external_id)) {
        return *known;
      }
    }
    auto managed_by = SelectManagedBy(kind, external_id);
    if (!managed_by.ok()) {
      return managed_by.status();
    }
    const Owner owner = !managed_by->has_value()     ? Owner::kNone
                        : **managed_by == kManagedBy ? Owner::kSyncd
                                                     : Owner::kOther;
    Learn(kind, external_id, owner);
    return owner;
  }

  Result<std::optional<std::string>> SelectManagedBy(ObjectKind kind,
                                                     const std::string& external_id) {
    auto stmt = db->PrepareCached(kind == ObjectKind::kUser
                                      ? "SELECT managed_by FROM users WHERE external_id = ?1"
                                      : "SELECT managed_by FROM groups WHERE external_id = ?1");
    if (!stmt.ok()) {
      return stmt.status();
    }
    stmt->Bind(1, std::string_view(external_id));
    auto row = stmt->Step();
    if (!row.ok()) {
      return row.status();
    }
    if (!*row) {
      return std::optional<std::string>();
    }
    return std::optional<std::string>(stmt->ColumnText(0));
  }

  Status NotManaged(ObjectKind kind, const SyncObject& o, const std::string& managed_by) const {
    return Status::Conflict(
        DescribeObject(kind, o) + " exists in local store " + path +
        " but was not created by syncd" +
        (managed_by.empty() ? "" : " (managed_by '" + managed_by + "')") +
        "; syncd will not change it. Remove it, or set its managed_by to 'syncd' to let syncd "
        "adopt it");
  }

  // Ok if the object is absent (*exists = false) or managed by syncd.
  Status CheckManaged(ObjectKind kind, const SyncObject& o, bool* exists) {
    auto owner = OwnerOf(kind, o.external_id);
    if (!owner.ok()) {
      return owner.status();
    }
    *exists = *owner != Owner::kNone;
    if (*owner == Owner::kOther) {
      // Asked again for the error only: who holds it is not kept.
      auto managed_by = SelectManagedBy(kind, o.external_id);
      if (!managed_by.ok()) {
        return managed_by.status();
      }
      return NotManaged(kind, o, managed_by->value_or(""));
    }
    return Status::Ok();
  }

  Status Upsert(ObjectKind kind, const SyncObject& o) {
    if (o.external_id.empty()) {
      return Status::InvalidArgument(DescribeObject(kind, o) + " has no externalId");
    }
    if (o.name.empty()) {
      return Status::InvalidArgument(
          DescribeObject(kind, o) + " has no " +
          std::string(kind == ObjectKind::kUser ? kUserNameAttr : kDisplayNameAttr));
    }
    bool exists = false;
    Status st = CheckManaged(kind, o, &exists);
    if (!st.ok()) {
      return st;
    }
    st = kind == ObjectKind::kUser ? UpsertUser(o) : UpsertGroup(o);
    if (st.ok()) {
      Learn(kind, o.external_id, Owner::kSyncd);
    }
    return st;
  }

  Status UpsertUser(const SyncObject& o) {
    // userName is unique; name the holder instead of surfacing a bare
    // constraint failure.
    auto holder = db->PrepareCached(
        "SELECT external_id, managed_by FROM users WHERE user_name = ?1 AND external_id <> ?2");
    if (!holder.ok()) {
      return holder.status();
    }
    holder->Bind(1, std::string_view(o.name)).Bind(2, std::string_view(o.external_id));
    auto row = holder->Step();
    if (!row.ok()) {
      return row.status();
    }
    if (*row) {
      std::string managed_by = holder->ColumnText(1);
      return Status::Conflict("cannot write " + DescribeObject(ObjectKind::kUser, o) +
                              " to local store " + path + ": userName " + o.name +
                              " already belongs to externalId " + holder->ColumnText(0) +
                              (managed_by == kManagedBy ? "" : ", which syncd did not create"));
    }

    std::optional<std::string> active = Attr(o.attributes, kActiveAttr);
    std::optional<int64_t> active_value;
    if (active) {
      if (*active != "true" && *active != "false") {
        return Status::InvalidArgument(DescribeObject(ObjectKind::kUser, o) +
                                       ": active must be \"true\" or \"false\", not \"" + *active +
                                       "\"");
      }
      active_value = *active == "true" ? 1 : 0;
    }
    // The WHERE keeps updated_at unchanged when nothing changed, so applying
    // the same image twice leaves the row as applying it once.
    auto stmt = db->PrepareCached(
        "INSERT INTO users (external_id, user_name, display_name, given_name, family_name, "
        "email, active, extra_attributes, managed_by, created_at, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, " +
        std::string(kNow) + ", " + std::string(kNow) +
        ") ON CONFLICT (external_id) DO UPDATE SET user_name = excluded.user_name, "
        "display_name = excluded.display_name, given_name = excluded.given_name, "
        "family_name = excluded.family_name, email = excluded.email, active = excluded.active, "
        "extra_attributes = excluded.extra_attributes, managed_by = excluded.managed_by, "
        "updated_at = excluded.updated_at "
        "WHERE (users.user_name, users.display_name, users.given_name, users.family_name, "
        "users.email, users.active, users.extra_attributes, users.managed_by) IS NOT "
        "(excluded.user_name, excluded.display_name, excluded.given_name, excluded.family_name, "
        "excluded.email, excluded.active, excluded.extra_attributes, excluded.managed_by)");
    if (!stmt.ok()) {
      return stmt.status();
    }
    stmt->Bind(1, std::string_view(o.external_id))
        .Bind(2, std::string_view(o.name))
        .Bind(3, Attr(o.attributes, kDisplayNameAttr))
        .Bind(4, Attr(o.attributes, kGivenNameAttr))
        .Bind(5, Attr(o.attributes, kFamilyNameAttr))
        .Bind(6, Attr(o.attributes, kEmailAttr))
        .Bind(8, ExtraAttributesJson(o.attributes, {kUserNameAttr, kDisplayNameAttr, kGivenNameAttr,
                                                    kFamilyNameAttr, kEmailAttr, kActiveAttr}))
        .Bind(9, kManagedBy);
    if (active_value) {
      stmt->Bind(7, *active_value);
    } else {
      stmt->BindNull(7);
    }
    return stmt->Run();
  }

  Status UpsertGroup(const SyncObject& o) {
    auto stmt = db->PrepareCached(
        "INSERT INTO groups (external_id, display_name, description, extra_attributes, "
        "managed_by, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, " +
        std::string(kNow) + ", " + std::string(kNow) +
        ") ON CONFLICT (external_id) DO UPDATE SET display_name = excluded.display_name, "
        "description = excluded.description, extra_attributes = excluded.extra_attributes, "
        "managed_by = excluded.managed_by, updated_at = excluded.updated_at "
        "WHERE (groups.display_name, groups.description, groups.extra_attributes, "
        "groups.managed_by) IS NOT (excluded.display_name, excluded.description, "
        "excluded.extra_attributes, excluded.managed_by)");
    if (!stmt.ok()) {
      return stmt.status();
    }
    return stmt->Bind(1, std::string_view(o.external_id))
        .Bind(2, std::string_view(o.name))
        .Bind(3, Attr(o.attributes, kDescriptionAttr))
        .Bind(4, ExtraAttributesJson(o.attributes, {kDisplayNameAttr, kDescriptionAttr}))
        .Bind(5, kManagedBy)
        .Run();
  }

  Status Delete(ObjectKind kind, const SyncObject& o) {
    bool exists = false;
    Status st = CheckManaged(kind, o, &exists);
    if (!st.ok() || !exists) {
      return st;
    }
    for (std::string_view text :
         {kind == ObjectKind::kUser ? "DELETE FROM users WHERE external_id = ?1"
                                    : "DELETE FROM groups WHERE external_id = ?1",
          "DELETE FROM group_members WHERE group_external_id = ?1 OR member_external_id = ?1",
          "DELETE FROM assignments WHERE principal_external_id = ?1"}) {
      auto stmt = db->PrepareCached(text);
      if (!stmt.ok()) {
        return stmt.status();
      }
      st = stmt->Bind(1, std::string_view(o.external_id)).Run();
      if (!st.ok()) {
        return st;
      }
    }
    Known(kind).Erase(o.external_id);
    return Status::Ok();
  }

  Status Membership(const Operation& op) {
    const bool add = op.op == OpType::kAddMember;
    if (!op.member || op.member->external_id.empty()) {
      return Status::InvalidArgument(std::string(OpName(op.op)) + " on " +
                                     DescribeObject(ObjectKind::kGroup, *op.object) +
                                     " names no member");
    }
    bool exists = false;
    Status st = CheckManaged(ObjectKind::kGroup, *op.object, &exists);
    if (!st.ok()) {
      return st;
    }
    if (!exists) {
      // Removing from a group that is gone is already done.
      if (!add) {
        return Status::Ok();
      }
      return Status::NotFound("cannot add " + DescribeObject(op.member->kind, *op.member) + " to " +
                              DescribeObject(ObjectKind::kGroup, *op.object) +
                              ": the group is not in local store " + path);
    }
    if (add) {
      // An edge to an object the store lacks (its create was refused) would
      // outlive it: nothing would ever delete it.
      auto member = OwnerOf(op.member->kind, op.member->external_id);
      if (!member.ok()) {
        return member.status();
      }
      if (*member == Owner::kNone) {
        return Status::NotFound("cannot add " + DescribeObject(op.member->kind, *op.member) +
                                " to " + DescribeObject(ObjectKind::kGroup, *op.object) +
                                ": the member is not in local store " + path);
      }
    }
    auto stmt =
        db->PrepareCached(add ? "INSERT OR IGNORE INTO group_members (group_external_id, "
                                "member_external_id) VALUES (?1, ?2)"
                              : "DELETE FROM group_members WHERE group_external_id = ?1 AND "
                                "member_external_id = ?2");
    if (!stmt.ok()) {
      return stmt.status();
    }
    return stmt->Bind(1, std::string_view(op.object->external_id))
        .Bind(2, std::string_view(op.member->external_id))
        .Run();
  }

  Status ApplyOne(const Operation& op) {
    switch (op.op) {
      case OpType::kCreate:
      case OpType::kUpdate:
        return Upsert(op.kind, *op.object);
      case OpType::kDelete:
        return Delete(op.kind, *op.object);
      case OpType::kAddMember:
      case OpType::kRemoveMember:
        return Membership(op);
    }
    return Status::Internal("unknown operation type");
  }

  // Runs `select` + `filter` + `order` (constant SQL; ?1 in filter is bound to
  // `param`) and folds the rows, one per extra attribute, into objects.
  Result<std::vector<StoredObject>> Read(ObjectKind kind, const std::string& filter,
                                         const std::string& param) {
    const bool user = kind == ObjectKind::kUser;
    auto stmt = db->Prepare((user ? kUserSelect : kGroupSelect) + filter +
                            (user ? kUserOrder : kGroupOrder));
    if (!stmt.ok()) {
      return stmt.status();
    }
    if (!filter.empty()) {
      stmt->Bind(1, std::string_view(param));
    }
    std::vector<StoredObject> out;
    Status st = stmt->ForEachRow([&](const sql::Statement& row) {
      std::string external_id = row.ColumnText(0);
      if (out.empty() || out.back().external_id != external_id) {
        StoredObject& o = out.emplace_back();
        o.kind = kind;
        o.external_id = std::move(external_id);
        o.name = row.ColumnText(1);
        o.managed = row.ColumnText(2) == kManagedBy;
        o.attributes[std::string(user ? kUserNameAttr : kDisplayNameAttr)] = o.name;
        if (user) {
          ReadColumn(row, 5, kDisplayNameAttr, &o.attributes);
          ReadColumn(row, 6, kGivenNameAttr, &o.attributes);
          ReadColumn(row, 7, kFamilyNameAttr, &o.attributes);
          ReadColumn(row, 8, kEmailAttr, &o.attributes);
          if (!row.ColumnIsNull(9)) {
            o.attributes[std::string(kActiveAttr)] = row.ColumnInt(9) != 0 ? "true" : "false";
          }
        } else {
          ReadColumn(row, 5, kDescriptionAttr, &o.attributes);
        }
      }
      if (!row.ColumnIsNull(3)) {
        out.back().attributes[row.ColumnText(3)] = row.ColumnText(4);
      }
      return Status::Ok();
    });
    if (!st.ok()) {
      return st;
    }
    return out;
  }
};

LocalStore::LocalStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LocalStore::~LocalStore() = default;

Result<std::unique_ptr<LocalStore>> LocalStore::Open(const std::string& path, bool read_only) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->read_only = read_only;
  const int latest = static_cast<int>(kMigrations.size());
  if (read_only) {
    std::error_code ec;
    bool exists = std::filesystem::exists(path, ec);
    if (ec) {
      return Status::Unavailable("cannot check local store " + path + ": " + ec.message());
    }
    if (!exists) {
      return Status::NotFound("local store " + path +
                              " does not exist; run syncd once without --dry-run to create it");
    }
  }
  auto db = sql::Database::Open(path, read_only);
  if (!db.ok()) {
    return db.status();
  }
  impl->db = std::move(db).value();
  if (read_only) {
    auto version = impl->db->UserVersion();
    if (!version.ok()) {
      return impl->Context(version.status());
    }
    if (*version != latest) {
      return Status::InvalidArgument(
          "local store " + path + " has schema version " + std::to_string(*version) +
          (*version < latest
               ? ", older than this syncd's (" + std::to_string(latest) +
                     "); run syncd once without --dry-run to migrate it"
               : ", newer than this syncd knows (" + std::to_string(latest) + "); upgrade syncd"));
    }
  } else {
    Status st = impl->db->Migrate(kMigrations);
    if (!st.ok()) {
      return impl->Context(st);
    }
  }
  return std::unique_ptr<LocalStore>(new LocalStore(std::move(impl)));
}

Result<std::optional<StoreIdentity>> LocalStore::Peek(const std::string& path) {
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (ec) {
    return Status::Unavailable("cannot check local store " + path + ": " + ec.message());
  }
  if (!exists) {
    return std::optional<StoreIdentity>();
  }
  auto db = sql::Database::Open(path, /*read_only=*/true);
  if (!db.ok()) {
    return db.status();
  }
  auto version = (*db)->UserVersion();
  if (!version.ok()) {
    return version.status().WithContext("local store " + path);
  }
  if (*version == 0) {
    return std::optional(StoreIdentity{});
  }
  // The id arrived with migration 3; the tables with the first.
  auto identity = ReadIdentity(**db, /*has_id=*/*version >= 3);
  if (!identity.ok()) {
    return identity.status().WithContext("local store " + path);
  }
  return std::optional(*identity);
}

Status LocalStore::Begin() {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  impl_->ForgetKnown();
  Status st = impl_->db->Exec("BEGIN IMMEDIATE");
  impl_->in_batch = st.ok();
  return impl_->Context(st);
}

Status LocalStore::Apply(const Operation& op) {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  auto& db = *impl_->db;
  // A savepoint makes each operation all-or-nothing, inside a batch or not: a
  // failed delete leaves neither the row gone nor its memberships. Every
  // other operation writes with one statement, which SQLite makes atomic;
  // a savepoint for it would copy each page it touches to a sub-journal,
  // most of the cost of a directory's first sync.
  if (op.op != OpType::kDelete) {
    Status st = impl_->ApplyOne(op);
    return st.code() == Status::Code::kInternal ? impl_->Context(st) : st;
  }
  // Run once per operation: reuse the compiled statements.
  auto run = [&db](std::string_view sql) {
    auto stmt = db.PrepareCached(sql);
    return stmt.ok() ? stmt->Run() : stmt.status();
  };
  Status st = run("SAVEPOINT apply_op");
  if (!st.ok()) {
    return impl_->Context(st);
  }
  st = impl_->ApplyOne(op);
  if (!st.ok()) {
    impl_->ForgetKnown();
    (void)run("ROLLBACK TO apply_op");
    (void)run("RELEASE apply_op");
    return st.code() == Status::Code::kInternal ? impl_->Context(st) : st;
  }
  st = run("RELEASE apply_op");
  if (!st.ok()) {
    impl_->ForgetKnown();
  }
  return impl_->Context(st);
}

Status LocalStore::Commit() {
  impl_->EndBatch();
  Status st = impl_->db->Exec("COMMIT");
  // A failed COMMIT can leave the transaction open; end it so that nothing of
  // the batch is applied and the next Begin works.
  if (!st.ok()) {
    (void)impl_->db->Exec("ROLLBACK");
  }
  return impl_->Context(st);
}

void LocalStore::Rollback() {
  impl_->EndBatch();
  (void)impl_->db->Exec("ROLLBACK");
}

Result<StoreIdentity> LocalStore::IdentifyNow() {
  auto identity = ReadIdentity(*impl_->db, /*has_id=*/true);
  if (!identity.ok()) {
    return impl_->Context(identity.status());
  }
  return identity;
}

Result<OwnedContents> LocalStore::ReadOwnedNow() {
  OwnedContents owned;
  for (auto kind : {ObjectKind::kUser, ObjectKind::kGroup}) {
    auto objects = impl_->Read(
        kind, kind == ObjectKind::kUser ? "WHERE u.managed_by = ?1 " : "WHERE g.managed_by = ?1 ",
        std::string(kManagedBy));
    if (!objects.ok()) {
      return impl_->Context(objects.status());
    }
    std::move(objects->begin(), objects->end(), std::back_inserter(owned.objects));
  }
  auto edges = impl_->db->Prepare(
      "SELECT m.group_external_id, m.member_external_id FROM group_members m "
      "JOIN groups g ON g.external_id = m.group_external_id WHERE g.managed_by = ?1 "
      "ORDER BY m.group_external_id, m.member_external_id");
  if (!edges.ok()) {
    return impl_->Context(edges.status());
  }
  edges->Bind(1, kManagedBy);
  Status st = edges->ForEachRow([&](const sql::Statement& row) {
    owned.memberships.push_back({row.ColumnText(0), row.ColumnText(1)});
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  return owned;
}

// Memberships of one group per request: enough to make them few, few
// enough that one request's outcomes stay small.
constexpr size_t kMembersPerRequest = 500;

const SinkCapabilities& LocalStore::capabilities() const {
  // One SQLite file: atomic batches, nested groups, no rate to respect.
  // A request is a loop of statements, so a group's memberships travel
  // together: one request (and one unit of the walk) per member would make
  // a full sync's memberships most of its requests and of the walk's memory.
  static const SinkCapabilities kCapabilities{/*atomic_batches=*/true,
                                              /*members_per_request=*/kMembersPerRequest,
                                              /*nested_groups=*/true,
                                              /*max_in_flight=*/1,
                                              /*rate_limit=*/0};
  return kCapabilities;
}

std::string LocalStore::Describe() const { return "local store " + impl_->path; }

boost::asio::awaitable<Result<StoreIdentity>> LocalStore::Identify() { co_return IdentifyNow(); }

boost::asio::awaitable<Result<OwnedContents>> LocalStore::ReadOwned() { co_return ReadOwnedNow(); }

OpOutcome LocalStore::OutcomeOf(const Status& st) {
  if (st.ok()) {
    return OpOutcome::Applied();
  }
  switch (st.code()) {
    case Status::Code::kConflict:
    case Status::Code::kInvalidArgument:
    case Status::Code::kNotFound:
      return OpOutcome::Refused(st.message());
    default:
      // SQLite failing (disk full, I/O error): nothing more will land.
      return OpOutcome::Fatal(st.message());
  }
}

boost::asio::awaitable<std::vector<OpOutcome>> LocalStore::Apply(std::span<const SinkOp> ops) {
  std::vector<OpOutcome> outcomes;
  outcomes.reserve(ops.size());
  for (const SinkOp& op : ops) {
    outcomes.push_back(OutcomeOf(Apply(*op.op)));
  }
  co_return outcomes;
}

Result<std::vector<StoredAssignment>> LocalStore::ListAssignments() {
  auto stmt = impl_->db->Prepare(
      "SELECT principal_type, principal_external_id, target FROM assignments "
      "ORDER BY principal_external_id, target");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  std::vector<StoredAssignment> out;
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    auto kind = ParseKind(row.ColumnText(0));
    if (!kind) {
      return Status::DataLoss("assignment of " + row.ColumnText(2) + " to " + row.ColumnText(1) +
                              ": unknown principal_type '" + row.ColumnText(0) + "'");
    }
    out.push_back({*kind, row.ColumnText(1), row.ColumnText(2)});
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  return out;
}

Status LocalStore::Assign(const StoredAssignment& a) {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  auto owner = impl_->OwnerOf(a.kind, a.external_id);
  if (!owner.ok()) {
    return impl_->Context(owner.status());
  }
  if (*owner == Impl::Owner::kNone) {
    return Status::NotFound("cannot assign " + a.target + ": no " + KindName(a.kind) +
                            " with externalId " + a.external_id + " in local store " + impl_->path);
  }
  auto stmt = impl_->db->PrepareCached(
      "INSERT OR IGNORE INTO assignments (principal_external_id, principal_type, target, "
      "created_at) VALUES (?1, ?2, ?3, " +
      std::string(kNow) + ")");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  return impl_->Context(stmt->Bind(1, std::string_view(a.external_id))
                            .Bind(2, KindName(a.kind))
                            .Bind(3, std::string_view(a.target))
                            .Run());
}

Status LocalStore::Unassign(const StoredAssignment& a) {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  auto stmt = impl_->db->PrepareCached(
      "DELETE FROM assignments WHERE principal_external_id = ?1 AND target = ?2");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  return impl_->Context(
      stmt->Bind(1, std::string_view(a.external_id)).Bind(2, std::string_view(a.target)).Run());
}

Result<std::vector<StoredObject>> LocalStore::List(ObjectKind kind) {
  auto objects = impl_->Read(kind, "", "");
  if (!objects.ok()) {
    return impl_->Context(objects.status());
  }
  return objects;
}

Result<std::vector<StoredObject>> LocalStore::Members(const std::string& group, bool effective) {
  auto& db = *impl_->db;
  // An externalId match wins; a displayName must name exactly one group.
  auto find = db.Prepare(
      "SELECT external_id FROM groups WHERE external_id = ?1 "
      "UNION ALL SELECT external_id FROM groups WHERE display_name = ?1 AND external_id <> ?1 "
      "AND NOT EXISTS (SELECT 1 FROM groups WHERE external_id = ?1)");
  if (!find.ok()) {
    return impl_->Context(find.status());
  }
  find->Bind(1, std::string_view(group));
  std::vector<std::string> matches;
  Status st = find->ForEachRow([&](const sql::Statement& row) {
    matches.push_back(row.ColumnText(0));
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  if (matches.empty()) {
    return Status::NotFound("no group with displayName or externalId '" + group +
                            "' in local store " + impl_->path);
  }
  if (matches.size() > 1) {
    return Status::InvalidArgument(std::to_string(matches.size()) + " groups in local store " +
                                   impl_->path + " have displayName '" + group +
                                   "'; name the group by its externalId");
  }

  const std::string source = effective ? "effective_members" : "group_members";
  std::vector<StoredObject> members;
  for (auto [kind, filter] :
       {std::pair{ObjectKind::kUser, "WHERE u.external_id IN (SELECT member_external_id FROM " +
                                         source + " WHERE group_external_id = ?1) "},
        {ObjectKind::kGroup, "WHERE g.external_id IN (SELECT member_external_id FROM " + source +
                                 " WHERE group_external_id = ?1) "}}) {
    auto objects = impl_->Read(kind, filter, matches.front());
    if (!objects.ok()) {
      return impl_->Context(objects.status());
    }
    for (auto& o : *objects) {
      members.push_back(std::move(o));
    }
  }
  return members;
}

}  // namespace syncd
