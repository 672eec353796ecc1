// When the daemon's next run is due: one typed object for the periodic
// task's interval, jitter, backoff and timeout, so the policy lives in one
// place and tests can pin it (the random draw is a parameter).
#ifndef SYNCD_SYNCD_SCHEDULE_H_
#define SYNCD_SYNCD_SCHEDULE_H_

#include <algorithm>
#include <chrono>

#include "syncd/config.h"

namespace syncd {

struct Schedule {
  std::chrono::milliseconds interval{300'000};
  std::chrono::milliseconds jitter{30'000};
  std::chrono::milliseconds backoff_initial{5'000};
  std::chrono::milliseconds backoff_max{300'000};
  std::chrono::milliseconds run_timeout{3'600'000};

  static Schedule FromConfig(const DaemonConfig& daemon) {
    using std::chrono::seconds;
    return {seconds(daemon.interval), seconds(daemon.jitter), seconds(daemon.backoff_initial),
            seconds(daemon.backoff_max), seconds(daemon.run_timeout)};
  }

  // The wait before the next run. `failures`: consecutive failed runs, 0
  // after a success. `unit_random`: a draw in [0, 1).
  // After a success: the interval plus up to `jitter`, so that hosts started
  // together drift apart. After failures: backoff_initial doubling per
  // failure up to backoff_max, less up to a quarter of it, so that daemons
  // cut off by the same outage do not return in step.
  std::chrono::milliseconds NextDelay(int failures, double unit_random) const {
    using std::chrono::milliseconds;
    if (failures <= 0) {
      return interval + milliseconds(static_cast<int64_t>(jitter.count() * unit_random));
    }
    milliseconds backoff = backoff_initial;
    for (int i = 1; i < failures && backoff < backoff_max; ++i) backoff *= 2;
    backoff = std::min(backoff, backoff_max);
    return backoff - milliseconds(static_cast<int64_t>(backoff.count() * 0.25 * unit_random));
  }
};

}  // namespace syncd

#endif  // SYNCD_SYNCD_SCHEDULE_H_
