#include <string_view>
#include <utility>

#include "state/internal.h"

namespace syncd {

using state_internal::OperationFromJson;
using state_internal::OperationToJson;

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

}  // namespace syncd
