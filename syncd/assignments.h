// The assignment ledger's flows: assign and unassign, the reapply plan that
// finds each assignment's principal again (after a source switch, or when the
// store lost it) and applies it, and the commands around them.
//
// The ledger (StateDb::LoadLedger) is the record; the store holds what is in
// force. Reapply never guesses: a principal is matched by the first key of
// the configured order that finds any candidate, and only when that key finds
// exactly one.
#ifndef SYNCD_SYNCD_ASSIGNMENTS_H_
#define SYNCD_SYNCD_ASSIGNMENTS_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/status.h"
#include "state/state_db.h"
#include "store/sink.h"
#include "syncd/config.h"

namespace syncd {

enum class ReapplyAction {
  kInPlace,    // active, and its principal holds the target: nothing to do
  kRestore,    // the store lacks it: assign the target to the matched principal
  kRelink,     // the matched principal already holds the target: the ledger follows it
  kDuplicate,  // another entry already brings the same target to the same principal
  kAmbiguous,  // several principals match at `key`: left alone, reported
  kMissing,    // no principal matches any key: left alone, reported
};
const char* ReapplyActionName(ReapplyAction action);  // "in-place", "restore", ...

struct ReapplyStep {
  size_t entry = 0;  // into ReapplyPlan::ledger
  ReapplyAction action = ReapplyAction::kMissing;
  std::optional<MatchKey> key;      // the key that matched, or found several
  std::optional<size_t> principal;  // into ReapplyPlan::principals: the match
  std::vector<size_t> candidates;   // kAmbiguous: into ReapplyPlan::principals
  int64_t duplicate_of = 0;         // kDuplicate: the ledger id that keeps it
};

struct ReapplyPlan {
  std::vector<LedgerEntry> ledger;     // every entry but the removed ones
  std::vector<SyncObject> principals;  // the objects syncd keeps in the store
  std::vector<ReapplyStep> steps;      // one per ledger entry, in ledger order
  // In the store, but not recorded by any active entry: reported, left alone.
  std::vector<StoredAssignment> unrecorded;

  size_t Count(ReapplyAction action) const;
  // Nothing left to restore, relink or merge (ambiguous and missing entries
  // can remain: only a person can decide them).
  bool Settled() const;
};

// Pure. `ledger`: the entries to place (removed ones are skipped);
// `principals`: the objects in the store, with their identity keys (the
// state's cache); `in_store`: the store's assignments; `order`: the keys to
// try. An active entry whose objectGUID is among `principals` is that
// principal, whatever the order says.
ReapplyPlan PlanReapply(std::vector<LedgerEntry> ledger, std::vector<SyncObject> principals,
                        const std::vector<StoredAssignment>& in_store,
                        const std::vector<MatchKey>& order);

// PlanReapply on the state's ledger and cache and the store's assignments.
Result<ReapplyPlan> LoadReapplyPlan(StateDb& state, AssignmentSink& store,
                                    const AssignmentsConfig& config);

struct ReapplyOutcome {
  ReapplyPlan plan;
  size_t restored = 0;              // assignments put in the store
  size_t relinked = 0;              // ledger entries moved to their new principal
  size_t merged = 0;                // duplicates retired
  std::vector<std::string> failed;  // restores the store refused, with why
};

// Applies a plan: the store's assignments in one batch, then the ledger in
// one transaction (entries restored or relinked become active on their new
// principal, with its keys; duplicates become removed). A crash between the
// two leaves entries the next reapply finds in place and relinks.
// Preconditions: the caller holds the RunLock; `plan` came from this state.
Result<ReapplyOutcome> ApplyReapply(StateDb& state, AssignmentSink& store, ReapplyPlan plan,
                                    int64_t now);

// The ledger part of ApplyReapply, for appliers that put assignments in
// force elsewhere (IAM Identity Center): in one transaction, the entries of
// the steps whose restore `landed` (by step index) or that relink become
// active on their matched principal, and duplicates become removed; counts
// into `outcome`. Steps of other actions are left as they are.
Status RecordReapply(StateDb& state, const ReapplyPlan& plan, const std::vector<bool>& landed,
                     int64_t now, ReapplyOutcome* outcome);

// "user:NAME" or "group:NAME" -> kind and NAME.
Result<std::pair<ObjectKind, std::string>> ParsePrincipal(const std::string& text);

// What reapply would do once `switch_plan`, the plan of a source switch, is
// applied: the principals are the objects it creates or updates, and the
// store keeps the assignments of the principals it does not delete. For
// `syncd --dry-run`, before anything changes. The store is read if it exists.
Result<ReapplyPlan> PreviewReapply(StateDb& state, const Plan& switch_plan, const Config& config,
                                   AssignmentSink* store);

// A summary line per action, then a line per entry that is not in place.
void PrintReapplyText(std::ostream& out, const ReapplyPlan& plan, const std::string& title);

// The CLI. Each opens state and store itself; the changing ones take the
// RunLock. Output goes to `out`. Return the exit status: 0 done or nothing
// to do, 2 something is left (drift, orphaned or unresolved entries), or an
// error.
Result<int> AssignCommand(const Config& config, const std::string& principal,
                          const std::string& target, std::ostream& out);
Result<int> UnassignCommand(const Config& config, const std::string& principal,
                            const std::string& target, std::ostream& out);
Result<int> ListCommand(const Config& config, bool json, std::ostream& out);
Result<int> CheckCommand(const Config& config, bool json, std::ostream& out);
Result<int> ReapplyCommand(const Config& config, bool dry_run, bool json, std::ostream& out);
Result<int> ExportCommand(const Config& config, const std::string& file, std::ostream& out);
Result<int> ImportCommand(const Config& config, const std::string& file, std::ostream& out);

// After a run that switched the source: reapply by itself when configured
// (auto), else say what waits. Logs either way. Preconditions as
// ApplyReapply.
Status AfterSourceSwitch(StateDb& state, AssignmentSink& store, const AssignmentsConfig& config,
                         int64_t now);

}  // namespace syncd

#endif  // SYNCD_SYNCD_ASSIGNMENTS_H_
