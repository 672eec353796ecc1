// The assignment ledger reapplied through IAM Identity Center ([assignments]
// applier = "aws"): `syncd assignments reapply` and `check`, the automatic
// reapply after a run (reapply = "auto"), and the AWS part of `syncd
// status`. The matching of ledger entries to AD principals is PlanReapply's
// (assignments.h); the engine that resolves, diffs and creates is
// store/aws/reapply.h.
#ifndef SYNCD_SYNCD_AWS_REAPPLY_H_
#define SYNCD_SYNCD_AWS_REAPPLY_H_

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <ostream>

#include "aws/client.h"
#include "core/status.h"
#include "state/state_db.h"
#include "store/aws/identity_center.h"
#include "syncd/config.h"

namespace syncd {

// `syncd assignments reapply [--dry-run] [--json]` with applier = "aws".
// Matches the ledger (PlanReapply), then creates what the instance lacks
// (store/aws/reapply.h) and waits for the creates to finish; the ledger
// follows what is in force (relinked, restored, duplicates merged).
// --dry-run makes read calls only and prints the create calls it would
// make, one per line, and the entries left pending, ambiguous or missing.
// Exit status: 0 done, 2 something left (pending, in progress, failed,
// ambiguous, missing), an error otherwise.
Result<int> AwsReapplyCommand(const Config& config, bool dry_run, bool json, std::ostream& out);

// `syncd assignments check` with applier = "aws": ledger entries the live
// instance lacks (drift, which reapply restores) and live assignments the
// ledger does not record (unrecorded: `import --from aws` captures them;
// never removed). Read calls only. Exit status as CheckCommand.
Result<int> AwsCheckCommand(const Config& config, bool json, std::ostream& out);

// reapply = "auto", from AfterRunAws: when `instance_state` waits for a
// reapply (a switch) or the journal holds operations not settled, reapply
// until `deadline` (what is left continues next run, backoff respected);
// once nothing is left but ambiguous, missing or failed entries, clears
// reapply_pending (saved in the state). Logs what it did. Preconditions:
// the RunLock is held; `state` is writable.
boost::asio::awaitable<Status> AutoReapplyAws(StateDb& state, aws::Client& client,
                                              const Config& config,
                                              const identity_center::Instance& instance,
                                              std::chrono::steady_clock::time_point deadline);

// The AWS section of `syncd status`, from the state only: instance,
// identity store (and the previous one, when switched), principals
// resolved / pending / unmatched, assignments restored / in progress /
// pending / failed (with reasons) and an ETA. Prints nothing when the
// state has never seen an instance.
Status PrintAwsStatus(StateDb& state, std::ostream& out);
// The same as a JSON object (null when no instance was seen).
Result<boost::json::value> AwsStatusJson(StateDb& state);

}  // namespace syncd

#endif  // SYNCD_SYNCD_AWS_REAPPLY_H_
