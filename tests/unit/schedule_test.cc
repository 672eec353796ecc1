#include "syncd/schedule.h"

#include <gtest/gtest.h>

namespace syncd {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Schedule Default() { return Schedule::FromConfig(DaemonConfig{}); }

TEST(Schedule, AfterSuccessTheIntervalPlusJitter) {
  const Schedule s = Default();
  EXPECT_EQ(s.NextDelay(0, 0.0), seconds(300));
  EXPECT_EQ(s.NextDelay(0, 0.5), seconds(315));
  EXPECT_LT(s.NextDelay(0, 0.999999), seconds(330));
  EXPECT_GE(s.NextDelay(0, 0.999999), seconds(329));
}

TEST(Schedule, BackoffDoublesFromTheInitialDelayUpToTheCap) {
  const Schedule s = Default();  // 5 s doubling, capped at 300 s
  EXPECT_EQ(s.NextDelay(1, 0.0), seconds(5));
  EXPECT_EQ(s.NextDelay(2, 0.0), seconds(10));
  EXPECT_EQ(s.NextDelay(3, 0.0), seconds(20));
  EXPECT_EQ(s.NextDelay(7, 0.0), seconds(300));  // 320 capped
  EXPECT_EQ(s.NextDelay(1000, 0.0), seconds(300));
}

TEST(Schedule, BackoffJitterTakesAtMostAQuarterOff) {
  const Schedule s = Default();
  EXPECT_EQ(s.NextDelay(3, 0.5), milliseconds(17'500));
  EXPECT_GT(s.NextDelay(1000, 0.999999), milliseconds(225'000));
  // Daemons failing together spread out.
  EXPECT_NE(s.NextDelay(4, 0.1), s.NextDelay(4, 0.9));
}

TEST(Schedule, ComesFromTheDaemonConfig) {
  DaemonConfig config;
  config.interval = 60;
  config.jitter = 0;
  config.backoff_initial = 1;
  config.backoff_max = 4;
  config.run_timeout = 600;
  const Schedule s = Schedule::FromConfig(config);
  EXPECT_EQ(s.NextDelay(0, 0.9), seconds(60));
  EXPECT_EQ(s.NextDelay(5, 0.0), seconds(4));
  EXPECT_EQ(s.run_timeout, seconds(600));
}

}  // namespace
}  // namespace syncd
