// The pure decisions of the IAM Identity Center reapply (reapply.h): when to
// poll, how many creates may be outstanding, what is missing, what a
// journaled operation needs after a restart, how a refused create is
// classified, how the calls are shown, and the ETA. No I/O: the engine and
// the unit tests share them.
#ifndef SYNCD_STORE_AWS_REAPPLY_POLICY_H_
#define SYNCD_STORE_AWS_REAPPLY_POLICY_H_

#include <boost/json.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "aws/client.h"
#include "state/state_db.h"
#include "store/aws/identity_center.h"

namespace syncd::identity_center {

// DescribeAccountAssignmentCreationStatus cadence: terraform-provider-aws
// polls first after 10 s, then at least 5 s apart; syncd backs off from
// there to `max` (research aws-sinks.md §3.3, §3.6).
struct PollCadence {
  std::chrono::milliseconds first{10000};
  std::chrono::milliseconds interval{5000};
  std::chrono::milliseconds max{30000};
};
// The wait before poll number `polls_done` + 1 of one operation:
// first, then interval, interval, 2x, 2x, 4x ... up to max.
std::chrono::milliseconds PollDelay(const PollCadence& cadence, int polls_done);
// The defaults, or SYNCD_AWS_POLL_MS="FIRST,INTERVAL,MAX" (milliseconds; a
// hidden knob for tests and the benchmark; malformed values are ignored).
PollCadence PollCadenceFromEnvironment();

// The 10 s cadence would keep every slot for at least 10 s whatever AWS
// takes. While requests are in flight, one ListAccountAssignmentCreation-
// Status (Filter IN_PROGRESS) tells which of them have finished, and one
// more (Filter FAILED) which of those failed: only the failed ones are
// described (for their FailureReason). The cadence above is the fallback
// when a list fails.

// How long creates take, learned from the status lists: the time from a
// create's answer to the first list that no longer shows it in progress,
// the shortest of the last `kWindow` (an upper bound of what AWS took).
class CompletionEstimate {
 public:
  static constexpr size_t kWindow = 32;
  void Observe(std::chrono::milliseconds took);
  // Zero until something was observed.
  std::chrono::milliseconds Shortest() const;

 private:
  std::vector<std::chrono::milliseconds> recent_;  // ring of kWindow
  size_t next_ = 0;
};

// When the next status list goes. Not before the oldest request in flight
// has run for the shortest completion seen (a list before then finds
// nothing), and at least a gap after the previous list: `kMinGap` after a
// list that found something finished (the next finish is near), doubling
// after each that found nothing, up to `kMaxGap` (one slow request is not
// listed four times a second).
class StatusListSchedule {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kMinGap{200};
  static constexpr std::chrono::milliseconds kMaxGap{5000};

  void Listed(Clock::time_point at, bool found_finished);
  Clock::time_point Next(Clock::time_point oldest_sent, std::chrono::milliseconds shortest) const;

 private:
  Clock::time_point last_;  // epoch: never listed
  std::chrono::milliseconds gap_ = kMinGap;
};

// How many creates may be outstanding: additive increase (one more after a
// window of `limit` successes), multiplicative decrease (halved by a
// Throttling answer), between 1 and `max`.
class OutstandingLimit {
 public:
  explicit OutstandingLimit(int max);
  int limit() const { return limit_; }
  void OnThrottle();
  void OnSuccess();

 private:
  int max_;
  int limit_;
  int successes_ = 0;
};

// The identity of an assignment for diffs: target ARN + principal.
std::string AssignmentKey(const Target& target, PrincipalType type,
                          const std::string& principal_id);
std::string AssignmentKey(const LiveAssignment& assignment);

// `desired` minus what is `live` and what is `in_flight` (assignment keys),
// without repeats, in `desired` order: the creates to make. CreateAccount-
// Assignment accepts duplicates silently, so anything listed or in flight
// is never created again.
std::vector<LiveAssignment> MissingAssignments(const std::vector<LiveAssignment>& desired,
                                               const std::vector<LiveAssignment>& live,
                                               const std::set<std::string>& in_flight);

// What a journaled operation needs when a reapply (re)starts.
enum class ResumeAction {
  kPoll,       // in_progress with its RequestId: polled, never re-sent
  kReconcile,  // sending: AWS may have it; looked for before anything is re-sent
  kSend,       // pending (or failed, when retrying failed ones), due
  kResolve,    // unresolved and due: look its principal up again
  kWait,       // not due yet (backoff)
  kDone,       // succeeded, or failed and not retried
};
// `respect_backoff` false (a person ran the command): everything is due.
ResumeAction DecideResume(const AwsOperation& op, int64_t now, bool respect_backoff,
                          bool retry_failed);

// Seconds before an unresolved principal is looked up again: AWS's own AD
// sync can take hours, so 1 min doubling to 1 h, never given up.
int64_t UnresolvedRetryDelay(int64_t attempts);

// A refused create, classified.
enum class CreateVerdict {
  kThrottled,   // back off with jitter and halve the outstanding limit
  kRetry,       // Conflict, 5xx, transport: back off with jitter
  kUnresolved,  // the principal is not (or no longer) in the store
  kManagement,  // AccessDenied: on the management account, needs management-
                //   account credentials (failed); elsewhere the policy lacks
                //   the action (the pass stops with the error)
  kFailed,      // Validation, ServiceQuotaExceeded, other denials: parked
};
CreateVerdict ClassifyCreateError(const aws::Error& error);
// The reason journaled for a failed create ("needs management-account
// credentials: ..." for kManagement).
std::string FailureReason(CreateVerdict verdict, const aws::Error& error, const Target& target);

// The create call for an assignment: operation name and input, exactly as
// sent (and as --dry-run shows it).
struct CreateCall {
  std::string operation;  // "CreateAccountAssignment" or "CreateApplicationAssignment"
  boost::json::object input;
};
CreateCall MakeCreateCall(const std::string& instance_arn, const LiveAssignment& assignment);
// "CreateAccountAssignment InstanceArn=... TargetId=... TargetType=AWS_ACCOUNT
// PermissionSetArn=... PrincipalType=USER PrincipalId=...": the input's
// keys in the API's order, one line.
std::string CreateCallText(const CreateCall& call);
boost::json::object CreateCallJson(const CreateCall& call);  // {"operation", "input"}

// Seconds until `remaining` operations are done at the rate observed
// (`completed` in the last `window_seconds`), or at AWS's typical 20 per
// minute when too few were observed.
int64_t EstimateSeconds(int64_t remaining, int64_t completed, int64_t window_seconds);

}  // namespace syncd::identity_center

#endif  // SYNCD_STORE_AWS_REAPPLY_POLICY_H_
