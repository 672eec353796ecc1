// IAM Identity Center: the identity-store ids of principals, what syncd
// learned of each identity store, and the reapply journal.
#include <optional>
#include <string_view>

#include "state/internal.h"

namespace syncd {
namespace {

const char* PrincipalTypeOf(ObjectKind kind) {
  return kind == ObjectKind::kGroup ? "GROUP" : "USER";
}

std::optional<ObjectKind> KindOfPrincipalType(std::string_view type) {
  if (type == "USER") return ObjectKind::kUser;
  if (type == "GROUP") return ObjectKind::kGroup;
  return std::nullopt;
}

constexpr AwsOpStatus kAllOpStatuses[] = {AwsOpStatus::kUnresolved, AwsOpStatus::kPending,
                                          AwsOpStatus::kSending,    AwsOpStatus::kInProgress,
                                          AwsOpStatus::kSucceeded,  AwsOpStatus::kFailed};

}  // namespace

const char* AwsOpStatusName(AwsOpStatus status) {
  switch (status) {
    case AwsOpStatus::kUnresolved:
      return "unresolved";
    case AwsOpStatus::kPending:
      return "pending";
    case AwsOpStatus::kSending:
      return "sending";
    case AwsOpStatus::kInProgress:
      return "in_progress";
    case AwsOpStatus::kSucceeded:
      return "succeeded";
    case AwsOpStatus::kFailed:
      return "failed";
  }
  return "?";
}

std::optional<AwsOpStatus> ParseAwsOpStatus(std::string_view name) {
  for (AwsOpStatus status : kAllOpStatuses) {
    if (name == AwsOpStatusName(status)) return status;
  }
  return std::nullopt;
}

Result<std::vector<AwsPrincipalId>> StateDb::LoadAwsPrincipals(
    const std::string& identity_store_id) {
  auto stmt = impl_->db->Prepare(
      "SELECT guid, principal_type, principal_id, resolved_by, resolved_at FROM aws_principals "
      "WHERE identity_store_id = ?1");
  if (!stmt.ok()) return impl_->Context(stmt.status());
  stmt->Bind(1, std::string_view(identity_store_id));
  std::vector<AwsPrincipalId> found;
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    auto kind = KindOfPrincipalType(row.ColumnText(1));
    if (!kind) return Status::DataLoss("aws_principals: unknown principal type");
    found.push_back(AwsPrincipalId{.guid = row.ColumnBlob(0),
                                   .kind = *kind,
                                   .principal_id = row.ColumnText(2),
                                   .resolved_by = row.ColumnText(3),
                                   .resolved_at = row.ColumnInt(4)});
    return Status::Ok();
  });
  if (!st.ok()) return impl_->Context(st);
  return found;
}

Status StateDb::SaveAwsPrincipals(const std::string& identity_store_id,
                                  const std::vector<AwsPrincipalId>& principals) {
  if (Status st = impl_->CheckWritable(); !st.ok()) return st;
  auto& db = *impl_->db;
  sql::Transaction txn(db);
  if (!txn.status().ok()) return impl_->Context(txn.status());
  auto upsert = db.Prepare(
      "INSERT OR REPLACE INTO aws_principals (identity_store_id, guid, principal_type, "
      "principal_id, resolved_by, resolved_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!upsert.ok()) return impl_->Context(upsert.status());
  for (const auto& p : principals) {
    Status st = upsert->Bind(1, std::string_view(identity_store_id))
                    .BindBlob(2, p.guid)
                    .Bind(3, PrincipalTypeOf(p.kind))
                    .Bind(4, std::string_view(p.principal_id))
                    .Bind(5, std::string_view(p.resolved_by))
                    .Bind(6, p.resolved_at)
                    .Run();
    if (!st.ok()) return impl_->Context(st);
  }
  return impl_->Context(txn.Commit());
}

Status StateDb::DropAwsPrincipals(const std::string& identity_store_id,
                                  const std::vector<std::string>& guids) {
  if (Status st = impl_->CheckWritable(); !st.ok()) return st;
  auto& db = *impl_->db;
  sql::Transaction txn(db);
  if (!txn.status().ok()) return impl_->Context(txn.status());
  auto drop = db.Prepare("DELETE FROM aws_principals WHERE identity_store_id = ?1 AND guid = ?2");
  if (!drop.ok()) return impl_->Context(drop.status());
  for (const auto& guid : guids) {
    Status st = drop->Bind(1, std::string_view(identity_store_id)).BindBlob(2, guid).Run();
    if (!st.ok()) return impl_->Context(st);
  }
  return impl_->Context(txn.Commit());
}

Result<std::optional<AwsIdentityStoreState>> StateDb::LoadAwsIdentityStore(
    const std::string& identity_store_id) {
  auto stmt = impl_->db->Prepare(
      "SELECT external_id_issuer, reapplied_at, ambiguous, missing, unrecorded "
      "FROM aws_identity_stores WHERE identity_store_id = ?1");
  if (!stmt.ok()) return impl_->Context(stmt.status());
  stmt->Bind(1, std::string_view(identity_store_id));
  std::optional<AwsIdentityStoreState> found;
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    found = AwsIdentityStoreState{.identity_store_id = identity_store_id,
                                  .external_id_issuer = row.ColumnText(0),
                                  .reapplied_at = row.ColumnInt(1),
                                  .ambiguous = row.ColumnInt(2),
                                  .missing = row.ColumnInt(3),
                                  .unrecorded = row.ColumnInt(4)};
    return Status::Ok();
  });
  if (!st.ok()) return impl_->Context(st);
  return found;
}

Status StateDb::SaveAwsIdentityStore(const AwsIdentityStoreState& store) {
  if (Status st = impl_->CheckWritable(); !st.ok()) return st;
  auto stmt = impl_->db->Prepare(
      "INSERT OR REPLACE INTO aws_identity_stores (identity_store_id, external_id_issuer, "
      "reapplied_at, ambiguous, missing, unrecorded) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!stmt.ok()) return impl_->Context(stmt.status());
  return impl_->Context(stmt->Bind(1, std::string_view(store.identity_store_id))
                            .Bind(2, std::string_view(store.external_id_issuer))
                            .Bind(3, store.reapplied_at)
                            .Bind(4, store.ambiguous)
                            .Bind(5, store.missing)
                            .Bind(6, store.unrecorded)
                            .Run());
}

Result<std::vector<AwsOperation>> StateDb::LoadAwsOperations(const std::string& identity_store_id) {
  auto stmt = impl_->db->Prepare(
      "SELECT id, ledger_id, action, target, target_ref, principal_guid, principal_type, "
      "principal_name, principal_id, request_id, status, reason, attempts, next_attempt_at, "
      "sent_at, created_at, changed_at FROM aws_operations WHERE identity_store_id = ?1 "
      "ORDER BY id");
  if (!stmt.ok()) return impl_->Context(stmt.status());
  stmt->Bind(1, std::string_view(identity_store_id));
  std::vector<AwsOperation> ops;
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    AwsOperation op;
    op.id = row.ColumnInt(0);
    op.identity_store_id = identity_store_id;
    op.ledger_id = row.ColumnInt(1);
    op.action = row.ColumnText(2);
    op.target = row.ColumnText(3);
    op.target_ref = row.ColumnText(4);
    op.principal_guid = row.ColumnBlob(5);
    auto kind = KindOfPrincipalType(row.ColumnText(6));
    auto status = ParseAwsOpStatus(row.ColumnText(10));
    if (!kind || !status) {
      return Status::DataLoss("aws operation " + std::to_string(op.id) +
                              ": unknown principal type or status");
    }
    op.principal_kind = *kind;
    op.principal_name = row.ColumnText(7);
    op.principal_id = row.ColumnText(8);
    op.request_id = row.ColumnText(9);
    op.status = *status;
    op.reason = row.ColumnText(11);
    op.attempts = row.ColumnInt(12);
    op.next_attempt_at = row.ColumnInt(13);
    op.sent_at = row.ColumnInt(14);
    op.created_at = row.ColumnInt(15);
    op.changed_at = row.ColumnInt(16);
    ops.push_back(std::move(op));
    return Status::Ok();
  });
  if (!st.ok()) return impl_->Context(st);
  return ops;
}

Status StateDb::SaveAwsOperations(std::vector<AwsOperation>* operations) {
  if (Status st = impl_->CheckWritable(); !st.ok()) return st;
  auto& db = *impl_->db;
  sql::Transaction txn(db);
  if (!txn.status().ok()) return impl_->Context(txn.status());
  auto upsert = db.Prepare(
      "INSERT INTO aws_operations (id, identity_store_id, ledger_id, action, target, target_ref, "
      "principal_guid, principal_type, principal_name, principal_id, request_id, status, reason, "
      "attempts, next_attempt_at, sent_at, created_at, changed_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) "
      "ON CONFLICT (id) DO UPDATE SET ledger_id = ?3, target_ref = ?6, principal_type = ?8, "
      "principal_name = ?9, principal_id = ?10, request_id = ?11, status = ?12, reason = ?13, "
      "attempts = ?14, next_attempt_at = ?15, sent_at = ?16, changed_at = ?18 "
      "RETURNING id");
  if (!upsert.ok()) return impl_->Context(upsert.status());
  for (auto& op : *operations) {
    sql::Statement& s = *upsert;
    if (op.id == 0) {
      s.BindNull(1);
    } else {
      s.Bind(1, op.id);
    }
    s.Bind(2, std::string_view(op.identity_store_id))
        .Bind(3, op.ledger_id)
        .Bind(4, std::string_view(op.action))
        .Bind(5, std::string_view(op.target))
        .Bind(6, std::string_view(op.target_ref))
        .BindBlob(7, op.principal_guid)
        .Bind(8, PrincipalTypeOf(op.principal_kind))
        .Bind(9, std::string_view(op.principal_name))
        .Bind(10, std::string_view(op.principal_id))
        .Bind(11, std::string_view(op.request_id))
        .Bind(12, AwsOpStatusName(op.status))
        .Bind(13, std::string_view(op.reason))
        .Bind(14, op.attempts)
        .Bind(15, op.next_attempt_at)
        .Bind(16, op.sent_at)
        .Bind(17, op.created_at)
        .Bind(18, op.changed_at);
    auto row = s.Step();
    if (!row.ok()) {
      return impl_->Context(
          row.status().WithContext("reapply operation " + op.target + " for " + op.principal_name));
    }
    if (!*row) return impl_->Context(Status::Internal("aws operation upsert returned no id"));
    op.id = s.ColumnInt(0);
    s.Reset();
  }
  return impl_->Context(txn.Commit());
}

}  // namespace syncd
