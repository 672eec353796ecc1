// The IAM Identity Center reapply engine: given the assignments the ledger
// wants (each already matched to its AD principal), resolves each
// principal's identity-store id, reads each target's live assignments once,
// and creates only what is missing, paced and journaled:
//
//   resolve   aws_principals cache; else a ListUsers/ListGroups sweep or
//             GetUserId/GetGroupId (ExternalId{issuer, externalId}, then
//             userName / displayName), whichever costs fewer calls; not found
//             = unresolved (retried with backoff, never failed);
//   diff      ReadTargetAssignments per target against the desired set and
//             the operations in flight;
//   apply     creates through the client's token bucket, at most
//             `max_outstanding` IN_PROGRESS (halved by Throttling, grown
//             back one at a time); each operation journaled before it is
//             sent, its RequestId journaled before it is polled; polled per
//             PollCadence; FAILED keeps AWS's FailureReason;
//   resume    in_progress rows are polled, not re-sent; rows sent without a
//             journaled RequestId are looked for among the IN_PROGRESS
//             requests (ListAccountAssignmentCreationStatus) and in the
//             target's assignments before anything is created again.
//
// The journal and the principal ids live in the state (StateDb's
// aws_operations / aws_principals API).
#ifndef SYNCD_STORE_AWS_REAPPLY_H_
#define SYNCD_STORE_AWS_REAPPLY_H_

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "aws/client.h"
#include "core/model.h"
#include "core/status.h"
#include "state/state_db.h"
#include "store/aws/identity_center.h"
#include "store/aws/reapply_policy.h"

namespace syncd::identity_center {

// One assignment the ledger wants in force: entry `ledger_id`'s target for
// the AD principal it matched.
struct DesiredAssignment {
  int64_t ledger_id = 0;
  std::string target;          // the ledger's name
  std::string target_ref;      // the ledger's stored ARNs ("" = resolve the name)
  std::string principal_guid;  // raw objectGUID
  ObjectKind kind = ObjectKind::kUser;
  std::string principal_name;  // for reports
  std::string external_id;     // syncd's externalId: ExternalId.Id in the store
  std::string unique_name;     // userName (users) or displayName (groups)
};

struct ReapplyOptions {
  bool dry_run = false;  // read calls only; the creates are returned, not made
  // A person asked: unresolved and pending operations are due whatever
  // their backoff says, and failed ones are tried again.
  bool explicit_run = true;
  int max_outstanding = 10;
  PollCadence cadence;
  // Stop sending and polling at this time; what is left continues later.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // For the crash tests: exit the process (as kill -9 would) after this many
  // creates were sent; 0 = never. Set from SYNCD_AWS_CRASH_AFTER_CREATES.
  int crash_after_creates = 0;
};

// Where one desired assignment stands after the pass.
enum class DesiredState {
  kPresent,     // listed live, syncd did not create it now
  kCreated,     // created by this reapply (or a previous one, journaled)
  kInProgress,  // sent, not finished (polled next time)
  kPending,     // waits to be sent (backoff, deadline, dry run)
  kUnresolved,  // its principal is not in the identity store yet
  kFailed,      // reason says why
};
const char* DesiredStateName(DesiredState state);

struct DesiredOutcome {
  DesiredState state = DesiredState::kPending;
  std::string reason;
};

struct ReapplyResult {
  std::map<int64_t, DesiredOutcome> by_ledger_id;
  std::vector<CreateCall> calls;  // dry run: the creates it would make, in order
  // Live assignments of the targets read that no desired one accounts for.
  std::vector<LiveAssignment> unrecorded;
  int64_t creates_sent = 0;
  int64_t throttles = 0;
  size_t Count(DesiredState state) const;
};

// One reapply pass into `instance`. `state` holds the journal; it is only
// read when options.dry_run. Errors: a failed read (the pass changes
// nothing then) or the state; refusals of single creates are outcomes.
boost::asio::awaitable<Result<ReapplyResult>> Reapply(aws::Client& client, StateDb& state,
                                                      const Instance& instance,
                                                      const Catalog& catalog,
                                                      const std::vector<DesiredAssignment>& desired,
                                                      const ReapplyOptions& options);

// For `assignments check`: the identity-store ids of `principals` (cache,
// then read calls; nothing stored), guid -> id; unresolved ones are absent.
boost::asio::awaitable<Result<std::map<std::string, std::string>>> LookUpPrincipalIds(
    aws::Client& client, StateDb& state, const Instance& instance,
    const std::vector<DesiredAssignment>& principals);

}  // namespace syncd::identity_center

#endif  // SYNCD_STORE_AWS_REAPPLY_H_
