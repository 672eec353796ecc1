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
#include "ldap/connection.h"
#include "ldap/kerberos.h"
#include "state/state_db.h"
#include "syncd/assignments.h"
#include "syncd/config.h"

namespace syncd {

struct RunResult {
  Plan plan;  // what was (or, in a dry run, would be) applied
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
};

// Hosts (lower case) -> when a connection to them last failed.
using DcFailures = std::map<std::string, std::chrono::system_clock::time_point>;
// How long a DC that failed is tried after the others.
inline constexpr std::chrono::minutes kRetryPreferredDcAfter{10};

struct RunOptions {
  bool dry_run = false;     // compute the plan; change nothing, not even the watermark
  bool force_full = false;  // a full reconciliation whatever the watermark says
  // DCs that failed recently (host -> when), kept by the daemon across runs
  // so that it tries them last; this run adds to it. Null: no memory.
  DcFailures* dc_failures = nullptr;
  // Past it, no request to the store starts; what is left is deferred to
  // the next run (the daemon's run_timeout, less a margin to commit).
  std::optional<std::chrono::steady_clock::time_point> apply_deadline;
  // Set (SIGTERM) to stop between store requests: the next run resumes.
  const std::atomic<bool>* stop = nullptr;
};

// For auth = "gssapi" with a keytab: credentials for [source] principal
// (default the machine account) from [source] keytab, in a private cache
// that KRB5CCNAME then names. Null when not needed (simple binds; keytab = ""
// for the caller's own cache). Call from the loop thread before any bind.
Result<std::unique_ptr<ldap::KerberosCredentials>> AcquireKerberos(const SourceConfig& source);

// The DCs to try, in order: [source] uris as written, or the DCs DNS SRV
// records name for [source] domain (site first, RFC 2782 order; ldap:// for
// GSSAPI and StartTLS, ldaps:// otherwise). Hosts in `failures` that failed
// within kRetryPreferredDcAfter go last.
Result<std::vector<std::string>> SourceUris(const SourceConfig& source,
                                            const DcFailures* failures = nullptr);

// What to do when a DC fails and the next one is tried (Connection::Open's
// on_failover): log it, and remember it in `failures` when given.
std::function<void(const std::string& uri, const Status& why)> OnDcFailover(DcFailures* failures);

// How to reach the DCs in `uris` with the configured credentials (the
// password file read now), with the watermark's DC first when it is there.
Result<ldap::ConnectOptions> ConnectOptionsFor(const Config& config, std::vector<std::string> uris,
                                               const std::optional<Watermark>& watermark);

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

// One run: incremental from the stored watermark when the sync policy
// allows (syncd/sync_policy.h), else a full reconciliation. Errors (config,
// auth, no DC reachable, store failures) leave store and state as they were.
boost::asio::awaitable<Result<RunResult>> RunOnce(const Config& config,
                                                  boost::asio::thread_pool& workers,
                                                  RunOptions options);

}  // namespace syncd

#endif  // SYNCD_SYNCD_ENGINE_H_
