#include <optional>
#include <string_view>
#include <utility>

#include "state/internal.h"

namespace syncd {

using state_internal::BindBlobOrNull;

Status StateDb::Impl::StoreWatermark(const Watermark& w) {
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

Status StateDb::ClearReapplyPending() {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  return impl_->Context(impl_->db->Exec("UPDATE watermark SET reapply_pending = 0"));
}

}  // namespace syncd
