#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "state/internal.h"

namespace syncd {
namespace {

std::optional<JournalStatus> ParseJournalStatus(const std::string& name) {
  for (auto status : {JournalStatus::kPending, JournalStatus::kApplied, JournalStatus::kRefused,
                      JournalStatus::kDeferred}) {
    if (name == JournalStatusName(status)) return status;
  }
  return std::nullopt;
}

}  // namespace

using state_internal::OperationFromJson;
using state_internal::OperationToJson;

const char* JournalStatusName(JournalStatus status) {
  switch (status) {
    case JournalStatus::kPending:
      return "pending";
    case JournalStatus::kApplied:
      return "applied";
    case JournalStatus::kRefused:
      return "refused";
    case JournalStatus::kDeferred:
      return "deferred";
  }
  return "?";
}

Status StateDb::Impl::ClearJournal(int64_t run_id) {
  // The journal holds one run's operations at most (WriteOutbox refuses a
  // second), so it is normally dropped whole: DELETE without WHERE frees its
  // pages without visiting (and journaling) every row, which for a full
  // sync's journal is most of the cost of committing it.
  auto other = db->Prepare("SELECT 1 FROM outbox WHERE run_id <> ?1 LIMIT 1");
  if (!other.ok()) return other.status();
  auto found = other->Bind(1, run_id).Step();
  other->Reset();
  if (!found.ok()) return found.status();
  if (!*found) return db->Exec("DELETE FROM outbox");
  auto clear = db->Prepare("DELETE FROM outbox WHERE run_id = ?1");
  return clear.ok() ? clear->Bind(1, run_id).Run() : clear.status();
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
    return Status::Internal("state file " + impl_->path + " still holds the journal of run " +
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

Result<std::vector<JournalEntry>> StateDb::LoadJournal(int64_t* run_id) {
  auto& db = *impl_->db;
  if (run_id != nullptr) {
    *run_id = 0;
  }
  std::vector<JournalEntry> entries;
  auto lowest = db.Prepare("SELECT MIN(run_id) FROM outbox");
  if (!lowest.ok()) {
    return impl_->Context(lowest.status());
  }
  auto row = lowest->Step();
  if (!row.ok()) {
    return impl_->Context(row.status());
  }
  if (!*row || lowest->ColumnIsNull(0)) {
    return entries;
  }
  const int64_t id = lowest->ColumnInt(0);

  auto stmt = db.Prepare(
      "SELECT seq, operation, status, sink_ref, reason FROM outbox WHERE run_id = ?1 "
      "ORDER BY seq");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  stmt->Bind(1, id);
  Status st = stmt->ForEachRow([&](const sql::Statement& entry) {
    const std::string where =
        "journal of run " + std::to_string(id) + ", entry " + std::to_string(entry.ColumnInt(0));
    auto op = OperationFromJson(entry.ColumnText(1));
    if (!op.ok()) {
      return op.status().WithContext(where);
    }
    auto status = ParseJournalStatus(entry.ColumnText(2));
    if (!status) {
      return Status::DataLoss(where + ": unknown status '" + entry.ColumnText(2) + "'");
    }
    entries.push_back({entry.ColumnInt(0), std::move(op).value(), *status, entry.ColumnText(3),
                       entry.ColumnText(4)});
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  if (run_id != nullptr) {
    *run_id = id;
  }
  return entries;
}

Status StateDb::MarkJournal(int64_t run_id, const std::vector<JournalMark>& marks) {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  auto& db = *impl_->db;
  sql::Transaction txn(db);
  if (!txn.status().ok()) {
    return impl_->Context(txn.status());
  }
  auto update = db.PrepareCached(
      "UPDATE outbox SET status = ?3, sink_ref = ?4, reason = ?5 WHERE run_id = ?1 AND seq = ?2");
  if (!update.ok()) {
    return impl_->Context(update.status());
  }
  for (const JournalMark& mark : marks) {
    Status st = update->Bind(1, run_id)
                    .Bind(2, mark.seq)
                    .Bind(3, JournalStatusName(mark.status))
                    .Bind(4, std::string_view(mark.sink_ref))
                    .Bind(5, std::string_view(mark.reason))
                    .Run();
    if (!st.ok()) {
      return impl_->Context(st);
    }
    if (db.Changes() == 0) {
      // The transaction rolls back: no mark of the batch is recorded.
      return impl_->Context(Status::NotFound(
          "run " + std::to_string(run_id) + " journaled no operation " + std::to_string(mark.seq)));
    }
  }
  return impl_->Context(txn.Commit());
}

}  // namespace syncd
