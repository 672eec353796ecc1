#include "store/aws/reapply_policy.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

namespace syncd::identity_center {
namespace {

using std::chrono::milliseconds;

Target Account(const std::string& account, const std::string& ps) {
  Target t;
  t.type = TargetType::kAccount;
  t.account_id = account;
  t.permission_set_name = ps;
  t.permission_set_arn = "arn:aws:sso:::permissionSet/ssoins-1/" + ps;
  return t;
}

Target App(const std::string& name) {
  Target t;
  t.type = TargetType::kApplication;
  t.application_name = name;
  t.application_arn = "arn:aws:sso::123456789012:application/ssoins-1/" + name;
  return t;
}

LiveAssignment Assign(const Target& t, PrincipalType type, const std::string& id) {
  return LiveAssignment{.target = t, .principal_type = type, .principal_id = id};
}

TEST(PollDelayTest, FirstAfterTenSecondsThenFiveApartBackingOffToTheCap) {
  const PollCadence cadence;
  std::vector<int64_t> seconds;
  seconds.reserve(9);
  for (int polls = 0; polls < 9; ++polls) {
    seconds.push_back(
        std::chrono::duration_cast<std::chrono::seconds>(PollDelay(cadence, polls)).count());
  }
  EXPECT_EQ(seconds, (std::vector<int64_t>{10, 5, 5, 10, 10, 20, 20, 30, 30}));
  for (int polls = 1; polls < 100; ++polls)
    EXPECT_GE(PollDelay(cadence, polls), milliseconds(5000));
}

TEST(PollDelayTest, HiddenEnvironmentKnobShortensTheCadenceForTests) {
  ::setenv("SYNCD_AWS_POLL_MS", "200,100,400", 1);  // NOLINT(concurrency-mt-unsafe)
  PollCadence cadence = PollCadenceFromEnvironment();
  EXPECT_EQ(cadence.first, milliseconds(200));
  EXPECT_EQ(cadence.interval, milliseconds(100));
  EXPECT_EQ(cadence.max, milliseconds(400));
  ::setenv("SYNCD_AWS_POLL_MS", "nonsense", 1);  // NOLINT(concurrency-mt-unsafe)
  cadence = PollCadenceFromEnvironment();
  EXPECT_EQ(cadence.first, milliseconds(10000));
  ::unsetenv("SYNCD_AWS_POLL_MS");  // NOLINT(concurrency-mt-unsafe)
}

TEST(StatusListTest, NotBeforeTheOldestCanHaveFinishedAndBackingOffWhileNothingFinishes) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point t0 = Clock::time_point() + std::chrono::hours(1);
  StatusListSchedule schedule;
  // Nothing listed or learned yet: at once.
  EXPECT_EQ(schedule.Next(t0, milliseconds(0)), t0);
  schedule.Listed(t0, true);
  // Something finished: the next one soon after.
  EXPECT_EQ(schedule.Next(t0 - milliseconds(9000), milliseconds(2100)),
            t0 + StatusListSchedule::kMinGap);
  // Creates took 2.1 s: no list before the oldest in flight is that old.
  EXPECT_EQ(schedule.Next(t0 + milliseconds(500), milliseconds(2100)), t0 + milliseconds(2600));
  // Lists that find nothing finished space out, up to the maximum gap.
  Clock::time_point at = t0;
  milliseconds expected_gap = StatusListSchedule::kMinGap;
  for (int i = 0; i < 10; ++i) {
    schedule.Listed(at, false);
    expected_gap = std::min(StatusListSchedule::kMaxGap, expected_gap * 2);
    EXPECT_EQ(schedule.Next(t0 - std::chrono::hours(1), milliseconds(2100)), at + expected_gap)
        << i;
    at += expected_gap;
  }
  EXPECT_EQ(expected_gap, StatusListSchedule::kMaxGap);
  schedule.Listed(at, true);
  EXPECT_EQ(schedule.Next(t0 - std::chrono::hours(1), milliseconds(2100)),
            at + StatusListSchedule::kMinGap);
}

TEST(CompletionEstimateTest, ShortestOfTheRecentWindow) {
  CompletionEstimate estimate;
  EXPECT_EQ(estimate.Shortest(), milliseconds(0)) << "nothing observed";
  estimate.Observe(milliseconds(3000));
  estimate.Observe(milliseconds(2100));
  estimate.Observe(milliseconds(2900));
  EXPECT_EQ(estimate.Shortest(), milliseconds(2100));
  // Slower creates later: the quick ones leave the window.
  for (size_t i = 0; i < CompletionEstimate::kWindow; ++i) estimate.Observe(milliseconds(10000));
  EXPECT_EQ(estimate.Shortest(), milliseconds(10000));
  estimate.Observe(milliseconds(4000));
  EXPECT_EQ(estimate.Shortest(), milliseconds(4000));
}

TEST(OutstandingLimitTest, ThrottlingHalvesAndSuccessesGrowItBackOneAtATime) {
  OutstandingLimit limit(15);
  EXPECT_EQ(limit.limit(), 15);
  limit.OnThrottle();
  EXPECT_EQ(limit.limit(), 7);
  limit.OnThrottle();
  limit.OnThrottle();
  limit.OnThrottle();
  EXPECT_EQ(limit.limit(), 1);
  limit.OnThrottle();
  EXPECT_EQ(limit.limit(), 1) << "never below one";
  limit.OnSuccess();
  EXPECT_EQ(limit.limit(), 2);
  limit.OnSuccess();
  EXPECT_EQ(limit.limit(), 2) << "a window of `limit` successes per step";
  limit.OnSuccess();
  EXPECT_EQ(limit.limit(), 3);
  for (int i = 0; i < 1000; ++i) limit.OnSuccess();
  EXPECT_EQ(limit.limit(), 15) << "never above the configured maximum";
}

TEST(MissingAssignmentsTest, OnlyWhatIsNeitherListedNorInFlightOnce) {
  const Target a = Account("111111111111", "Admin");
  const Target b = Account("222222222222", "Admin");
  const Target app = App("Payroll");
  const std::vector<LiveAssignment> desired = {
      Assign(a, PrincipalType::kUser, "u1"),   Assign(a, PrincipalType::kUser, "u2"),
      Assign(b, PrincipalType::kGroup, "g1"),  Assign(a, PrincipalType::kUser, "u1"),
      Assign(app, PrincipalType::kUser, "u1"), Assign(b, PrincipalType::kUser, "g1")};
  const std::vector<LiveAssignment> live = {Assign(a, PrincipalType::kUser, "u2")};
  const std::set<std::string> in_flight = {AssignmentKey(b, PrincipalType::kGroup, "g1")};
  const auto missing = MissingAssignments(desired, live, in_flight);
  ASSERT_EQ(missing.size(), 3U);
  EXPECT_EQ(missing[0], desired[0]);
  EXPECT_EQ(missing[1], desired[4]);
  EXPECT_EQ(missing[2], desired[5]) << "a USER and a GROUP with one id are two assignments";
}

TEST(MissingAssignmentsTest, KeyIsTheArnNotTheName) {
  Target renamed = Account("111111111111", "Admin");
  renamed.permission_set_name = "AdministratorAccess";
  EXPECT_EQ(AssignmentKey(Account("111111111111", "Admin"), PrincipalType::kUser, "u"),
            AssignmentKey(renamed, PrincipalType::kUser, "u"));
}

TEST(DecideResumeTest, InProgressIsPolledSendingIsReconciledNeverResent) {
  AwsOperation op;
  op.status = AwsOpStatus::kInProgress;
  op.request_id = "r-1";
  EXPECT_EQ(DecideResume(op, 100, true, false), ResumeAction::kPoll);
  op.request_id.clear();
  EXPECT_EQ(DecideResume(op, 100, true, false), ResumeAction::kReconcile);
  op.status = AwsOpStatus::kSending;
  EXPECT_EQ(DecideResume(op, 100, false, true), ResumeAction::kReconcile);
}

TEST(DecideResumeTest, BackoffHoldsTheDaemonButNotAPerson) {
  AwsOperation op;
  op.status = AwsOpStatus::kUnresolved;
  op.next_attempt_at = 200;
  EXPECT_EQ(DecideResume(op, 100, true, false), ResumeAction::kWait);
  EXPECT_EQ(DecideResume(op, 200, true, false), ResumeAction::kResolve);
  EXPECT_EQ(DecideResume(op, 100, false, false), ResumeAction::kResolve);
  op.status = AwsOpStatus::kPending;
  EXPECT_EQ(DecideResume(op, 100, true, false), ResumeAction::kWait);
  EXPECT_EQ(DecideResume(op, 300, true, false), ResumeAction::kSend);
  op.status = AwsOpStatus::kFailed;
  EXPECT_EQ(DecideResume(op, 300, true, false), ResumeAction::kDone);
  EXPECT_EQ(DecideResume(op, 300, true, true), ResumeAction::kSend);
  op.status = AwsOpStatus::kSucceeded;
  EXPECT_EQ(DecideResume(op, 300, false, true), ResumeAction::kDone);
}

TEST(UnresolvedRetryDelayTest, DoublesFromAMinuteToAnHourAndNeverGivesUp) {
  EXPECT_EQ(UnresolvedRetryDelay(1), 60);
  EXPECT_EQ(UnresolvedRetryDelay(2), 120);
  EXPECT_EQ(UnresolvedRetryDelay(3), 240);
  EXPECT_EQ(UnresolvedRetryDelay(7), 3600);
  EXPECT_EQ(UnresolvedRetryDelay(1000), 3600);
}

TEST(ClassifyCreateErrorTest, EachKindHasItsVerdict) {
  auto verdict = [](aws::ErrorKind kind) {
    aws::Error e;
    e.kind = kind;
    return ClassifyCreateError(e);
  };
  EXPECT_EQ(verdict(aws::ErrorKind::kThrottling), CreateVerdict::kThrottled);
  EXPECT_EQ(verdict(aws::ErrorKind::kConflict), CreateVerdict::kRetry);
  EXPECT_EQ(verdict(aws::ErrorKind::kServer), CreateVerdict::kRetry);
  EXPECT_EQ(verdict(aws::ErrorKind::kTransport), CreateVerdict::kRetry);
  EXPECT_EQ(verdict(aws::ErrorKind::kNotFound), CreateVerdict::kUnresolved);
  EXPECT_EQ(verdict(aws::ErrorKind::kAccessDenied), CreateVerdict::kManagement);
  EXPECT_EQ(verdict(aws::ErrorKind::kValidation), CreateVerdict::kFailed);
  EXPECT_EQ(verdict(aws::ErrorKind::kQuotaExceeded), CreateVerdict::kFailed);
}

TEST(ClassifyCreateErrorTest, AccessDeniedSaysManagementAccountCredentials) {
  aws::Error e;
  e.kind = aws::ErrorKind::kAccessDenied;
  e.type = "AccessDeniedException";
  e.message = "User is not authorized";
  const std::string reason =
      FailureReason(CreateVerdict::kManagement, e, Account("123456789012", "Admin"));
  EXPECT_NE(reason.find("needs management-account credentials"), std::string::npos) << reason;
  EXPECT_NE(reason.find("aws:account/123456789012/permission-set/Admin"), std::string::npos);
  EXPECT_NE(reason.find("User is not authorized"), std::string::npos);
}

TEST(CreateCallTest, AccountAndApplicationCallsAsSentAndShown) {
  const auto account =
      MakeCreateCall("arn:aws:sso:::instance/ssoins-1",
                     Assign(Account("111111111111", "Admin"), PrincipalType::kGroup, "g-1"));
  EXPECT_EQ(CreateCallText(account),
            "CreateAccountAssignment InstanceArn=arn:aws:sso:::instance/ssoins-1 "
            "TargetId=111111111111 TargetType=AWS_ACCOUNT "
            "PermissionSetArn=arn:aws:sso:::permissionSet/ssoins-1/Admin PrincipalType=GROUP "
            "PrincipalId=g-1");
  const auto app = MakeCreateCall("arn:i", Assign(App("Payroll"), PrincipalType::kUser, "u-1"));
  EXPECT_EQ(CreateCallText(app),
            "CreateApplicationAssignment "
            "ApplicationArn=arn:aws:sso::123456789012:application/ssoins-1/Payroll "
            "PrincipalType=USER PrincipalId=u-1");
  const auto json = CreateCallJson(app);
  EXPECT_EQ(json.at("operation").as_string(), "CreateApplicationAssignment");
  EXPECT_EQ(json.at("input").as_object().at("PrincipalId").as_string(), "u-1");
}

TEST(EstimateSecondsTest, ObservedRateWhenThereIsOneElseTwentyAMinute) {
  EXPECT_EQ(EstimateSeconds(0, 0, 0), 0);
  EXPECT_EQ(EstimateSeconds(100, 0, 0), 300) << "20 a minute";
  EXPECT_EQ(EstimateSeconds(100, 2, 60), 300) << "too few observed";
  EXPECT_EQ(EstimateSeconds(100, 50, 60), 120);
}

}  // namespace
}  // namespace syncd::identity_center
