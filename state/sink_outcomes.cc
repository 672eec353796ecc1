#include <algorithm>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "core/strings.h"
#include "state/internal.h"

namespace syncd {
namespace {

constexpr char kSelectQuarantine[] =
    "SELECT guid, kind, name, external_id, reason, since, fingerprint FROM quarantine";

Status ReadQuarantineRow(const sql::Statement& row, QuarantineEntry* e) {
  e->guid = row.ColumnBlob(0);
  e->name = row.ColumnText(2);
  auto kind = ParseKind(row.ColumnText(1));
  if (!kind) {
    return Status::DataLoss("quarantined object " + e->name + ": unknown kind '" +
                            row.ColumnText(1) + "'");
  }
  e->kind = *kind;
  e->external_id = row.ColumnText(3);
  e->reason = row.ColumnText(4);
  e->since = row.ColumnInt(5);
  e->fingerprint = row.ColumnText(6);
  return Status::Ok();
}

void SortQuarantine(std::vector<QuarantineEntry>* entries) {
  std::sort(entries->begin(), entries->end(), [](const auto& a, const auto& b) {
    return std::tie(a.kind, a.name, a.guid) < std::tie(b.kind, b.name, b.guid);
  });
}

}  // namespace

Status StateDb::Impl::StoreOutcomes(const RunOutcomes& outcomes) {
  auto release = db->PrepareCached("DELETE FROM quarantine WHERE guid = ?1");
  if (!release.ok()) {
    return release.status();
  }
  for (const auto& guid : outcomes.released) {
    if (Status st = release->BindBlob(1, guid).Run(); !st.ok()) {
      return st;
    }
  }
  // A refusal of the same image keeps the first one's time; a changed image
  // that is refused again starts over.
  auto quarantine = db->PrepareCached(
      "INSERT INTO quarantine (guid, kind, name, external_id, reason, since, fingerprint) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
      "ON CONFLICT (guid) DO UPDATE SET kind = excluded.kind, name = excluded.name, "
      "external_id = excluded.external_id, reason = excluded.reason, "
      "since = CASE WHEN quarantine.fingerprint = excluded.fingerprint "
      "THEN quarantine.since ELSE excluded.since END, fingerprint = excluded.fingerprint");
  if (!quarantine.ok()) {
    return quarantine.status();
  }
  for (const auto& e : outcomes.quarantined) {
    if (e.guid.empty()) {
      return Status::InvalidArgument("quarantined " + std::string(KindName(e.kind)) + " " + e.name +
                                     " has no objectGUID");
    }
    Status st = quarantine->BindBlob(1, e.guid)
                    .Bind(2, KindName(e.kind))
                    .Bind(3, std::string_view(e.name))
                    .Bind(4, std::string_view(e.external_id))
                    .Bind(5, std::string_view(e.reason))
                    .Bind(6, e.since)
                    .Bind(7, std::string_view(e.fingerprint))
                    .Run();
    if (!st.ok()) {
      return st.WithContext("quarantining " + std::string(KindName(e.kind)) + " " + e.name);
    }
  }
  auto store_ref = db->PrepareCached(
      "INSERT INTO sink_refs (guid, ref) VALUES (?1, ?2) "
      "ON CONFLICT (guid) DO UPDATE SET ref = excluded.ref");
  if (!store_ref.ok()) {
    return store_ref.status();
  }
  for (const auto& [guid, ref] : outcomes.sink_refs) {
    if (guid.empty()) {
      return Status::InvalidArgument("sink reference " + ref + " has no objectGUID");
    }
    if (Status st = store_ref->BindBlob(1, guid).Bind(2, std::string_view(ref)).Run(); !st.ok()) {
      return st;
    }
  }
  return Status::Ok();
}

Result<std::unordered_map<std::string, std::string>> StateDb::LoadSinkRefs(
    const std::vector<std::string>& guids) {
  auto stmt = impl_->db->PrepareCached("SELECT ref FROM sink_refs WHERE guid = ?1");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  std::unordered_map<std::string, std::string> refs;
  for (const auto& guid : guids) {
    Status st = stmt->BindBlob(1, guid).ForEachRow([&](const sql::Statement& row) {
      refs[guid] = row.ColumnText(0);
      return Status::Ok();
    });
    if (!st.ok()) {
      return impl_->Context(st);
    }
  }
  return refs;
}

Result<std::unordered_map<std::string, std::string>> StateDb::LoadSinkRefs() {
  auto stmt = impl_->db->Prepare("SELECT guid, ref FROM sink_refs");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  std::unordered_map<std::string, std::string> refs;
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    refs[row.ColumnBlob(0)] = row.ColumnText(1);
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  return refs;
}

Result<std::vector<QuarantineEntry>> StateDb::LoadQuarantine() {
  auto stmt = impl_->db->Prepare(kSelectQuarantine);
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  std::vector<QuarantineEntry> entries;
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    QuarantineEntry e;
    Status row_st = ReadQuarantineRow(row, &e);
    entries.push_back(std::move(e));
    return row_st;
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  SortQuarantine(&entries);
  return entries;
}

Result<std::vector<QuarantineEntry>> StateDb::ReleaseQuarantine(
    const std::string& name_or_external_id) {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  auto& db = *impl_->db;
  sql::Transaction txn(db);
  if (!txn.status().ok()) {
    return impl_->Context(txn.status());
  }
  // The quarantine is small: match in C++, where the name's case is folded
  // the way the rest of syncd folds it.
  auto stmt = db.Prepare(kSelectQuarantine);
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  const std::string wanted = AsciiLower(name_or_external_id);
  std::vector<QuarantineEntry> released;
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    QuarantineEntry e;
    if (Status row_st = ReadQuarantineRow(row, &e); !row_st.ok()) {
      return row_st;
    }
    if (AsciiLower(e.name) == wanted || e.external_id == name_or_external_id) {
      released.push_back(std::move(e));
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  if (released.empty()) {
    return Status::NotFound("no quarantined object is named or has the externalId '" +
                            name_or_external_id + "' (state file " + impl_->path + ")");
  }
  auto remove = db.Prepare("DELETE FROM quarantine WHERE guid = ?1");
  if (!remove.ok()) {
    return impl_->Context(remove.status());
  }
  for (const auto& e : released) {
    if (st = remove->BindBlob(1, e.guid).Run(); !st.ok()) {
      return impl_->Context(st);
    }
  }
  if (st = txn.Commit(); !st.ok()) {
    return impl_->Context(st);
  }
  SortQuarantine(&released);
  return released;
}

}  // namespace syncd
