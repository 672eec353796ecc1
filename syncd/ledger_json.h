// The assignment ledger as JSON: the export file (`syncd assignments export`,
// read back by `import`) and the entries that `list --json` and the reapply
// plan show. The file's schema is documented in docs/assignments.md.
#ifndef SYNCD_SYNCD_LEDGER_JSON_H_
#define SYNCD_SYNCD_LEDGER_JSON_H_

#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"
#include "core/status.h"
#include "state/state_db.h"

namespace syncd {

inline constexpr char kLedgerFileFormat[] = "syncd-assignments";
inline constexpr int kLedgerFileVersion = 1;

// {"kind", "name", "objectGUID", "objectSid", "sIDHistory", ...}: SIDs in
// S-1-... form, GUIDs dashed; absent keys are left out.
boost::json::object PrincipalJson(const SyncObject& principal, const std::string& domain_sid,
                                  const std::string& domain_name);
// {"id", "target", "status", "createdAt", "changedAt", "reason", "principal"}
boost::json::object LedgerEntryJson(const LedgerEntry& entry);

// The export file: {"format", "version", "exportedAt", "assignments": [...]}.
std::string LedgerFileJson(const std::vector<LedgerEntry>& entries, int64_t now);

// Reads an export file. The entries come back with id 0 (they are new to
// this ledger). Any malformed part refuses the whole file with an error
// naming it, e.g. "assignments[3].principal.objectSid: ...".
Result<std::vector<LedgerEntry>> ParseLedgerFile(std::string_view text);

}  // namespace syncd

#endif  // SYNCD_SYNCD_LEDGER_JSON_H_
