// Safety settings for planner tests: a deletion budget, no change budget
// unless a test sets one.
#ifndef SYNCD_TESTS_UNIT_SAFETY_UTIL_H_
#define SYNCD_TESTS_UNIT_SAFETY_UTIL_H_

#include <cstdint>

#include "syncd/config.h"

namespace syncd::testing {

inline SafetyConfig Budget(int64_t max_deletes, double max_delete_percent) {
  SafetyConfig safety;
  safety.max_deletes = max_deletes;
  safety.max_delete_percent = max_delete_percent;
  safety.max_change_percent = 100;
  return safety;
}

inline SafetyConfig NoBudget() { return Budget(-1, 100); }

}  // namespace syncd::testing

#endif  // SYNCD_TESTS_UNIT_SAFETY_UTIL_H_
