// What the files of state/ share, and nothing else includes: StateDb's
// Impl, the schema's migrations, the JSON codecs of stored values and the
// binding helpers. One file per concern implements StateDb: state_db.cc
// (open), migrations.cc, object_json.cc, object_cache.cc (the cached objects
// and the run commit that changes them), watermark.cc, journal.cc,
// sink_outcomes.cc (sink references, quarantine), runs.cc, ledger.cc.
#ifndef SYNCD_STATE_INTERNAL_H_
#define SYNCD_STATE_INTERNAL_H_

#include <boost/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"
#include "core/sqlite.h"
#include "core/status.h"
#include "state/state_db.h"

namespace syncd {

struct StateDb::Impl {
  std::unique_ptr<sql::Database> db;
  std::string path;  // as the caller named it; db->path() may be ":memory:"
  bool read_only = false;
  int schema_version = 0;
  // The open transaction of BeginStage or StageRun, until CommitStaged or
  // RollbackStaged. Declared after db: it goes first.
  std::unique_ptr<sql::Transaction> staged;
  bool run_staged = false;  // StageRun wrote into `staged`

  Status Context(const Status& st) const { return st.WithContext("state file " + path); }

  Status CheckWritable() const {
    if (!read_only) {
      return Status::Ok();
    }
    return Status::Internal("state file " + path +
                            " is open read-only (dry run); refusing to write to it");
  }

  // In watermark.cc: the watermark row and the revisit list, replaced.
  Status StoreWatermark(const Watermark& w);

  // In sink_outcomes.cc: stores a run's outcomes (StageRun's order).
  Status StoreOutcomes(const RunOutcomes& outcomes);

  // In journal.cc: drops run `run_id`'s journal, never another run's.
  Status ClearJournal(int64_t run_id);

  // In runs.cc: finishes `record`'s run row; NotFound when it has none.
  Status UpdateRun(const RunRecord& record);

  // In ledger.cc: SaveLedger's upserts, inside the caller's transaction.
  Status UpsertLedger(std::vector<LedgerEntry>* entries);
};

namespace state_internal {

// The schema: migration i takes it from version i to i + 1 (migrations.cc).
extern const std::vector<std::string> kMigrations;

// The JSON codecs of stored values (object_json.cc).
Result<boost::json::value> ParseJson(std::string_view text);
std::string AttributesToJson(const Attributes& attributes);
Status AttributesFromJson(const boost::json::value& value, Attributes* out);
std::string OperationToJson(const Operation& op);
Result<Operation> OperationFromJson(std::string_view text);
std::string CountsToJson(const std::map<std::string, int64_t>& counts);
Result<std::map<std::string, int64_t>> CountsFromJson(std::string_view text);

// Empty secondary keys are stored as NULL so the indexes do not group every
// object without a mail (say) under "".
inline void BindTextOrNull(sql::Statement& stmt, int index, const std::string& text) {
  if (text.empty()) {
    stmt.BindNull(index);
  } else {
    stmt.Bind(index, std::string_view(text));
  }
}

inline void BindBlobOrNull(sql::Statement& stmt, int index, const std::string& bytes) {
  if (bytes.empty()) {
    stmt.BindNull(index);
  } else {
    stmt.BindBlob(index, bytes);
  }
}

// The principal's identity keys in a ledger row, kept current with the
// cached object: ?1 guid, then ?2.. as BindLedgerKeys binds them.
inline constexpr char kRefreshLedger[] =
    "UPDATE assignments SET external_id = ?2, name = ?3, dn = ?4, display_name = ?5, sid = ?6, "
    "sid_history = ?7, consistency_guid = ?8, user_principal_name = ?9, sam_account_name = ?10, "
    "mail = ?11, domain_sid = ?12, domain_name = ?13 WHERE guid = ?1 AND status = 'active'";

// Binds ?1 (guid) to ?13 of kRefreshLedger from `o`; the domain comes from
// the object's own SID and DN (ledger.cc).
void BindLedgerKeys(sql::Statement& s, const SyncObject& o);

}  // namespace state_internal
}  // namespace syncd

#endif  // SYNCD_STATE_INTERNAL_H_
