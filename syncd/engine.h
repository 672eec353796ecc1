// One sync run: read -> scope -> diff against state -> plan -> safety ->
// apply through the store, journaled so that a crash at any point leaves the
// store and the state either as before or as after, and a rerun converges.
#ifndef SYNCD_SYNCD_ENGINE_H_
#define SYNCD_SYNCD_ENGINE_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
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
#include "syncd/assignments.h"
#include "syncd/config.h"

namespace syncd {

class RenderedCreates;

struct RunResult {
  Plan plan;  // what was (or, in a dry run, would be) applied
  // A full read's creates of which the plan holds twins, rendered for JSON
  // output (PrintPlanJson's `rendered`). Null when there are none.
  std::shared_ptr<const RenderedCreates> rendered;
  // Refused by the store for their object (now quarantined).
  std::vector<std::pair<Operation, Status>> failed;
  // Not sent, or not accepted, before the run's time or tries ran out: the
  // next run brings them back.
  std::vector<std::pair<Operation, std::string>> deferred;
  int resumed = 0;         // operations re-applied from an interrupted run
  std::string dc_uri;      // the DC that answered
  int64_t started_at = 0;  // unix seconds; the watermark's last_success when it advances
  // A dry run of a source switch: how the ledger's assignments would be
  // reapplied once the switch is applied (PreviewReapply).
  std::optional<ReapplyPlan> reapply_preview;
  // IAM Identity Center after the run (AfterRunAws) failed: why. A warning,
  // not a failed run.
  std::string aws_warning;
};

struct RunOptions {
  bool dry_run = false;     // compute the plan; change nothing, not even the watermark
  bool force_full = false;  // a full reconciliation whatever the watermark says
  // The caller prints the plan as JSON, images and all: a full read renders
  // the creates of which the plan keeps twins as they come (RenderedCreates).
  bool json = false;
  // DCs that failed recently (host -> when), kept by the daemon across runs
  // so that it tries them last; this run adds to it. Null: no memory.
  ad::DcFailures* dc_failures = nullptr;
  // Past it, no request to the store starts; what is left is deferred to
  // the next run, and the run commits what landed. The daemon sets it to
  // run_timeout less a margin, and moves it to shutdown_timeout on SIGTERM.
  // Null: none.
  const std::atomic<std::chrono::steady_clock::time_point>* apply_deadline = nullptr;
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
  // Whether another process holds the lock at `path` now (an applying run).
  static bool HeldElsewhere(const std::string& path);

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

}  // namespace syncd

#endif  // SYNCD_SYNCD_ENGINE_H_
