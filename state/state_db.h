// The SQLite state: the cached image of every object syncd applied, their
// memberships, the outbox of a run in progress and the record of each run.
#ifndef SYNCD_STATE_STATE_DB_H_
#define SYNCD_STATE_STATE_DB_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/status.h"

namespace syncd {

struct RunRecord {
  int64_t id = 0;
  std::string kind;                       // "full"
  int64_t started_at = 0;                 // unix seconds
  int64_t finished_at = 0;                // 0 while running
  std::string outcome;                    // "running", "ok", "partial", "failed"
  std::map<std::string, int64_t> counts;  // "create", "update", ..., "held"
  std::string message;
};

class StateDb {
 public:
  // Opens or creates the state at `path` and applies schema migrations.
  // read_only: never writes; a missing file reads as an empty state (used by
  // --dry-run, which must change nothing).
  static Result<std::unique_ptr<StateDb>> Open(const std::string& path, bool read_only = false);

  ~StateDb();
  StateDb(const StateDb&) = delete;
  StateDb& operator=(const StateDb&) = delete;

  int SchemaVersion() const;

  Result<std::vector<SyncObject>> LoadObjects();
  Result<std::vector<Membership>> LoadMemberships();

  // Starts a run record ("running") and returns its id.
  Result<int64_t> BeginRun(const std::string& kind, int64_t started_at);

  // Journals the operations about to be applied, in one transaction, before
  // the store sees any of them. Precondition: no outbox is pending.
  Status WriteOutbox(int64_t run_id, const std::vector<Operation>& ops);

  // The journaled operations of a run that did not commit (after a crash),
  // in their original order, with that run's id; empty if none.
  Result<std::vector<Operation>> PendingOutbox(int64_t* run_id);

  // In one transaction: applies `ops` to the cached objects and memberships,
  // clears the outbox and finishes the run record with `record`'s outcome,
  // counts and message.
  Status CommitRun(const RunRecord& record, const std::vector<Operation>& ops);

  // CommitRun in two steps, so that the work can overlap the store's batch:
  // StageRun does all of it in a transaction it leaves open; CommitStaged
  // makes it durable; RollbackStaged drops it. One staged run at a time.
  Status StageRun(const RunRecord& record, const std::vector<Operation>& ops);
  Status CommitStaged();
  void RollbackStaged();

  // Finishes a run record without touching the cache (failed or empty runs).
  Status FinishRun(const RunRecord& record);

  // Most recent first.
  Result<std::vector<RunRecord>> RecentRuns(int limit);

 private:
  struct Impl;
  explicit StateDb(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace syncd

#endif  // SYNCD_STATE_STATE_DB_H_
