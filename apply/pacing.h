// Pacing for requests to a remote store: a token bucket for the configured
// rate, and exponential backoff with jitter for retries. Pure: time and
// randomness come from the caller, so tests pin them.
#ifndef SYNCD_APPLY_PACING_H_
#define SYNCD_APPLY_PACING_H_

#include <chrono>

namespace syncd {

// `rate` requests per second, at most `burst` at once (at least 1). Rate 0:
// no limit.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(double rate, double burst, Clock::time_point now);

  // How long from `now` until a request may go; zero when one may go now.
  Clock::duration Wait(Clock::time_point now);
  // Spends one request's token. Precondition: Wait(now) returned zero.
  void Take(Clock::time_point now);
  // No request before `until` (the store said Retry-After): the bucket
  // empties until then.
  void PauseUntil(Clock::time_point until);

 private:
  void Refill(Clock::time_point now);

  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point refilled_at_;
  Clock::time_point paused_until_{};
};

// The delay before retry number `attempt` (1 for the first retry): with
// c = min(cap, base * 2^(attempt-1)), c/2 plus a random share (`unit`, in
// [0, 1)) of c/2; never less than `floor` (the store's Retry-After).
std::chrono::milliseconds Backoff(int attempt, std::chrono::milliseconds base,
                                  std::chrono::milliseconds cap, double unit,
                                  std::chrono::milliseconds floor = std::chrono::milliseconds(0));

// "Full jitter" (AWS's recommendation for its APIs): a uniformly random
// delay in [0, min(cap, base * 2^(attempt-1))], `unit` in [0, 1) being the
// random share. Spreads retries of many clients the most; a zero delay is
// allowed.
std::chrono::milliseconds FullJitter(int attempt, std::chrono::milliseconds base,
                                     std::chrono::milliseconds cap, double unit);

}  // namespace syncd

#endif  // SYNCD_APPLY_PACING_H_
