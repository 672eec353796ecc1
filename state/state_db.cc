#include "state/state_db.h"

#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <optional>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "core/sqlite.h"
#include "core/strings.h"

namespace syncd {
namespace {

namespace json = boost::json;

// Migration i takes the schema from version i to i + 1; append, never edit.
// sid_history keeps a seq column so that the cached image round-trips in the
// order AD returned it (a reordered vector would read as an attribute change).
const std::vector<std::string> kMigrations = {
    R"sql(
CREATE TABLE objects (
  guid BLOB PRIMARY KEY NOT NULL,
  kind TEXT NOT NULL,
  external_id TEXT NOT NULL,
  name TEXT NOT NULL,
  dn TEXT NOT NULL,
  attributes TEXT NOT NULL,
  sid BLOB,
  sam_account_name TEXT,
  user_principal_name TEXT,
  mail TEXT
);
CREATE INDEX objects_sid ON objects(sid);
CREATE INDEX objects_sam_account_name ON objects(sam_account_name);
CREATE INDEX objects_user_principal_name ON objects(user_principal_name);
CREATE INDEX objects_mail ON objects(mail);
CREATE TABLE sid_history (
  guid BLOB NOT NULL,
  sid BLOB NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (guid, sid)
);
CREATE INDEX sid_history_sid ON sid_history(sid);
CREATE TABLE memberships (
  group_guid BLOB NOT NULL,
  member_guid BLOB NOT NULL,
  PRIMARY KEY (group_guid, member_guid)
);
CREATE INDEX memberships_member ON memberships(member_guid);
CREATE TABLE outbox (
  run_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  operation TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
);
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  outcome TEXT NOT NULL,
  counts TEXT NOT NULL DEFAULT '{}',
  message TEXT NOT NULL DEFAULT ''
);
)sql",
    // A single row: the change feed's position and the DC it belongs to.
    R"sql(
CREATE TABLE watermark (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  feed TEXT NOT NULL,
  naming_context TEXT NOT NULL,
  dc_host TEXT NOT NULL,
  dsa_dn TEXT NOT NULL,
  invocation_id BLOB,
  highest_usn INTEGER NOT NULL DEFAULT 0,
  cookie BLOB,
  object_security INTEGER NOT NULL DEFAULT 0,
  scope_fingerprint TEXT NOT NULL,
  last_success INTEGER NOT NULL,
  last_full INTEGER NOT NULL,
  tombstone_lifetime_days INTEGER NOT NULL
);
CREATE TABLE revisit (
  guid BLOB PRIMARY KEY NOT NULL
);
)sql",
    // Assignments, the identity keys that find their principal again after a
    // source switch (mS-DS-ConsistencyGuid, the source's domain SID).
    // One active row per (principal, target); rows that are no longer active
    // stay as the record of what was granted.
    R"sql(
ALTER TABLE objects ADD COLUMN consistency_guid BLOB;
ALTER TABLE watermark ADD COLUMN domain_sid BLOB;
ALTER TABLE watermark ADD COLUMN reapply_pending INTEGER NOT NULL DEFAULT 0;
CREATE TABLE assignments (
  id INTEGER PRIMARY KEY,
  target TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  changed_at INTEGER NOT NULL,
  reason TEXT NOT NULL,
  kind TEXT NOT NULL,
  guid BLOB NOT NULL,
  external_id TEXT NOT NULL,
  name TEXT NOT NULL,
  dn TEXT NOT NULL,
  display_name TEXT,
  sid BLOB,
  sid_history TEXT NOT NULL,
  consistency_guid BLOB,
  user_principal_name TEXT,
  sam_account_name TEXT,
  mail TEXT,
  domain_sid BLOB,
  domain_name TEXT
);
CREATE INDEX assignments_guid ON assignments(guid);
CREATE UNIQUE INDEX assignments_active ON assignments(guid, target) WHERE status = 'active';
)sql",
    // The store the cache describes (its StoreIdentity id): a replaced or
    // recreated store is reconciled in full.
    R"sql(
ALTER TABLE watermark ADD COLUMN store_id TEXT NOT NULL DEFAULT '';
ALTER TABLE watermark ADD COLUMN reconcile_pending INTEGER NOT NULL DEFAULT 0;
)sql",
};

std::string_view View(const json::string& s) { return {s.data(), s.size()}; }

// Values syncd writes are ordinary strings, but attribute values come from a
// directory and are not guaranteed UTF-8: serialize passes bytes through, so
// the parser must accept them back.
Result<json::value> ParseJson(std::string_view text) {
  json::parse_options options;
  options.allow_invalid_utf8 = true;
  json::error_code ec;
  json::value value = json::parse(json::string_view(text.data(), text.size()), ec, {}, options);
  if (ec) {
    return Status::DataLoss("invalid JSON: " + ec.message());
  }
  return value;
}

// ParseJson, then requires an object; `not_object` is the error otherwise.
Result<json::object> ParseJsonObject(std::string_view text, const char* not_object) {
  auto value = ParseJson(text);
  if (!value.ok()) {
    return value.status();
  }
  json::object* obj = value->if_object();
  if (obj == nullptr) {
    return Status::DataLoss(not_object);
  }
  return std::move(*obj);
}

json::object AttributesToJson(const Attributes& attributes) {
  json::object out;
  for (const auto& [name, value] : attributes) {
    out[name] = value;
  }
  return out;
}

Status AttributesFromJson(const json::value& value, Attributes* out) {
  const json::object* obj = value.if_object();
  if (obj == nullptr) {
    return Status::DataLoss("attributes are not a JSON object");
  }
  for (const auto& [name, v] : *obj) {
    const json::string* s = v.if_string();
    if (s == nullptr) {
      return Status::DataLoss("attribute " + std::string(name) + " is not a string");
    }
    (*out)[std::string(name)] = std::string(View(*s));
  }
  return Status::Ok();
}

// Reads obj[key] as a string into *out; absent leaves *out unchanged.
Status GetString(const json::object& obj, std::string_view key, std::string* out) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr) {
    return Status::Ok();
  }
  const json::string* s = v->if_string();
  if (s == nullptr) {
    return Status::DataLoss("field " + std::string(key) + " is not a string");
  }
  *out = std::string(View(*s));
  return Status::Ok();
}

Status GetHex(const json::object& obj, std::string_view key, std::string* out) {
  std::string hex;
  Status st = GetString(obj, key, &hex);
  if (!st.ok()) {
    return st;
  }
  auto bytes = HexDecode(hex);
  if (!bytes) {
    return Status::DataLoss("field " + std::string(key) + " is not hex");
  }
  *out = std::move(*bytes);
  return Status::Ok();
}

// Calls on_entry for each element of the array obj[key], in order, and stops
// at and returns the first error; an absent key reads as an empty array.
Status ForEachEntry(const json::object& obj, std::string_view key,
                    const std::function<Status(const json::value&)>& on_entry) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr) {
    return Status::Ok();
  }
  const json::array* arr = v->if_array();
  if (arr == nullptr) {
    return Status::DataLoss(std::string(key) + " is not an array");
  }
  for (const auto& entry : *arr) {
    Status st = on_entry(entry);
    if (!st.ok()) {
      return st;
    }
  }
  return Status::Ok();
}

json::object ObjectToJson(const SyncObject& o) {
  json::array sid_history;
  for (const auto& sid : o.sid_history) {
    sid_history.emplace_back(HexEncode(sid));
  }
  return {
      {"guid", HexEncode(o.guid)},
      {"kind", KindName(o.kind)},
      {"external_id", o.external_id},
      {"name", o.name},
      {"dn", o.dn},
      {"attributes", AttributesToJson(o.attributes)},
      {"sid", HexEncode(o.sid)},
      {"sid_history", std::move(sid_history)},
      {"sam_account_name", o.sam_account_name},
      {"user_principal_name", o.user_principal_name},
      {"mail", o.mail},
      {"consistency_guid", HexEncode(o.consistency_guid)},
  };
}

Status ObjectFromJson(const json::value& value, SyncObject* o) {
  const json::object* obj = value.if_object();
  if (obj == nullptr) {
    return Status::DataLoss("object is not a JSON object");
  }
  std::string kind;
  for (Status st :
       {GetHex(*obj, "guid", &o->guid), GetString(*obj, "kind", &kind),
        GetString(*obj, "external_id", &o->external_id), GetString(*obj, "name", &o->name),
        GetString(*obj, "dn", &o->dn), GetHex(*obj, "sid", &o->sid),
        GetString(*obj, "sam_account_name", &o->sam_account_name),
        GetString(*obj, "user_principal_name", &o->user_principal_name),
        GetString(*obj, "mail", &o->mail),
        GetHex(*obj, "consistency_guid", &o->consistency_guid)}) {
    if (!st.ok()) {
      return st;
    }
  }
  auto parsed_kind = ParseKind(kind);
  if (!parsed_kind) {
    return Status::DataLoss("unknown object kind '" + kind + "'");
  }
  o->kind = *parsed_kind;
  if (const json::value* attrs = obj->if_contains("attributes")) {
    Status st = AttributesFromJson(*attrs, &o->attributes);
    if (!st.ok()) {
      return st;
    }
  }
  return ForEachEntry(*obj, "sid_history", [&](const json::value& entry) {
    const json::string* s = entry.if_string();
    auto bytes = s ? HexDecode(View(*s)) : std::nullopt;
    if (!bytes) {
      return Status::DataLoss("sid_history entry is not a hex string");
    }
    o->sid_history.push_back(std::move(*bytes));
    return Status::Ok();
  });
}

std::string OperationToJson(const Operation& op) {
  json::array changes;
  for (const auto& change : op.changes) {
    json::object c{{"attribute", change.attribute}};
    // Absent keys encode nullopt, so "" and "absent" stay distinct.
    if (change.old_value) {
      c["old"] = *change.old_value;
    }
    if (change.new_value) {
      c["new"] = *change.new_value;
    }
    changes.emplace_back(std::move(c));
  }
  json::object out{
      {"op", OpName(op.op)},
      {"kind", KindName(op.kind)},
      {"object", ObjectToJson(op.object)},
      {"changes", std::move(changes)},
  };
  if (op.member) {
    out["member"] = ObjectToJson(*op.member);
  }
  return json::serialize(out);
}

Result<Operation> OperationFromJson(std::string_view text) {
  auto obj = ParseJsonObject(text, "operation is not a JSON object");
  if (!obj.ok()) {
    return obj.status();
  }
  Operation op;
  std::string op_name;
  std::string kind;
  Status st = GetString(*obj, "op", &op_name);
  if (st.ok()) {
    st = GetString(*obj, "kind", &kind);
  }
  if (!st.ok()) {
    return st;
  }
  auto type = ParseOp(op_name);
  if (!type) {
    return Status::DataLoss("unknown operation '" + op_name + "'");
  }
  op.op = *type;
  auto parsed_kind = ParseKind(kind);
  if (!parsed_kind) {
    return Status::DataLoss("unknown object kind '" + kind + "'");
  }
  op.kind = *parsed_kind;
  const json::value* object = obj->if_contains("object");
  if (object == nullptr) {
    return Status::DataLoss("operation has no object");
  }
  st = ObjectFromJson(*object, &op.object);
  if (!st.ok()) {
    return st.WithContext("object");
  }
  st = ForEachEntry(*obj, "changes", [&](const json::value& entry) {
    const json::object* c = entry.if_object();
    if (c == nullptr) {
      return Status::DataLoss("change is not a JSON object");
    }
    AttributeChange change;
    Status change_st = GetString(*c, "attribute", &change.attribute);
    for (auto [key, field] : {std::pair{"old", &change.old_value}, {"new", &change.new_value}}) {
      if (!change_st.ok()) {
        break;
      }
      if (c->contains(key)) {
        change_st = GetString(*c, key, &field->emplace());
      }
    }
    if (!change_st.ok()) {
      return change_st.WithContext("change");
    }
    op.changes.push_back(std::move(change));
    return Status::Ok();
  });
  if (!st.ok()) {
    return st;
  }
  if (const json::value* member = obj->if_contains("member")) {
    st = ObjectFromJson(*member, &op.member.emplace());
    if (!st.ok()) {
      return st.WithContext("member");
    }
  }
  return op;
}

std::string CountsToJson(const std::map<std::string, int64_t>& counts) {
  json::object out;
  for (const auto& [name, n] : counts) {
    out[name] = n;
  }
  return json::serialize(out);
}

Result<std::map<std::string, int64_t>> CountsFromJson(std::string_view text) {
  std::map<std::string, int64_t> counts;
  if (text.empty()) {
    return counts;
  }
  auto obj = ParseJsonObject(text, "counts are not a JSON object");
  if (!obj.ok()) {
    return obj.status();
  }
  for (const auto& [name, v] : *obj) {
    json::error_code ec;
    auto n = v.to_number<int64_t>(ec);
    if (ec) {
      return Status::DataLoss("count " + std::string(name) + " is not an integer");
    }
    counts[std::string(name)] = n;
  }
  return counts;
}

// Empty secondary keys are stored as NULL so the indexes do not group every
// object without a mail (say) under "".
void BindTextOrNull(sql::Statement& stmt, int index, const std::string& text) {
  if (text.empty()) {
    stmt.BindNull(index);
  } else {
    stmt.Bind(index, std::string_view(text));
  }
}

void BindBlobOrNull(sql::Statement& stmt, int index, const std::string& bytes) {
  if (bytes.empty()) {
    stmt.BindNull(index);
  } else {
    stmt.BindBlob(index, bytes);
  }
}

// The principal's identity keys in a ledger row, kept current with the
// cached object: ?1 guid, then ?2.. as BindLedgerKeys binds them.
constexpr char kRefreshLedger[] =
    "UPDATE assignments SET external_id = ?2, name = ?3, dn = ?4, display_name = ?5, sid = ?6, "
    "sid_history = ?7, consistency_guid = ?8, user_principal_name = ?9, sam_account_name = ?10, "
    "mail = ?11, domain_sid = ?12, domain_name = ?13 WHERE guid = ?1 AND status = 'active'";

std::string JoinHex(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ",") + HexEncode(v);
  return out;
}

Result<std::vector<std::string>> SplitHex(std::string_view text) {
  std::vector<std::string> values;
  while (!text.empty()) {
    const size_t comma = std::min(text.find(','), text.size());
    auto bytes = HexDecode(text.substr(0, comma));
    if (!bytes) return Status::DataLoss("sid_history is not a list of hex values");
    values.push_back(std::move(*bytes));
    text.remove_prefix(std::min(comma + 1, text.size()));
  }
  return values;
}

std::string DisplayNameOf(const SyncObject& o) {
  auto it = o.attributes.find("displayName");
  return it == o.attributes.end() ? "" : it->second;
}

// Binds ?1 (guid) to ?13 of kRefreshLedger from `o`; the domain comes from
// the object's own SID and DN.
void BindLedgerKeys(sql::Statement& s, const SyncObject& o) {
  s.BindBlob(1, o.guid)
      .Bind(2, std::string_view(o.external_id))
      .Bind(3, std::string_view(o.name))
      .Bind(4, std::string_view(o.dn));
  BindTextOrNull(s, 5, DisplayNameOf(o));
  BindBlobOrNull(s, 6, o.sid);
  s.Bind(7, std::string_view(JoinHex(o.sid_history)));
  BindBlobOrNull(s, 8, o.consistency_guid);
  BindTextOrNull(s, 9, o.user_principal_name);
  BindTextOrNull(s, 10, o.sam_account_name);
  BindTextOrNull(s, 11, o.mail);
  BindBlobOrNull(s, 12, DomainSidOf(o.sid));
  BindTextOrNull(s, 13, DnsDomainOf(o.dn));
}

// The applier for one CommitRun: its statements come from the database's
// statement cache, compiled once per process and reused per operation.
class CacheWriter {
 public:
  // Ledger rows of principals the run deletes become orphaned at `now`
  // (unix seconds) with `removal_reason`.
  static Result<CacheWriter> Create(sql::Database& db, int64_t now, std::string removal_reason) {
    CacheWriter w;
    w.now_ = now;
    w.removal_reason_ = std::move(removal_reason);
    // Most runs touch no principal with an assignment: skip the per-object
    // ledger statements when there is none.
    auto active =
        db.PrepareCached("SELECT EXISTS (SELECT 1 FROM assignments WHERE status = 'active')");
    if (!active.ok()) {
      return active.status();
    }
    auto row = active->Step();
    if (!row.ok()) {
      return row.status();
    }
    w.ledger_active_ = *row && active->ColumnInt(0) != 0;
    active->Reset();
    for (auto [stmt, text] : {
             std::pair{&w.upsert_,
                       "INSERT INTO objects (guid, kind, external_id, name, dn, attributes, sid, "
                       "sam_account_name, user_principal_name, mail, consistency_guid) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                       "ON CONFLICT (guid) DO UPDATE SET kind = excluded.kind, "
                       "external_id = excluded.external_id, name = excluded.name, "
                       "dn = excluded.dn, attributes = excluded.attributes, sid = excluded.sid, "
                       "sam_account_name = excluded.sam_account_name, "
                       "user_principal_name = excluded.user_principal_name, "
                       "mail = excluded.mail, consistency_guid = excluded.consistency_guid"},
             {&w.refresh_ledger_, kRefreshLedger},
             {&w.orphan_ledger_,
              "UPDATE assignments SET status = 'orphaned', changed_at = ?2, reason = ?3 "
              "WHERE guid = ?1 AND status = 'active'"},
             {&w.delete_object_, "DELETE FROM objects WHERE guid = ?1"},
             {&w.delete_sid_history_, "DELETE FROM sid_history WHERE guid = ?1"},
             {&w.insert_sid_history_,
              "INSERT OR IGNORE INTO sid_history (guid, sid, seq) VALUES (?1, ?2, ?3)"},
             {&w.delete_edges_of_,
              "DELETE FROM memberships WHERE group_guid = ?1 OR member_guid = ?1"},
             {&w.insert_edge_,
              "INSERT OR IGNORE INTO memberships (group_guid, member_guid) VALUES (?1, ?2)"},
             {&w.delete_edge_,
              "DELETE FROM memberships WHERE group_guid = ?1 AND member_guid = ?2"},
         }) {
      auto prepared = db.PrepareCached(text);
      if (!prepared.ok()) {
        return prepared.status();
      }
      stmt->emplace(std::move(prepared).value());
    }
    return w;
  }

  Status Apply(const Operation& op) {
    const SyncObject& o = op.object;
    if (o.guid.empty()) {
      return Status::InvalidArgument("the object has no objectGUID");
    }
    switch (op.op) {
      case OpType::kCreate:
      case OpType::kUpdate:
        return Upsert(o);
      case OpType::kDelete: {
        Status st = delete_object_->BindBlob(1, o.guid).Run();
        if (st.ok()) {
          st = delete_sid_history_->BindBlob(1, o.guid).Run();
        }
        if (st.ok() && ledger_active_) {
          st = orphan_ledger_->BindBlob(1, o.guid)
                   .Bind(2, now_)
                   .Bind(3, std::string_view(removal_reason_))
                   .Run();
        }
        if (st.ok()) {
          st = delete_edges_of_->BindBlob(1, o.guid).Run();
        }
        return st;
      }
      case OpType::kAddMember:
      case OpType::kRemoveMember: {
        if (!op.member || op.member->guid.empty()) {
          return Status::InvalidArgument("the membership operation has no member objectGUID");
        }
        auto& stmt = op.op == OpType::kAddMember ? insert_edge_ : delete_edge_;
        return stmt->BindBlob(1, o.guid).BindBlob(2, op.member->guid).Run();
      }
    }
    return Status::Internal("unknown operation type");
  }

 private:
  CacheWriter() = default;

  Status Upsert(const SyncObject& o) {
    auto& s = *upsert_;
    s.BindBlob(1, o.guid)
        .Bind(2, std::string_view(KindName(o.kind)))
        .Bind(3, std::string_view(o.external_id))
        .Bind(4, std::string_view(o.name))
        .Bind(5, std::string_view(o.dn))
        .Bind(6, std::string_view(json::serialize(AttributesToJson(o.attributes))));
    BindBlobOrNull(s, 7, o.sid);
    BindTextOrNull(s, 8, o.sam_account_name);
    BindTextOrNull(s, 9, o.user_principal_name);
    BindTextOrNull(s, 10, o.mail);
    BindBlobOrNull(s, 11, o.consistency_guid);
    Status st = s.Run();
    if (st.ok() && ledger_active_) {
      BindLedgerKeys(*refresh_ledger_, o);
      st = refresh_ledger_->Run();
    }
    if (st.ok()) {
      st = delete_sid_history_->BindBlob(1, o.guid).Run();
    }
    for (size_t i = 0; st.ok() && i < o.sid_history.size(); ++i) {
      st = insert_sid_history_->BindBlob(1, o.guid)
               .BindBlob(2, o.sid_history[i])
               .Bind(3, static_cast<int64_t>(i))
               .Run();
    }
    return st;
  }

  std::optional<sql::Statement> upsert_, delete_object_, delete_sid_history_, insert_sid_history_,
      delete_edges_of_, insert_edge_, delete_edge_, refresh_ledger_, orphan_ledger_;
  int64_t now_ = 0;
  std::string removal_reason_;
  bool ledger_active_ = false;  // the ledger holds an active entry
};

}  // namespace

struct StateDb::Impl {
  std::unique_ptr<sql::Database> db;
  std::string path;  // as the caller named it; db->path() may be ":memory:"
  bool read_only = false;
  int schema_version = 0;
  // The open transaction of StageRun, until CommitStaged or RollbackStaged.
  // Declared after db: it goes first.
  std::unique_ptr<sql::Transaction> staged;

  Status Context(const Status& st) const { return st.WithContext("state file " + path); }

  Status CheckWritable() const {
    if (!read_only) {
      return Status::Ok();
    }
    return Status::Internal("state file " + path +
                            " is open read-only (dry run); refusing to write to it");
  }

  Status StoreWatermark(const Watermark& w) {
    auto stmt = db->Prepare(
        "INSERT OR REPLACE INTO watermark (id, feed, naming_context, dc_host, dsa_dn, "
        "invocation_id, highest_usn, cookie, object_security, scope_fingerprint, last_success, "
        "last_full, tombstone_lifetime_days, domain_sid, reapply_pending, store_id, "
        "reconcile_pending) "
        "VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    if (!stmt.ok()) {
      return stmt.status();
    }
    stmt->Bind(1, std::string_view(w.feed))
        .Bind(2, std::string_view(w.naming_context))
        .Bind(3, std::string_view(w.dc_host))
        .Bind(4, std::string_view(w.dsa_dn));
    BindBlobOrNull(*stmt, 5, w.invocation_id);
    stmt->Bind(6, w.highest_usn);
    BindBlobOrNull(*stmt, 7, w.cookie);
    Status st = stmt->Bind(8, static_cast<int64_t>(w.object_security ? 1 : 0))
                    .Bind(9, std::string_view(w.scope_fingerprint))
                    .Bind(10, w.last_success)
                    .Bind(11, w.last_full)
                    .Bind(12, static_cast<int64_t>(w.tombstone_lifetime_days))
                    .BindBlob(13, w.domain_sid)
                    .Bind(14, static_cast<int64_t>(w.reapply_pending ? 1 : 0))
                    .Bind(15, std::string_view(w.store_id))
                    .Bind(16, static_cast<int64_t>(w.reconcile_pending ? 1 : 0))
                    .Run();
    if (st.ok()) {
      st = db->Exec("DELETE FROM revisit");
    }
    auto insert = db->Prepare("INSERT OR IGNORE INTO revisit (guid) VALUES (?1)");
    if (st.ok() && !insert.ok()) {
      st = insert.status();
    }
    for (size_t i = 0; st.ok() && i < w.revisit.size(); ++i) {
      st = insert->BindBlob(1, w.revisit[i]).Run();
    }
    return st;
  }

  Status UpdateRun(const RunRecord& record) {
    auto stmt = db->Prepare(
        "UPDATE runs SET finished_at = ?1, outcome = ?2, counts = ?3, message = ?4 WHERE id = ?5");
    if (!stmt.ok()) {
      return stmt.status();
    }
    Status st = stmt->Bind(1, record.finished_at)
                    .Bind(2, std::string_view(record.outcome))
                    .Bind(3, std::string_view(CountsToJson(record.counts)))
                    .Bind(4, std::string_view(record.message))
                    .Bind(5, record.id)
                    .Run();
    if (!st.ok()) {
      return st;
    }
    if (db->Changes() == 0) {
      return Status::NotFound("run " + std::to_string(record.id) + " has no run record");
    }
    return Status::Ok();
  }
};

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
  const int latest = static_cast<int>(kMigrations.size());

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
    Status st = impl->db->Migrate(kMigrations);
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

namespace {

constexpr char kSelectObjects[] =
    "SELECT guid, kind, external_id, name, dn, attributes, sid, sam_account_name, "
    "user_principal_name, mail, consistency_guid FROM objects";

// One row of kSelectObjects; errors name the object.
Status ReadObjectRow(const sql::Statement& row, SyncObject* o) {
  o->guid = row.ColumnBlob(0);
  o->external_id = row.ColumnText(2);
  std::string kind = row.ColumnText(1);
  auto parsed_kind = ParseKind(kind);
  if (!parsed_kind) {
    return Status::DataLoss("object " + o->external_id + ": unknown kind '" + kind + "'");
  }
  o->kind = *parsed_kind;
  o->name = row.ColumnText(3);
  o->dn = row.ColumnText(4);
  auto attributes = ParseJson(row.ColumnText(5));
  Status st =
      attributes.ok() ? AttributesFromJson(*attributes, &o->attributes) : attributes.status();
  if (!st.ok()) {
    return st.WithContext("object " + o->external_id);
  }
  o->sid = row.ColumnBlob(6);
  o->sam_account_name = row.ColumnText(7);
  o->user_principal_name = row.ColumnText(8);
  o->mail = row.ColumnText(9);
  o->consistency_guid = row.ColumnBlob(10);
  return Status::Ok();
}

}  // namespace

Result<std::vector<SyncObject>> StateDb::LoadObjects() {
  auto& db = *impl_->db;
  std::vector<SyncObject> objects;
  std::unordered_map<std::string, size_t> by_guid;
  auto stmt = db.Prepare(std::string(kSelectObjects) + " ORDER BY guid");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    SyncObject o;
    Status row_st = ReadObjectRow(row, &o);
    if (!row_st.ok()) {
      return row_st;
    }
    by_guid.emplace(o.guid, objects.size());
    objects.push_back(std::move(o));
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }

  auto history = db.Prepare("SELECT guid, sid FROM sid_history ORDER BY guid, seq");
  if (!history.ok()) {
    return impl_->Context(history.status());
  }
  st = history->ForEachRow([&](const sql::Statement& row) {
    auto it = by_guid.find(row.ColumnBlob(0));
    if (it != by_guid.end()) {
      objects[it->second].sid_history.push_back(row.ColumnBlob(1));
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  return objects;
}

Result<std::vector<SyncObject>> StateDb::LoadObjects(const std::vector<std::string>& guids) {
  auto& db = *impl_->db;
  auto object = db.PrepareCached(std::string(kSelectObjects) + " WHERE guid = ?1");
  auto history = db.PrepareCached("SELECT sid FROM sid_history WHERE guid = ?1 ORDER BY seq");
  if (!object.ok() || !history.ok()) {
    return impl_->Context(object.ok() ? history.status() : object.status());
  }
  std::vector<SyncObject> objects;
  for (const auto& guid : guids) {
    SyncObject o;
    bool found = false;
    Status st = object->BindBlob(1, guid).ForEachRow([&](const sql::Statement& row) {
      found = true;
      return ReadObjectRow(row, &o);
    });
    if (st.ok() && found) {
      st = history->BindBlob(1, guid).ForEachRow([&](const sql::Statement& row) {
        o.sid_history.push_back(row.ColumnBlob(0));
        return Status::Ok();
      });
    }
    if (!st.ok()) {
      return impl_->Context(st);
    }
    if (found) {
      objects.push_back(std::move(o));
    }
  }
  return objects;
}

Result<std::unordered_map<std::string, SyncObject>> StateDb::LoadIdentities(
    const std::vector<std::string>& guids) {
  auto stmt =
      impl_->db->PrepareCached("SELECT kind, external_id, name FROM objects WHERE guid = ?1");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  std::unordered_map<std::string, SyncObject> identities;
  for (const auto& guid : guids) {
    Status st = stmt->BindBlob(1, guid).ForEachRow([&](const sql::Statement& row) {
      auto kind = ParseKind(row.ColumnText(0));
      if (!kind) {
        return Status::DataLoss("object " + row.ColumnText(1) + ": unknown kind");
      }
      SyncObject& o = identities[guid];
      o.guid = guid;
      o.kind = *kind;
      o.external_id = row.ColumnText(1);
      o.name = row.ColumnText(2);
      return Status::Ok();
    });
    if (!st.ok()) {
      return impl_->Context(st);
    }
  }
  return identities;
}

Result<std::vector<Membership>> StateDb::LoadMembershipsTouching(
    const std::vector<std::string>& guids) {
  auto stmt = impl_->db->PrepareCached(
      "SELECT group_guid, member_guid FROM memberships WHERE group_guid = ?1 "
      "UNION SELECT group_guid, member_guid FROM memberships WHERE member_guid = ?1");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  std::vector<Membership> memberships;
  for (const auto& guid : guids) {
    Status st = stmt->BindBlob(1, guid).ForEachRow([&](const sql::Statement& row) {
      memberships.push_back({row.ColumnBlob(0), row.ColumnBlob(1)});
      return Status::Ok();
    });
    if (!st.ok()) {
      return impl_->Context(st);
    }
  }
  std::sort(memberships.begin(), memberships.end());
  memberships.erase(std::unique(memberships.begin(), memberships.end()), memberships.end());
  return memberships;
}

Result<std::map<std::string, int64_t>> StateDb::CountObjects() {
  auto stmt = impl_->db->Prepare("SELECT kind, COUNT(*) FROM objects GROUP BY kind");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  std::map<std::string, int64_t> counts;
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    counts[row.ColumnText(0)] = row.ColumnInt(1);
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  return counts;
}

Result<std::optional<Watermark>> StateDb::LoadWatermark() {
  auto stmt = impl_->db->Prepare(
      "SELECT feed, naming_context, dc_host, dsa_dn, invocation_id, highest_usn, cookie, "
      "object_security, scope_fingerprint, last_success, last_full, tombstone_lifetime_days, "
      "domain_sid, reapply_pending, store_id, reconcile_pending FROM watermark WHERE id = 1");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  std::optional<Watermark> found;
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    Watermark w;
    w.feed = row.ColumnText(0);
    w.naming_context = row.ColumnText(1);
    w.dc_host = row.ColumnText(2);
    w.dsa_dn = row.ColumnText(3);
    w.invocation_id = row.ColumnBlob(4);
    w.highest_usn = row.ColumnInt(5);
    w.cookie = row.ColumnBlob(6);
    w.object_security = row.ColumnInt(7) != 0;
    w.scope_fingerprint = row.ColumnText(8);
    w.last_success = row.ColumnInt(9);
    w.last_full = row.ColumnInt(10);
    w.tombstone_lifetime_days = static_cast<int>(row.ColumnInt(11));
    w.domain_sid = row.ColumnBlob(12);
    w.reapply_pending = row.ColumnInt(13) != 0;
    w.store_id = row.ColumnText(14);
    w.reconcile_pending = row.ColumnInt(15) != 0;
    found = std::move(w);
    return Status::Ok();
  });
  if (st.ok() && found) {
    auto revisit = impl_->db->Prepare("SELECT guid FROM revisit ORDER BY guid");
    st = revisit.ok() ? revisit->ForEachRow([&](const sql::Statement& row) {
      found->revisit.push_back(row.ColumnBlob(0));
      return Status::Ok();
    })
                      : revisit.status();
  }
  if (!st.ok()) {
    return impl_->Context(st);
  }
  return found;
}

Result<std::vector<Membership>> StateDb::LoadMemberships() {
  auto stmt = impl_->db->Prepare(
      "SELECT group_guid, member_guid FROM memberships ORDER BY group_guid, member_guid");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  std::vector<Membership> memberships;
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    memberships.push_back({row.ColumnBlob(0), row.ColumnBlob(1)});
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  return memberships;
}

Result<int64_t> StateDb::BeginRun(const std::string& kind, int64_t started_at) {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  auto stmt = impl_->db->Prepare(
      "INSERT INTO runs (kind, started_at, outcome) VALUES (?1, ?2, 'running') RETURNING id");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  stmt->Bind(1, std::string_view(kind)).Bind(2, started_at);
  auto row = stmt->Step();
  if (!row.ok()) {
    return impl_->Context(row.status());
  }
  if (!*row) {
    return Status::Internal("state file " + impl_->path + ": run insert returned no id");
  }
  int64_t id = stmt->ColumnInt(0);
  // Finish the statement so the insert's implicit transaction commits now.
  Status st = stmt->Run();
  if (!st.ok()) {
    return impl_->Context(st);
  }
  return id;
}

Status StateDb::WriteOutbox(int64_t run_id, const std::vector<Operation>& ops) {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  auto& db = *impl_->db;
  sql::Transaction txn(db);
  if (!txn.status().ok()) {
    return impl_->Context(txn.status());
  }

  auto pending = db.Prepare("SELECT run_id FROM outbox LIMIT 1");
  if (!pending.ok()) {
    return impl_->Context(pending.status());
  }
  auto row = pending->Step();
  if (!row.ok()) {
    return impl_->Context(row.status());
  }
  if (*row) {
    return Status::Internal("state file " + impl_->path + " still holds the outbox of run " +
                            std::to_string(pending->ColumnInt(0)) +
                            "; it must be recovered before run " + std::to_string(run_id) +
                            " can journal operations");
  }

  auto insert = db.Prepare("INSERT INTO outbox (run_id, seq, operation) VALUES (?1, ?2, ?3)");
  if (!insert.ok()) {
    return impl_->Context(insert.status());
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    Status st = insert->Bind(1, run_id)
                    .Bind(2, static_cast<int64_t>(i))
                    .Bind(3, std::string_view(OperationToJson(ops[i])))
                    .Run();
    if (!st.ok()) {
      return impl_->Context(st);
    }
  }
  return impl_->Context(txn.Commit());
}

Result<std::vector<Operation>> StateDb::PendingOutbox(int64_t* run_id) {
  auto& db = *impl_->db;
  if (run_id != nullptr) {
    *run_id = 0;
  }
  std::vector<Operation> ops;
  auto lowest = db.Prepare("SELECT MIN(run_id) FROM outbox");
  if (!lowest.ok()) {
    return impl_->Context(lowest.status());
  }
  auto row = lowest->Step();
  if (!row.ok()) {
    return impl_->Context(row.status());
  }
  if (!*row || lowest->ColumnIsNull(0)) {
    return ops;
  }
  const int64_t id = lowest->ColumnInt(0);

  auto stmt = db.Prepare("SELECT seq, operation FROM outbox WHERE run_id = ?1 ORDER BY seq");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  stmt->Bind(1, id);
  Status st = stmt->ForEachRow([&](const sql::Statement& entry) {
    auto op = OperationFromJson(entry.ColumnText(1));
    if (!op.ok()) {
      return op.status().WithContext("outbox of run " + std::to_string(id) + ", entry " +
                                     std::to_string(entry.ColumnInt(0)));
    }
    ops.push_back(std::move(op).value());
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  if (run_id != nullptr) {
    *run_id = id;
  }
  return ops;
}

Status StateDb::CommitRun(const RunRecord& record, const std::vector<Operation>& ops,
                          const Watermark* watermark) {
  Status st = StageRun(record, ops, watermark);
  return st.ok() ? CommitStaged() : st;
}

Status StateDb::StageRun(const RunRecord& record, const std::vector<Operation>& ops,
                         const Watermark* watermark) {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  if (impl_->staged) {
    return impl_->Context(Status::Internal("a staged run is still open"));
  }
  auto& db = *impl_->db;
  auto txn = std::make_unique<sql::Transaction>(db);
  if (!txn->status().ok()) {
    return impl_->Context(txn->status());
  }

  auto writer = CacheWriter::Create(db, record.finished_at,
                                    record.removal_reason.empty()
                                        ? "left the store in run " + std::to_string(record.id)
                                        : record.removal_reason);
  if (!writer.ok()) {
    return impl_->Context(writer.status());
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    const Operation& op = ops[i];
    Status st = writer->Apply(op);
    if (!st.ok()) {
      return impl_->Context(st.WithContext("operation " + std::to_string(i) + " (" + OpName(op.op) +
                                           " " + KindName(op.kind) + " " + op.object.name +
                                           ", externalId " + op.object.external_id + ")"));
    }
  }
  // Only this run's journal: never another run's.
  auto clear = db.Prepare("DELETE FROM outbox WHERE run_id = ?1");
  Status st = clear.ok() ? clear->Bind(1, record.id).Run() : clear.status();
  if (st.ok()) {
    st = impl_->UpdateRun(record);
  }
  if (st.ok() && watermark != nullptr) {
    st = impl_->StoreWatermark(*watermark);
  }
  if (!st.ok()) {
    return impl_->Context(st);
  }
  impl_->staged = std::move(txn);
  return Status::Ok();
}

Status StateDb::CommitStaged() {
  if (!impl_->staged) {
    return impl_->Context(Status::Internal("no staged run to commit"));
  }
  // A failed COMMIT rolls back when the transaction goes.
  Status st = impl_->staged->Commit();
  impl_->staged.reset();
  return impl_->Context(st);
}

void StateDb::RollbackStaged() { impl_->staged.reset(); }

Status StateDb::FinishRun(const RunRecord& record) {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  return impl_->Context(impl_->UpdateRun(record));
}

Result<std::vector<RunRecord>> StateDb::RecentRuns(int limit) {
  auto stmt = impl_->db->Prepare(
      "SELECT id, kind, started_at, finished_at, outcome, counts, message FROM runs "
      "ORDER BY id DESC LIMIT ?1");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  stmt->Bind(1, static_cast<int64_t>(limit));
  std::vector<RunRecord> runs;
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    RunRecord r;
    r.id = row.ColumnInt(0);
    r.kind = row.ColumnText(1);
    r.started_at = row.ColumnInt(2);
    r.finished_at = row.ColumnInt(3);  // NULL reads as 0: still running
    r.outcome = row.ColumnText(4);
    auto counts = CountsFromJson(row.ColumnText(5));
    if (!counts.ok()) {
      return counts.status().WithContext("run " + std::to_string(r.id));
    }
    r.counts = std::move(counts).value();
    r.message = row.ColumnText(6);
    runs.push_back(std::move(r));
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  return runs;
}

const char* LedgerStatusName(LedgerStatus status) {
  switch (status) {
    case LedgerStatus::kActive:
      return "active";
    case LedgerStatus::kOrphaned:
      return "orphaned";
    case LedgerStatus::kRemoved:
      return "removed";
  }
  return "?";
}

std::optional<LedgerStatus> ParseLedgerStatus(const std::string& name) {
  for (auto status : {LedgerStatus::kActive, LedgerStatus::kOrphaned, LedgerStatus::kRemoved}) {
    if (name == LedgerStatusName(status)) return status;
  }
  return std::nullopt;
}

LedgerEntry LedgerEntryFor(const SyncObject& principal, std::string target) {
  LedgerEntry entry;
  entry.target = std::move(target);
  entry.principal = IdentityKeysOf(principal);
  entry.domain_sid = DomainSidOf(principal.sid);
  entry.domain_name = DnsDomainOf(principal.dn);
  return entry;
}

SyncObject IdentityKeysOf(const SyncObject& o) {
  SyncObject keys = o;
  keys.attributes.clear();
  if (std::string display = DisplayNameOf(o); !display.empty()) {
    keys.attributes["displayName"] = std::move(display);
  }
  return keys;
}

Status StateDb::ClearReapplyPending() {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  return impl_->Context(impl_->db->Exec("UPDATE watermark SET reapply_pending = 0"));
}

Result<std::vector<LedgerEntry>> StateDb::LoadLedger() {
  auto stmt = impl_->db->Prepare(
      "SELECT id, target, status, created_at, changed_at, reason, kind, guid, external_id, name, "
      "dn, display_name, sid, sid_history, consistency_guid, user_principal_name, "
      "sam_account_name, mail, domain_sid, domain_name FROM assignments ORDER BY id");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  std::vector<LedgerEntry> entries;
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    LedgerEntry e;
    e.id = row.ColumnInt(0);
    const std::string where = "assignment " + std::to_string(e.id);
    e.target = row.ColumnText(1);
    auto status = ParseLedgerStatus(row.ColumnText(2));
    auto kind = ParseKind(row.ColumnText(6));
    if (!status || !kind) {
      return Status::DataLoss(where + ": unknown status or kind");
    }
    e.status = *status;
    e.created_at = row.ColumnInt(3);
    e.changed_at = row.ColumnInt(4);
    e.reason = row.ColumnText(5);
    SyncObject& p = e.principal;
    p.kind = *kind;
    p.guid = row.ColumnBlob(7);
    p.external_id = row.ColumnText(8);
    p.name = row.ColumnText(9);
    p.dn = row.ColumnText(10);
    if (std::string display = row.ColumnText(11); !display.empty()) {
      p.attributes["displayName"] = std::move(display);
    }
    p.sid = row.ColumnBlob(12);
    auto history = SplitHex(row.ColumnText(13));
    if (!history.ok()) {
      return history.status().WithContext(where);
    }
    p.sid_history = std::move(*history);
    p.consistency_guid = row.ColumnBlob(14);
    p.user_principal_name = row.ColumnText(15);
    p.sam_account_name = row.ColumnText(16);
    p.mail = row.ColumnText(17);
    e.domain_sid = row.ColumnBlob(18);
    e.domain_name = row.ColumnText(19);
    entries.push_back(std::move(e));
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  return entries;
}

Status StateDb::SaveLedger(std::vector<LedgerEntry>* entries) {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  auto& db = *impl_->db;
  sql::Transaction txn(db);
  if (!txn.status().ok()) {
    return impl_->Context(txn.status());
  }
  // ?1 .. ?13 as BindLedgerKeys, then the entry's own fields; id NULL inserts.
  auto upsert = db.Prepare(
      "INSERT INTO assignments (guid, external_id, name, dn, display_name, sid, sid_history, "
      "consistency_guid, user_principal_name, sam_account_name, mail, domain_sid, domain_name, "
      "id, target, status, created_at, changed_at, reason, kind) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
      "?19, ?20) "
      "ON CONFLICT (id) DO UPDATE SET guid = ?1, external_id = ?2, name = ?3, dn = ?4, "
      "display_name = ?5, sid = ?6, sid_history = ?7, consistency_guid = ?8, "
      "user_principal_name = ?9, sam_account_name = ?10, mail = ?11, domain_sid = ?12, "
      "domain_name = ?13, target = ?15, status = ?16, changed_at = ?18, reason = ?19, kind = ?20 "
      "RETURNING id");
  if (!upsert.ok()) {
    return impl_->Context(upsert.status());
  }
  for (auto& e : *entries) {
    if (e.principal.guid.empty()) {
      return Status::InvalidArgument("assignment of " + e.target + " has no principal objectGUID");
    }
    sql::Statement& s = *upsert;
    BindLedgerKeys(s, e.principal);
    // The entry's own domain wins: an imported one may have no SID or DN.
    BindBlobOrNull(s, 12, e.domain_sid);
    BindTextOrNull(s, 13, e.domain_name);
    if (e.id == 0) {
      s.BindNull(14);
    } else {
      s.Bind(14, e.id);
    }
    s.Bind(15, std::string_view(e.target))
        .Bind(16, std::string_view(LedgerStatusName(e.status)))
        .Bind(17, e.created_at)
        .Bind(18, e.changed_at)
        .Bind(19, std::string_view(e.reason))
        .Bind(20, std::string_view(KindName(e.principal.kind)));
    auto row = s.Step();
    if (!row.ok()) {
      return impl_->Context(row.status().WithContext("assignment of " + e.target + " to " +
                                                     KindName(e.principal.kind) + " " +
                                                     e.principal.name));
    }
    if (!*row) {
      return impl_->Context(Status::Internal("assignment upsert returned no id"));
    }
    e.id = s.ColumnInt(0);
    s.Reset();
  }
  return impl_->Context(txn.Commit());
}

}  // namespace syncd
