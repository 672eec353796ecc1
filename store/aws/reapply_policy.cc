#include "store/aws/reapply_policy.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <string_view>

namespace syncd::identity_center {
namespace json = boost::json;

std::chrono::milliseconds PollDelay(const PollCadence& cadence, int polls_done) {
  if (polls_done <= 0) return cadence.first;
  // interval, interval, 2x, 2x, 4x, 4x, ...: at least `interval` apart.
  const int doublings = std::min((polls_done - 1) / 2, 16);
  return std::min(cadence.max, cadence.interval * (int64_t{1} << doublings));
}

PollCadence PollCadenceFromEnvironment() {
  PollCadence cadence;
  const char* text = std::getenv("SYNCD_AWS_POLL_MS");  // NOLINT(concurrency-mt-unsafe)
  if (text == nullptr) return cadence;
  std::istringstream in(text);
  int64_t first = 0;
  int64_t interval = 0;
  int64_t max = 0;
  char comma1 = 0;
  char comma2 = 0;
  if (in >> first >> comma1 >> interval >> comma2 >> max && comma1 == ',' && comma2 == ',' &&
      first > 0 && interval > 0 && max >= interval) {
    cadence = {std::chrono::milliseconds(first), std::chrono::milliseconds(interval),
               std::chrono::milliseconds(max)};
  }
  return cadence;
}

void CompletionEstimate::Observe(std::chrono::milliseconds took) {
  if (recent_.size() < kWindow) {
    recent_.push_back(took);
  } else {
    recent_[next_] = took;
  }
  next_ = (next_ + 1) % kWindow;
}

std::chrono::milliseconds CompletionEstimate::Shortest() const {
  if (recent_.empty()) return std::chrono::milliseconds(0);
  return *std::min_element(recent_.begin(), recent_.end());
}

void StatusListSchedule::Listed(Clock::time_point at, bool found_finished) {
  last_ = at;
  gap_ = found_finished ? kMinGap : std::min(kMaxGap, gap_ * 2);
}

StatusListSchedule::Clock::time_point StatusListSchedule::Next(
    Clock::time_point oldest_sent, std::chrono::milliseconds shortest) const {
  return std::max(last_ + gap_, oldest_sent + shortest);
}

OutstandingLimit::OutstandingLimit(int max) : max_(std::max(1, max)), limit_(max_) {}

void OutstandingLimit::OnThrottle() {
  limit_ = std::max(1, limit_ / 2);
  successes_ = 0;
}

void OutstandingLimit::OnSuccess() {
  if (limit_ >= max_) return;
  if (++successes_ >= limit_) {
    ++limit_;
    successes_ = 0;
  }
}

std::string AssignmentKey(const Target& target, PrincipalType type,
                          const std::string& principal_id) {
  const std::string& where = target.type == TargetType::kApplication
                                 ? target.application_arn
                                 : target.permission_set_arn + "@" + target.account_id;
  return where + "|" + PrincipalTypeName(type) + "|" + principal_id;
}

std::string AssignmentKey(const LiveAssignment& assignment) {
  return AssignmentKey(assignment.target, assignment.principal_type, assignment.principal_id);
}

std::vector<LiveAssignment> MissingAssignments(const std::vector<LiveAssignment>& desired,
                                               const std::vector<LiveAssignment>& live,
                                               const std::set<std::string>& in_flight) {
  std::set<std::string> seen = in_flight;
  for (const auto& a : live) seen.insert(AssignmentKey(a));
  std::vector<LiveAssignment> missing;
  for (const auto& a : desired) {
    if (seen.insert(AssignmentKey(a)).second) missing.push_back(a);
  }
  return missing;
}

ResumeAction DecideResume(const AwsOperation& op, int64_t now, bool respect_backoff,
                          bool retry_failed) {
  const bool due = !respect_backoff || op.next_attempt_at <= now;
  switch (op.status) {
    case AwsOpStatus::kInProgress:
      // Without a RequestId nothing can be polled: AWS may hold it, as after
      // a crash before the id was journaled.
      return op.request_id.empty() ? ResumeAction::kReconcile : ResumeAction::kPoll;
    case AwsOpStatus::kSending:
      return ResumeAction::kReconcile;
    case AwsOpStatus::kPending:
      return due ? ResumeAction::kSend : ResumeAction::kWait;
    case AwsOpStatus::kUnresolved:
      return due ? ResumeAction::kResolve : ResumeAction::kWait;
    case AwsOpStatus::kFailed:
      return retry_failed ? ResumeAction::kSend : ResumeAction::kDone;
    case AwsOpStatus::kSucceeded:
      return ResumeAction::kDone;
  }
  return ResumeAction::kDone;
}

int64_t UnresolvedRetryDelay(int64_t attempts) {
  constexpr int64_t kFirst = 60;
  constexpr int64_t kCap = 3600;
  int64_t delay = kFirst;
  for (int64_t i = 1; i < attempts && delay < kCap; ++i) delay *= 2;
  return std::min(delay, kCap);
}

CreateVerdict ClassifyCreateError(const aws::Error& error) {
  switch (error.kind) {
    case aws::ErrorKind::kThrottling:
      return CreateVerdict::kThrottled;
    case aws::ErrorKind::kConflict:
    case aws::ErrorKind::kServer:
    case aws::ErrorKind::kTransport:
    case aws::ErrorKind::kClockSkew:
      return CreateVerdict::kRetry;
    case aws::ErrorKind::kNotFound:
      return CreateVerdict::kUnresolved;
    case aws::ErrorKind::kAccessDenied:
      return CreateVerdict::kManagement;
    case aws::ErrorKind::kValidation:
    case aws::ErrorKind::kQuotaExceeded:
    case aws::ErrorKind::kAuthFailure:
      return CreateVerdict::kFailed;
  }
  return CreateVerdict::kFailed;
}

std::string FailureReason(CreateVerdict verdict, const aws::Error& error, const Target& target) {
  std::string what = error.type.empty() ? error.message : error.type + ": " + error.message;
  if (verdict == CreateVerdict::kManagement) {
    // A delegated administrator cannot manage assignments to the
    // organization's management account (research aws-sinks.md §3.2).
    return "needs management-account credentials (" + target.Name() +
           "; a delegated administrator cannot assign to the management account): " + what;
  }
  return what;
}

CreateCall MakeCreateCall(const std::string& instance_arn, const LiveAssignment& assignment) {
  CreateCall call;
  const Target& target = assignment.target;
  if (target.type == TargetType::kApplication) {
    call.operation = "CreateApplicationAssignment";
    call.input["ApplicationArn"] = target.application_arn;
  } else {
    call.operation = "CreateAccountAssignment";
    call.input["InstanceArn"] = instance_arn;
    call.input["TargetId"] = target.account_id;
    call.input["TargetType"] = "AWS_ACCOUNT";
    call.input["PermissionSetArn"] = target.permission_set_arn;
  }
  call.input["PrincipalType"] = PrincipalTypeName(assignment.principal_type);
  call.input["PrincipalId"] = assignment.principal_id;
  return call;
}

std::string CreateCallText(const CreateCall& call) {
  std::string line = call.operation;
  for (const auto& [key, value] : call.input) {
    line += " " + std::string(key) + "=" + std::string(value.as_string());
  }
  return line;
}

json::object CreateCallJson(const CreateCall& call) {
  return json::object{{"operation", call.operation}, {"input", call.input}};
}

int64_t EstimateSeconds(int64_t remaining, int64_t completed, int64_t window_seconds) {
  if (remaining <= 0) return 0;
  // AWS's own load test: about 20 assignment operations a minute.
  constexpr int64_t kTypicalPerMinute = 20;
  constexpr int64_t kEnoughObserved = 5;
  if (completed >= kEnoughObserved && window_seconds > 0) {
    return (remaining * window_seconds + completed - 1) / completed;
  }
  return (remaining * 60 + kTypicalPerMinute - 1) / kTypicalPerMinute;
}

}  // namespace syncd::identity_center
