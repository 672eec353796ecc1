#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include "core/strings.h"
#include "state/internal.h"

namespace syncd {
namespace state_internal {
namespace {

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

}  // namespace

void BindLedgerKeys(sql::Statement& s, const SyncObject& o) {
  s.BindBlob(1, o.guid)
      .Bind(2, std::string_view(o.external_id))
      .Bind(3, std::string_view(o.name))
      .Bind(4, std::string_view(o.source->dn));
  BindTextOrNull(s, 5, DisplayNameOf(o));
  BindBlobOrNull(s, 6, o.source->sid);
  s.Bind(7, std::string_view(JoinHex(o.source->sid_history)));
  BindBlobOrNull(s, 8, o.source->consistency_guid);
  BindTextOrNull(s, 9, o.source->user_principal_name);
  BindTextOrNull(s, 10, o.source->sam_account_name);
  BindTextOrNull(s, 11, o.source->mail);
  BindBlobOrNull(s, 12, DomainSidOf(o.source->sid));
  BindTextOrNull(s, 13, DnsDomainOf(o.source->dn));
}

}  // namespace state_internal

using state_internal::BindBlobOrNull;
using state_internal::BindLedgerKeys;
using state_internal::BindTextOrNull;
using state_internal::DisplayNameOf;
using state_internal::SplitHex;

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
  entry.domain_sid = DomainSidOf(principal.source->sid);
  entry.domain_name = DnsDomainOf(principal.source->dn);
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

Result<std::vector<LedgerEntry>> StateDb::LoadLedger() {
  auto stmt = impl_->db->Prepare(
      "SELECT id, target, status, created_at, changed_at, reason, kind, guid, external_id, name, "
      "dn, display_name, sid, sid_history, consistency_guid, user_principal_name, "
      "sam_account_name, mail, domain_sid, domain_name, target_ref FROM assignments ORDER BY id");
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
    SourceDetails& details = p.source.Mutable();
    details.dn = row.ColumnText(10);
    if (std::string display = row.ColumnText(11); !display.empty()) {
      p.attributes["displayName"] = std::move(display);
    }
    details.sid = row.ColumnBlob(12);
    auto history = SplitHex(row.ColumnText(13));
    if (!history.ok()) {
      return history.status().WithContext(where);
    }
    details.sid_history = std::move(*history);
    details.consistency_guid = row.ColumnBlob(14);
    details.user_principal_name = row.ColumnText(15);
    details.sam_account_name = row.ColumnText(16);
    details.mail = row.ColumnText(17);
    e.domain_sid = row.ColumnBlob(18);
    e.domain_name = row.ColumnText(19);
    e.target_ref = row.ColumnText(20);
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
  sql::Transaction txn(*impl_->db);
  if (!txn.status().ok()) {
    return impl_->Context(txn.status());
  }
  if (Status st = impl_->UpsertLedger(entries); !st.ok()) {
    return st;
  }
  return impl_->Context(txn.Commit());
}

Status StateDb::Impl::UpsertLedger(std::vector<LedgerEntry>* entries) {
  // ?1 .. ?13 as BindLedgerKeys, then the entry's own fields; id NULL inserts.
  auto upsert = db->Prepare(
      "INSERT INTO assignments (guid, external_id, name, dn, display_name, sid, sid_history, "
      "consistency_guid, user_principal_name, sam_account_name, mail, domain_sid, domain_name, "
      "id, target, status, created_at, changed_at, reason, kind, target_ref) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
      "?19, ?20, ?21) "
      "ON CONFLICT (id) DO UPDATE SET guid = ?1, external_id = ?2, name = ?3, dn = ?4, "
      "display_name = ?5, sid = ?6, sid_history = ?7, consistency_guid = ?8, "
      "user_principal_name = ?9, sam_account_name = ?10, mail = ?11, domain_sid = ?12, "
      "domain_name = ?13, target = ?15, status = ?16, changed_at = ?18, reason = ?19, kind = ?20, "
      "target_ref = ?21 "
      "RETURNING id");
  if (!upsert.ok()) {
    return Context(upsert.status());
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
        .Bind(20, std::string_view(KindName(e.principal.kind)))
        .Bind(21, std::string_view(e.target_ref));
    auto row = s.Step();
    if (!row.ok()) {
      return Context(row.status().WithContext("assignment of " + e.target + " to " +
                                              KindName(e.principal.kind) + " " + e.principal.name));
    }
    if (!*row) {
      return Context(Status::Internal("assignment upsert returned no id"));
    }
    e.id = s.ColumnInt(0);
    s.Reset();
  }
  return Status::Ok();
}

}  // namespace syncd
