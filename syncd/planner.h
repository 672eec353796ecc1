// Turns a fresh read into a plan: diff against the cached state, order the
// operations, then hold back what the safety checks refuse.
#ifndef SYNCD_SYNCD_PLANNER_H_
#define SYNCD_SYNCD_PLANNER_H_

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/model.h"
#include "core/position_index.h"
#include "scope/scope.h"
#include "source/source.h"
#include "store/sink.h"
#include "syncd/config.h"

namespace syncd {

// What syncd last applied (the state's cache), as the budgets count it,
// beside a baseline built from the store (PrepareBaseline): the objects
// of each kind, which ones, and the attributes of those the baseline holds
// with others (drift in the store).
struct LastApplied {
  std::map<ObjectKind, int64_t> totals;
  std::vector<std::string> guids;  // raw, sorted
  // By raw GUID; an object applied and not here has the baseline's.
  std::unordered_map<std::string, Attributes> attributes;

  // Everything from `cache` (its objects are the baseline's).
  static LastApplied Of(const std::vector<SyncObject>& cache);
  // The same an object at a time (a cache that streams): Count each cached
  // object, then SortGuids once.
  void Count(const SyncObject& cached) {
    ++totals[cached.kind];
    guids.push_back(cached.guid);
  }
  void SortGuids() {
    if (!std::is_sorted(guids.begin(), guids.end())) std::sort(guids.begin(), guids.end());
  }

  bool Holds(const std::string& guid) const {
    return std::binary_search(guids.begin(), guids.end(), guid);
  }
};

// Pure: the same inputs give the same plan, operation for operation.
//
// Order: group creates, user creates, updates, add-member, remove-member,
// user deletes, group deletes; within each, by name then GUID. Deletions and
// membership removals are held when the read was incomplete; deletions of a
// kind are all held when they exceed that kind's budget.
//
// source_switch: the read comes from another domain than the cache (a
// deliberate change of [source]). The old source's objects leave the store
// first, so that migrated accounts can take their names, and the deletion
// budget does not hold them back; a partial or empty read still does.
//
// Change budget: updates that change or clear one store attribute on more
// than [safety] max_change_percent (or that attribute's own limit) of a
// kind's objects, and on more than change_budget_floor of them, are held.
// Changes count against `last_applied`, what syncd last wrote (null:
// `cached` is it), so that repairing drift in the store is not mistaken for
// a mapping mistake.
Plan BuildPlan(ReadSnapshot read, const std::vector<SyncObject>& cached,
               std::vector<Membership> cached_memberships, const SafetyConfig& safety,
               bool source_switch = false, const LastApplied* last_applied = nullptr);
// The same over shared cached images (a reconciliation's Baseline): a
// delete shares its object instead of copying it.
Plan BuildPlan(ReadSnapshot read, const std::vector<ObjectRef>& cached,
               std::vector<Membership> cached_memberships, const SafetyConfig& safety,
               bool source_switch = false, const LastApplied* last_applied = nullptr);

// Moves the deletes of `plan` to its held operations, with `reason`
// (deletes frozen: an IAM Identity Center source switch waits for its
// reapply). `in_store`, when a reconciliation read the store: the
// externalIds it holds; a delete of an object it lacks only cleans the
// cache (a switched store lost it already) and goes ahead. Null: every
// delete is held. Membership removals go ahead.
void HoldDeletes(const std::string& reason, Plan* plan,
                 const std::unordered_set<std::string>* in_store = nullptr);

// For stores without nested groups: each group's memberships become its
// effective user members, through every level of nesting (cycles end);
// groups are no longer members of groups. `objects` names the kinds.
void FlattenNestedGroups(const std::vector<ObjectRef>& objects,
                         std::vector<Membership>* memberships);

// What a full reconciliation diffs the read against: the objects the store
// holds of syncd's own, with the identity keys the state caches for them,
// and their memberships; plus the cached objects and edges the store lacks
// and the read no longer has (their deletions and removals drop them from
// the cache and find nothing to do in the store). So an object the store
// lost is created again, one deleted in AD is deleted from the store even
// when the state forgot it, and a value changed in the store is set back.
// Where the store already matches AD but the cache does not (a lost state),
// the baseline takes the cache's side, so the plan's no-op operations bring
// the cache up to date: incremental runs rely on it.
struct Baseline {
  // Shared: a full read keeps the image of an object it found unchanged as
  // this one (ShareUnchanged), not a copy.
  std::vector<ObjectRef> objects;
  std::vector<Membership> memberships;
  LastApplied applied;
  // Owned store objects whose externalId is not an objectGUID: not syncd's
  // to judge; left alone and reported.
  std::vector<std::string> unreadable;
};
// A baseline in two steps, so that a full reconciliation holds the store's
// and the cache's images of a large directory merged into one before the
// read brings its own: PrepareBaseline before the read, FinishBaseline
// after it settles what depends on the read (whose values count where the
// store and the cache differ; which edges and cached objects the read still
// wants).
struct PreparedBaseline {
  // Objects: the store's first (from_store of them), then the cache's
  // others; `applied` and `unreadable` are final.
  Baseline baseline;
  size_t from_store = 0;
  // The cached attributes of objects whose store values differ from them
  // (those objects hold the store's): by position in baseline.objects.
  std::vector<std::pair<size_t, Attributes>> diverged;
  // Edges that count unless the read wants them (memberships_complete), or
  // unless the read wants an end the store lacks (otherwise); the others
  // are in baseline.memberships already.
  std::vector<Membership> edges_unless_wanted;
  bool memberships_complete = true;
};
// Consumes its inputs: pass `owned`, `cached` and `cached_memberships`
// moved (a large directory's store contents and cache need not exist
// twice; the baseline takes the cache's images apart).
PreparedBaseline PrepareBaseline(OwnedContents owned, std::vector<SyncObject> cached,
                                 std::vector<Membership> cached_memberships);
// PrepareBaseline as the cache streams (StateDb::ForEachObject): each
// cached object merges into the store's image of it as it comes, so the
// cache is never held whole beside the store's contents.
class BaselineBuilder {
 public:
  // Takes the store's contents apart: pass `owned` moved.
  explicit BaselineBuilder(OwnedContents owned);
  BaselineBuilder(const BaselineBuilder&) = delete;  // the index points into it
  BaselineBuilder& operator=(const BaselineBuilder&) = delete;

  // The next cached object, in any order (the state's is by GUID). A GUID
  // comes once.
  void AddCached(SyncObject cached);
  // What PrepareBaseline returns, with the cache's edges. Precondition:
  // called once, after the last AddCached.
  PreparedBaseline Finish(std::vector<Membership> cached_memberships);

 private:
  struct GuidAt {
    const std::deque<SyncObject>* objects;
    std::string_view operator()(uint32_t i) const { return (*objects)[i].guid; }
  };

  OwnedContents owned_;  // memberships_complete; its objects and edges are taken apart
  std::deque<SyncObject> from_store_;
  std::vector<Membership> store_edges_;  // sorted; when the store lists them
  PositionIndex<std::string_view, GuidAt> store_by_guid_;
  std::vector<ObjectRef> cached_only_;  // the cache's objects the store lacks
  PreparedBaseline prepared_;           // applied, unreadable, diverged
};
Baseline FinishBaseline(PreparedBaseline prepared, const ReadSnapshot& read);
// What a full read keeps of each object it brings, given the baseline
// prepared before it: the baseline's own image where the read's equals it
// in every field, so that an unchanged object of a large directory is held
// once, not twice (the plan finds nothing to do for it either way). Objects
// whose store and cached values differ are never shared: FinishBaseline may
// give them the cache's values. The function refers to `prepared`, which must outlive it and
// not change while it is used (during the read).
std::function<ObjectRef(ObjectRef)> ShareUnchanged(const PreparedBaseline& prepared);

// The slice of the cached state an incremental plan depends on.
struct CachedSlice {
  // Cached images of the named objects (present, absent or skipped).
  std::unordered_map<std::string, SyncObject> objects;
  // Identities (guid, kind, external_id, name) of every other cached object
  // the read refers to (groups in member_of, members): they are in scope.
  std::unordered_map<std::string, SyncObject> others;
  // Every cached edge touching a named object or a group of the read.
  std::set<Membership> memberships;
  std::map<ObjectKind, int64_t> totals;  // cached objects per kind (deletion budget)
};

// Pure, like BuildPlan, and with the same order and safety rules; computes
// only what the read touches. Membership evidence is applied group side
// first, then member side (read later, so it wins where both speak).
Plan BuildIncrementalPlan(IncrementalRead read, const CachedSlice& cached,
                          const SafetyConfig& safety);

// Counts per "user"/"group"/"membership" and operation name, plus "held".
std::map<std::string, std::map<std::string, int>> Summarize(const Plan& plan);

}  // namespace syncd

#endif  // SYNCD_SYNCD_PLANNER_H_
