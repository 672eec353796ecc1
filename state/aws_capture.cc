// IAM Identity Center: the instance last seen and the capture of its
// assignments.
#include <optional>
#include <string_view>
#include <vector>

#include "state/internal.h"

namespace syncd {

Result<std::optional<AwsInstanceState>> StateDb::LoadAwsInstance() {
  auto stmt = impl_->db->Prepare(
      "SELECT instance_arn, identity_store_id, previous_identity_store_id, switched_at, "
      "reapply_pending, checked_at FROM aws_instance WHERE id = 1");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  std::optional<AwsInstanceState> found;
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    found = AwsInstanceState{.instance_arn = row.ColumnText(0),
                             .identity_store_id = row.ColumnText(1),
                             .previous_identity_store_id = row.ColumnText(2),
                             .switched_at = row.ColumnInt(3),
                             .reapply_pending = row.ColumnInt(4) != 0,
                             .checked_at = row.ColumnInt(5)};
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  return found;
}

Status StateDb::SaveAwsInstance(const AwsInstanceState& instance) {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  auto stmt = impl_->db->Prepare(
      "INSERT OR REPLACE INTO aws_instance (id, instance_arn, identity_store_id, "
      "previous_identity_store_id, switched_at, reapply_pending, checked_at) "
      "VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  return impl_->Context(stmt->Bind(1, std::string_view(instance.instance_arn))
                            .Bind(2, std::string_view(instance.identity_store_id))
                            .Bind(3, std::string_view(instance.previous_identity_store_id))
                            .Bind(4, instance.switched_at)
                            .Bind(5, static_cast<int64_t>(instance.reapply_pending ? 1 : 0))
                            .Bind(6, instance.checked_at)
                            .Run());
}

const char* AwsCaptureStatusName(AwsCaptureStatus status) {
  switch (status) {
    case AwsCaptureStatus::kLinked:
      return "linked";
    case AwsCaptureStatus::kUnmatched:
      return "unmatched";
    case AwsCaptureStatus::kOrphan:
      return "orphan";
  }
  return "?";
}

namespace {
std::optional<AwsCaptureStatus> ParseAwsCaptureStatus(std::string_view name) {
  for (auto status :
       {AwsCaptureStatus::kLinked, AwsCaptureStatus::kUnmatched, AwsCaptureStatus::kOrphan}) {
    if (name == AwsCaptureStatusName(status)) return status;
  }
  return std::nullopt;
}
}  // namespace

Status StateDb::SaveAwsCapture(const std::string& identity_store_id,
                               std::vector<LedgerEntry>* additions,
                               const std::vector<AwsCaptureRow>& rows) {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  auto& db = *impl_->db;
  sql::Transaction txn(db);
  if (!txn.status().ok()) {
    return impl_->Context(txn.status());
  }
  if (Status st = impl_->UpsertLedger(additions); !st.ok()) {
    return st;
  }
  auto clear = db.Prepare("DELETE FROM aws_capture WHERE identity_store_id = ?1");
  if (!clear.ok()) {
    return impl_->Context(clear.status());
  }
  if (Status st = clear->Bind(1, std::string_view(identity_store_id)).Run(); !st.ok()) {
    return impl_->Context(st);
  }
  // A linked row's ledger entry: the active one of its principal and target.
  auto insert = db.Prepare(
      "INSERT INTO aws_capture (identity_store_id, target, target_ref, principal_type, "
      "principal_id, principal_name, status, guid, ledger_id, detail, captured_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, (SELECT id FROM assignments WHERE guid = ?8 "
      "AND target = ?2 AND status = 'active'), ?9, ?10)");
  if (!insert.ok()) {
    return impl_->Context(insert.status());
  }
  for (const AwsCaptureRow& row : rows) {
    sql::Statement& s = *insert;
    s.Bind(1, std::string_view(identity_store_id))
        .Bind(2, std::string_view(row.target))
        .Bind(3, std::string_view(row.target_ref))
        .Bind(4, std::string_view(row.principal_type))
        .Bind(5, std::string_view(row.principal_id))
        .Bind(6, std::string_view(row.principal_name))
        .Bind(7, std::string_view(AwsCaptureStatusName(row.status)));
    state_internal::BindBlobOrNull(s, 8, row.guid);
    s.Bind(9, std::string_view(row.detail)).Bind(10, row.captured_at);
    if (Status st = s.Run(); !st.ok()) {
      return impl_->Context(st.WithContext("capture of " + row.target + " for " +
                                           row.principal_type + " " + row.principal_id));
    }
  }
  return impl_->Context(txn.Commit());
}

Result<std::vector<AwsCaptureRow>> StateDb::LoadAwsCapture(const std::string& identity_store_id) {
  auto stmt = impl_->db->Prepare(
      "SELECT target, target_ref, principal_type, principal_id, principal_name, status, guid, "
      "ledger_id, detail, captured_at FROM aws_capture WHERE identity_store_id = ?1 "
      "ORDER BY CASE status WHEN 'unmatched' THEN 0 WHEN 'orphan' THEN 1 ELSE 2 END, target, "
      "principal_type, principal_name, principal_id");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  stmt->Bind(1, std::string_view(identity_store_id));
  std::vector<AwsCaptureRow> rows;
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    auto status = ParseAwsCaptureStatus(row.ColumnText(5));
    if (!status) {
      return Status::DataLoss("aws_capture: unknown status " + row.ColumnText(5));
    }
    rows.push_back(AwsCaptureRow{.target = row.ColumnText(0),
                                 .target_ref = row.ColumnText(1),
                                 .principal_type = row.ColumnText(2),
                                 .principal_id = row.ColumnText(3),
                                 .principal_name = row.ColumnText(4),
                                 .status = *status,
                                 .guid = row.ColumnBlob(6),
                                 .ledger_id = row.ColumnInt(7),
                                 .detail = row.ColumnText(8),
                                 .captured_at = row.ColumnInt(9)});
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  return rows;
}

}  // namespace syncd
