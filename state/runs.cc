#include <string_view>
#include <utility>

#include "state/internal.h"

namespace syncd {

using state_internal::CountsFromJson;
using state_internal::CountsToJson;

Status StateDb::Impl::UpdateRun(const RunRecord& record) {
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

Result<int64_t> StateDb::UnfinishedRun() {
  auto stmt = impl_->db->Prepare(
      "SELECT max(id) FROM runs AS r WHERE outcome = 'running' "
      "AND NOT EXISTS (SELECT 1 FROM outbox) "
      "AND NOT EXISTS (SELECT 1 FROM runs AS later WHERE later.id > r.id "
      "AND later.kind = 'full' AND later.outcome = 'ok')");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  int64_t id = 0;  // max() of nothing is NULL, read as 0
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    id = row.ColumnInt(0);
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  return id;
}

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

}  // namespace syncd
