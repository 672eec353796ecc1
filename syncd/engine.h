// One sync run: read -> scope -> diff against state -> plan -> safety ->
// apply through the store, journaled so that a crash at any point leaves the
// store and the state either as before or as after, and a rerun converges.
#ifndef SYNCD_SYNCD_ENGINE_H_
#define SYNCD_SYNCD_ENGINE_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/status.h"
#include "source/ad/dc.h"
#include "state/state_db.h"
#include "store/identity_store.h"
#include "syncd/assignments.h"
#include "syncd/config.h"

namespace syncd {

struct ApplyOutcome {
  size_t applied = 0;
  // Operations the store refused for their object (a conflict with an object
  // syncd does not own, a value it rejects); retried on the next run.
  std::vector<std::pair<Operation, Status>> failed;
  std::vector<size_t> failed_indexes;  // into the batch, ascending
};

struct RunResult {
  Plan plan;  // what was (or, in a dry run, would be) applied
  std::vector<std::pair<Operation, Status>> failed;
  int resumed = 0;         // operations re-applied from an interrupted run
  std::string dc_uri;      // the DC that answered
  int64_t started_at = 0;  // unix seconds; the watermark's last_success when it advances
  // A dry run of a source switch: how the ledger's assignments would be
  // reapplied once the switch is applied (PreviewReapply).
  std::optional<ReapplyPlan> reapply_preview;
};

struct RunOptions {
  bool dry_run = false;     // compute the plan; change nothing, not even the watermark
  bool force_full = false;  // a full reconciliation whatever the watermark says
  // DCs that failed recently (host -> when), kept by the daemon across runs
  // so that it tries them last; this run adds to it. Null: no memory.
  ad::DcFailures* dc_failures = nullptr;
};

// One writer of store and state at a time: runs, and the assignment
// commands, hold an flock on "<state path>.lock" while they change them.
class RunLock {
 public:
  RunLock() = default;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock();

  // Unavailable when another process holds it; never waits.
  Status Acquire(const std::string& path);

 private:
  int fd_ = -1;
};

// One run: open the source (source/source.h), choose incremental or full
// (syncd/sync_policy.h), read, plan, and (unless a dry run) apply. Errors
// (config, auth, no DC reachable, store failures) leave store and state as
// they were.
boost::asio::awaitable<Result<RunResult>> RunOnce(const Config& config,
                                                  boost::asio::thread_pool& workers,
                                                  RunOptions options);

// Applies `ops` to the store as one batch. Operations the store refuses for
// their object are skipped and reported; any other store failure rolls the
// batch back and is returned.
Result<ApplyOutcome> ApplyBatch(IdentityStore& store, const std::vector<Operation>& ops);

// Journals `ops` in the state, applies them as one store batch, then records
// what landed, finishes run `record.id` (from StateDb::BeginRun) and stores
// `watermark` (when given; refused operations join its revisit list), in one
// state transaction. After a crash anywhere in between, ResumeOutbox()
// finishes the job.
// The store batch and the state's update run side by side on `workers`
// (preconditions: state and store are used by nobody else meanwhile).
boost::asio::awaitable<Result<ApplyOutcome>> ApplyPlan(StateDb& state, IdentityStore& store,
                                                       const std::vector<Operation>& ops,
                                                       RunRecord record,
                                                       boost::asio::thread_pool& workers,
                                                       const Watermark* watermark = nullptr);

// Finishes an interrupted run from its journal. The operations are
// idempotent, so applying them again is safe whatever part landed before.
// Returns how many were applied (0: nothing was pending).
Result<int> ResumeOutbox(StateDb& state, IdentityStore& store);

}  // namespace syncd

#endif  // SYNCD_SYNCD_ENGINE_H_
