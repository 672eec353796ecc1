// Turns a fresh read into a plan: diff against the cached state, order the
// operations, then hold back what the safety checks refuse.
#ifndef SYNCD_SYNCD_PLANNER_H_
#define SYNCD_SYNCD_PLANNER_H_

#include <map>
#include <string>
#include <vector>

#include "core/model.h"
#include "scope/scope.h"
#include "syncd/config.h"

namespace syncd {

struct ReadSnapshot {
  scope::ScopeResult desired;
  bool complete = true;           // every search finished with success
  std::string incomplete_reason;  // why not, when !complete
};

// Pure: the same inputs give the same plan, operation for operation.
//
// Order: group creates, user creates, updates, add-member, remove-member,
// user deletes, group deletes; within each, by name then GUID. Deletions and
// membership removals are held when the read was incomplete; deletions of a
// kind are all held when they exceed that kind's budget.
Plan BuildPlan(ReadSnapshot read, const std::vector<SyncObject>& cached,
               const std::vector<Membership>& cached_memberships, const SafetyConfig& safety);

// Counts per "user"/"group"/"membership" and operation name, plus "held".
std::map<std::string, std::map<std::string, int>> Summarize(const Plan& plan);

}  // namespace syncd

#endif  // SYNCD_SYNCD_PLANNER_H_
