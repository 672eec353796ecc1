#include <algorithm>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "state/internal.h"

namespace syncd {
namespace {

namespace json = boost::json;
using state_internal::AttributesFromJson;
using state_internal::AttributesToJson;
using state_internal::BindBlobOrNull;
using state_internal::BindLedgerKeys;
using state_internal::BindTextOrNull;
using state_internal::kRefreshLedger;
using state_internal::ParseJson;

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
             {&w.delete_sink_ref_, "DELETE FROM sink_refs WHERE guid = ?1"},
             {&w.delete_quarantined_, "DELETE FROM quarantine WHERE guid = ?1"},
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
    const SyncObject& o = *op.object;
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
        // What the sink said about the object goes with it.
        if (st.ok()) {
          st = delete_sink_ref_->BindBlob(1, o.guid).Run();
        }
        if (st.ok()) {
          st = delete_quarantined_->BindBlob(1, o.guid).Run();
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
        .Bind(5, std::string_view(o.source->dn))
        .Bind(6, std::string_view(AttributesToJson(o.attributes)));
    BindBlobOrNull(s, 7, o.source->sid);
    BindTextOrNull(s, 8, o.source->sam_account_name);
    BindTextOrNull(s, 9, o.source->user_principal_name);
    BindTextOrNull(s, 10, o.source->mail);
    BindBlobOrNull(s, 11, o.source->consistency_guid);
    Status st = s.Run();
    if (st.ok() && ledger_active_) {
      BindLedgerKeys(*refresh_ledger_, o);
      st = refresh_ledger_->Run();
    }
    if (st.ok()) {
      st = delete_sid_history_->BindBlob(1, o.guid).Run();
    }
    for (size_t i = 0; st.ok() && i < o.source->sid_history.size(); ++i) {
      st = insert_sid_history_->BindBlob(1, o.guid)
               .BindBlob(2, o.source->sid_history[i])
               .Bind(3, static_cast<int64_t>(i))
               .Run();
    }
    return st;
  }

  std::optional<sql::Statement> upsert_, delete_object_, delete_sid_history_, insert_sid_history_,
      delete_edges_of_, insert_edge_, delete_edge_, refresh_ledger_, orphan_ledger_,
      delete_sink_ref_, delete_quarantined_;
  int64_t now_ = 0;
  std::string removal_reason_;
  bool ledger_active_ = false;  // the ledger holds an active entry
};

constexpr char kSelectObjects[] =
    "SELECT guid, kind, external_id, name, dn, attributes, sid, sam_account_name, "
    "user_principal_name, mail, consistency_guid FROM objects";

// The rows of `table` (a name from this file, never input), to size what
// loads them.
Result<size_t> RowCount(sql::Database& db, const char* table) {
  auto stmt = db.Prepare(std::string("SELECT COUNT(*) FROM ") + table);
  if (!stmt.ok()) {
    return stmt.status();
  }
  auto row = stmt->Step();
  if (!row.ok()) {
    return row.status();
  }
  return static_cast<size_t>(stmt->ColumnInt(0));
}

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
  SourceDetails& details = o->source.Mutable();
  details.dn = row.ColumnText(4);
  auto attributes = ParseJson(row.ColumnText(5));
  Status st =
      attributes.ok() ? AttributesFromJson(*attributes, &o->attributes) : attributes.status();
  if (!st.ok()) {
    return st.WithContext("object " + o->external_id);
  }
  details.sid = row.ColumnBlob(6);
  details.sam_account_name = row.ColumnText(7);
  details.user_principal_name = row.ColumnText(8);
  details.mail = row.ColumnText(9);
  details.consistency_guid = row.ColumnBlob(10);
  return Status::Ok();
}

}  // namespace

Status StateDb::ForEachObject(const std::function<Status(SyncObject)>& each) {
  auto& db = *impl_->db;
  // SID histories first, by GUID: a few objects have one (a migrated
  // account), so they are held while the objects stream.
  std::vector<std::pair<std::string, std::string>> histories;
  auto history = db.Prepare("SELECT guid, sid FROM sid_history ORDER BY guid, seq");
  if (!history.ok()) {
    return impl_->Context(history.status());
  }
  Status st = history->ForEachRow([&](const sql::Statement& row) {
    histories.emplace_back(row.ColumnBlob(0), row.ColumnBlob(1));
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  // Stable: a GUID's SIDs keep their order (seq).
  std::stable_sort(histories.begin(), histories.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  auto stmt = db.Prepare(std::string(kSelectObjects) + " ORDER BY guid");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  st = stmt->ForEachRow([&](const sql::Statement& row) {
    SyncObject o;
    Status row_st = ReadObjectRow(row, &o);
    if (!row_st.ok()) {
      return row_st;
    }
    auto at =
        std::lower_bound(histories.begin(), histories.end(), o.guid,
                         [](const auto& h, const std::string& guid) { return h.first < guid; });
    for (; at != histories.end() && at->first == o.guid; ++at) {
      o.source.Mutable().sid_history.push_back(std::move(at->second));
    }
    return each(std::move(o));
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  return Status::Ok();
}

Result<std::vector<SyncObject>> StateDb::LoadObjects() {
  std::vector<SyncObject> objects;
  // Sized first: grown by doubling, the vector of a large cache held up to
  // three times its size at once, and kept a quarter of it spare.
  auto count = RowCount(*impl_->db, "objects");
  if (!count.ok()) {
    return impl_->Context(count.status());
  }
  objects.reserve(*count);
  Status st = ForEachObject([&](SyncObject o) {
    objects.push_back(std::move(o));
    return Status::Ok();
  });
  if (!st.ok()) {
    return st;
  }
  // Found by binary search, not through an index of its own: SQLite's BLOB
  // order is std::string's (bytes, unsigned), and sorting makes sure of it.
  auto guid_order = [](const SyncObject& a, const SyncObject& b) { return a.guid < b.guid; };
  if (!std::is_sorted(objects.begin(), objects.end(), guid_order)) {
    std::sort(objects.begin(), objects.end(), guid_order);
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
        o.source.Mutable().sid_history.push_back(row.ColumnBlob(0));
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

namespace {

// A row of (group_guid, member_guid). A GUID longer than any raw objectGUID
// means the state file was damaged or written by something else.
Status AppendMembership(const sql::Statement& row, std::vector<Membership>* memberships) {
  std::string group = row.ColumnBlob(0);
  std::string member = row.ColumnBlob(1);
  for (const std::string* guid : {&group, &member}) {
    if (!GuidBytes::Fits(*guid)) {
      return Status::DataLoss("a membership row holds a GUID of " + std::to_string(guid->size()) +
                              " bytes; no objectGUID is longer than 16");
    }
  }
  memberships->push_back({group, member});
  return Status::Ok();
}

}  // namespace

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
    Status st = stmt->BindBlob(1, guid).ForEachRow(
        [&](const sql::Statement& row) { return AppendMembership(row, &memberships); });
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

Result<std::vector<Membership>> StateDb::LoadMemberships() {
  auto stmt = impl_->db->Prepare(
      "SELECT group_guid, member_guid FROM memberships ORDER BY group_guid, member_guid");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  std::vector<Membership> memberships;
  auto count = RowCount(*impl_->db, "memberships");
  if (!count.ok()) {
    return impl_->Context(count.status());
  }
  memberships.reserve(*count);
  Status st = stmt->ForEachRow(
      [&](const sql::Statement& row) { return AppendMembership(row, &memberships); });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  return memberships;
}

Status StateDb::CommitRun(const RunRecord& record, const std::vector<Operation>& ops,
                          const Watermark* watermark, const RunOutcomes* outcomes) {
  Status st = StageRun(record, ops, watermark, outcomes);
  return st.ok() ? CommitStaged() : st;
}

Status StateDb::BeginStage() {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  if (impl_->staged) {
    return impl_->Context(Status::Internal("a staged run is still open"));
  }
  auto txn = std::make_unique<sql::Transaction>(*impl_->db);
  if (!txn->status().ok()) {
    return impl_->Context(txn->status());
  }
  impl_->staged = std::move(txn);
  return Status::Ok();
}

Status StateDb::StageEarly(std::span<const Operation> ops) {
  if (!impl_->staged || impl_->run_staged) {
    return impl_->Context(Status::Internal("StageEarly outside an open stage"));
  }
  // Creates and added memberships only: no ledger row or removal is
  // involved.
  auto writer = CacheWriter::Create(*impl_->db, 0, "");
  if (!writer.ok()) {
    return impl_->Context(writer.status());
  }
  for (const Operation& op : ops) {
    if (op.op != OpType::kCreate && op.op != OpType::kAddMember) {
      return impl_->Context(Status::Internal(std::string("StageEarly given a ") + OpName(op.op)));
    }
    Status st = writer->Apply(op);
    if (!st.ok()) {
      return impl_->Context(st.WithContext(std::string(OpName(op.op)) + " " + KindName(op.kind) +
                                           " " + op.object->name));
    }
  }
  return Status::Ok();
}

Status StateDb::StageRun(const RunRecord& record, const std::vector<Operation>& ops,
                         const Watermark* watermark, const RunOutcomes* outcomes,
                         const std::vector<bool>* staged_early) {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  if (impl_->run_staged || (impl_->staged && staged_early == nullptr)) {
    return impl_->Context(Status::Internal("a staged run is still open"));
  }
  if (!impl_->staged) {
    if (Status st = BeginStage(); !st.ok()) {
      return st;
    }
  }
  // Whatever fails below leaves nothing staged.
  Status st = StageRunInOpenTransaction(record, ops, watermark, outcomes, staged_early);
  if (!st.ok()) {
    RollbackStaged();
    return impl_->Context(st);
  }
  impl_->run_staged = true;
  return Status::Ok();
}

Status StateDb::StageRunInOpenTransaction(const RunRecord& record,
                                          const std::vector<Operation>& ops,
                                          const Watermark* watermark, const RunOutcomes* outcomes,
                                          const std::vector<bool>* staged_early) {
  auto& db = *impl_->db;
  // Before the operations, so that a delete among them drops what the
  // outcomes said about its object.
  if (outcomes != nullptr) {
    if (Status st = impl_->StoreOutcomes(*outcomes); !st.ok()) {
      return st;
    }
  }
  auto writer = CacheWriter::Create(db, record.finished_at,
                                    record.removal_reason.empty()
                                        ? "left the store in run " + std::to_string(record.id)
                                        : record.removal_reason);
  if (!writer.ok()) {
    return writer.status();
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    if (staged_early != nullptr && (*staged_early)[i]) continue;
    const Operation& op = ops[i];
    Status st = writer->Apply(op);
    if (!st.ok()) {
      return st.WithContext("operation " + std::to_string(i) + " (" + OpName(op.op) + " " +
                            KindName(op.kind) + " " + op.object->name + ", externalId " +
                            op.object->external_id + ")");
    }
  }
  Status st = impl_->ClearJournal(record.id);
  if (st.ok()) {
    st = impl_->UpdateRun(record);
  }
  if (st.ok() && watermark != nullptr) {
    st = impl_->StoreWatermark(*watermark);
  }
  return st;
}

Status StateDb::CommitStaged() {
  if (!impl_->run_staged) {
    return impl_->Context(Status::Internal("no staged run to commit"));
  }
  // A failed COMMIT rolls back when the transaction goes.
  Status st = impl_->staged->Commit();
  impl_->staged.reset();
  impl_->run_staged = false;
  return impl_->Context(st);
}

void StateDb::RollbackStaged() {
  impl_->staged.reset();
  impl_->run_staged = false;
}

}  // namespace syncd
