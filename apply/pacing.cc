#include "apply/pacing.h"

#include <algorithm>
#include <cmath>

namespace syncd {

TokenBucket::TokenBucket(double rate, double burst, Clock::time_point now)
    : rate_(rate), burst_(std::max(1.0, burst)), tokens_(burst_), refilled_at_(now) {}

void TokenBucket::Refill(Clock::time_point now) {
  if (now <= refilled_at_) {
    return;
  }
  const double elapsed = std::chrono::duration<double>(now - refilled_at_).count();
  tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
  refilled_at_ = now;
}

TokenBucket::Clock::duration TokenBucket::Wait(Clock::time_point now) {
  if (now < paused_until_) {
    return paused_until_ - now;
  }
  if (rate_ <= 0) {
    return Clock::duration::zero();
  }
  Refill(now);
  if (tokens_ >= 1) {
    return Clock::duration::zero();
  }
  const auto missing = std::chrono::duration<double>((1 - tokens_) / rate_);
  // Round up: a wait that ends a hair early finds no token and waits again.
  return std::chrono::ceil<Clock::duration>(missing);
}

void TokenBucket::Take(Clock::time_point now) {
  if (rate_ <= 0) {
    return;
  }
  Refill(now);
  tokens_ -= 1;
}

void TokenBucket::PauseUntil(Clock::time_point until) {
  if (until <= paused_until_) {
    return;
  }
  paused_until_ = until;
  // After a pause the store has just been overloaded: no burst.
  tokens_ = std::min(tokens_, 0.0);
  refilled_at_ = std::max(refilled_at_, until);
}

namespace {

// min(cap, base * 2^(attempt-1)) in milliseconds.
double BackoffCeiling(int attempt, std::chrono::milliseconds base, std::chrono::milliseconds cap) {
  const int doublings = std::clamp(attempt - 1, 0, 30);
  return std::min(static_cast<double>(cap.count()),
                  static_cast<double>(base.count()) * std::ldexp(1.0, doublings));
}

}  // namespace

std::chrono::milliseconds FullJitter(int attempt, std::chrono::milliseconds base,
                                     std::chrono::milliseconds cap, double unit) {
  return std::chrono::milliseconds(
      static_cast<int64_t>(BackoffCeiling(attempt, base, cap) * std::clamp(unit, 0.0, 1.0)));
}

std::chrono::milliseconds Backoff(int attempt, std::chrono::milliseconds base,
                                  std::chrono::milliseconds cap, double unit,
                                  std::chrono::milliseconds floor) {
  const double ceiling = BackoffCeiling(attempt, base, cap);
  // Half fixed, half random: spread out, yet never an immediate retry.
  const auto jittered =
      std::chrono::milliseconds(static_cast<int64_t>(ceiling / 2 + ceiling / 2 * unit));
  return std::max(jittered, floor);
}

}  // namespace syncd
