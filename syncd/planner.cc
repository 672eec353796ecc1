#include "syncd/planner.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "core/memory.h"
#include "core/position_index.h"
#include "ldap/codec.h"

namespace syncd {
namespace {

// The objects of a vector by GUID, for a plan's lookups (PositionIndex:
// 4 bytes an object where a node-based hash map took ~50, 5 MB at the peak of
// a 100,000-user plan). Precondition: the vector outlives the index, does not
// change while it is used, and holds no GUID twice.
template <typename T>
class GuidIndex {
 public:
  explicit GuidIndex(const std::vector<T>& objects) : index_(GuidAt{&objects}), objects_(objects) {
    index_.Reserve(objects.size());
    for (uint32_t i = 0; i < objects.size(); ++i) index_.Add(i);
  }

  // The object with `guid`, or null.
  const T* Find(std::string_view guid) const {
    auto at = index_.Find(guid);
    return at ? &objects_[*at] : nullptr;
  }
  // Precondition: an object has `guid`; throws std::out_of_range otherwise.
  const T& At(std::string_view guid) const {
    const T* found = Find(guid);
    if (found == nullptr) throw std::out_of_range("no object with this GUID in the read");
    return *found;
  }

 private:
  struct GuidAt {
    const std::vector<T>* objects;
    std::string_view operator()(uint32_t i) const { return GuidOf((*objects)[i]); }
  };
  static std::string_view GuidOf(const SyncObject& o) { return o.guid; }
  static std::string_view GuidOf(const ObjectRef& o) { return o->guid; }

  PositionIndex<std::string_view, GuidAt> index_;
  const std::vector<T>& objects_;
};

// Sorts *edges and drops repeats; returns *edges.
std::vector<Membership>& SortUnique(std::vector<Membership>* edges) {
  std::sort(edges->begin(), edges->end());
  edges->erase(std::unique(edges->begin(), edges->end()), edges->end());
  return *edges;
}

// `edges` sorted and without repeats: itself when it is (the scope gives
// its edges so), else a sorted copy in *storage.
const std::vector<Membership>& SortedUnique(const std::vector<Membership>& edges,
                                            std::vector<Membership>* storage) {
  auto out_of_order = [](const Membership& a, const Membership& b) { return !(a < b); };
  if (std::adjacent_find(edges.begin(), edges.end(), out_of_order) == edges.end()) return edges;
  *storage = edges;
  return SortUnique(storage);
}

// Identity-key fields the state keeps beside the mapped attributes. A change
// in one of them alone (a move changes only the DN) is still an update: the
// state must learn it, and the plan shows it.
std::vector<AttributeChange> KeyChanges(const SyncObject& before, const SyncObject& after) {
  std::vector<AttributeChange> changes;
  auto compare = [&](const char* name, const std::string& a, const std::string& b) {
    if (a != b) {
      changes.push_back({name, a.empty() ? std::nullopt : std::optional(a),
                         b.empty() ? std::nullopt : std::optional(b)});
    }
  };
  compare("dn", before.source->dn, after.source->dn);
  compare("sAMAccountName", before.source->sam_account_name, after.source->sam_account_name);
  compare("userPrincipalName", before.source->user_principal_name,
          after.source->user_principal_name);
  compare("mail", before.source->mail, after.source->mail);
  if (before.source->sid != after.source->sid)
    changes.push_back({"objectSid", std::nullopt, std::nullopt});
  if (before.source->consistency_guid != after.source->consistency_guid) {
    changes.push_back({"mS-DS-ConsistencyGuid", std::nullopt, std::nullopt});
  }
  if (before.source->sid_history != after.source->sid_history) {
    changes.push_back({"sIDHistory", std::nullopt, std::nullopt});
  }
  return changes;
}

std::vector<AttributeChange> AttributeChanges(const Attributes& before, const Attributes& after) {
  std::vector<AttributeChange> changes;
  std::set<std::string> names;
  for (const auto& [k, v] : before) names.insert(k);
  for (const auto& [k, v] : after) names.insert(k);
  for (const auto& name : names) {
    auto b = before.find(name);
    auto a = after.find(name);
    std::optional<std::string> old_value, new_value;
    if (b != before.end()) old_value = b->second;
    if (a != after.end()) new_value = a->second;
    if (old_value != new_value) changes.push_back({name, old_value, new_value});
  }
  return changes;
}

// Membership operations name their two ends; the stores and the state need
// only the identity, and a large group has many of them: each object's
// identity is made once, and its operations share it.
class Identities {
 public:
  const ObjectRef& Of(const SyncObject& o) {
    auto [it, added] = by_guid_.try_emplace(o.guid);
    if (added) it->second = MakeObjectRef(IdentityOf(o));
    return it->second;
  }

 private:
  std::unordered_map<std::string, ObjectRef> by_guid_;
};

int Rank(const Operation& op) {
  switch (op.op) {
    case OpType::kCreate:
      return op.kind == ObjectKind::kGroup ? 0 : 1;
    case OpType::kUpdate:
      return 2;
    case OpType::kAddMember:
      return 3;
    case OpType::kRemoveMember:
      return 4;
    case OpType::kDelete:
      return op.kind == ObjectKind::kUser ? 5 : 6;
  }
  return 7;
}

bool Before(const Operation& a, const Operation& b) {
  static const std::string kNone;
  const std::string& am = a.member ? a.member->name : kNone;
  const std::string& bm = b.member ? b.member->name : kNone;
  const std::string& ag = a.member ? a.member->guid : kNone;
  const std::string& bg = b.member ? b.member->guid : kNone;
  return std::forward_as_tuple(Rank(a), a.object->name, a.object->guid, am, ag) <
         std::forward_as_tuple(Rank(b), b.object->name, b.object->guid, bm, bg);
}

std::string Percent(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// The common end of both planners: holds removals and deletions after an
// incomplete read, deletions of a kind over its budget (against `totals`,
// the cached objects of each kind), then orders everything.
void FinishPlan(std::vector<Operation> ops, std::vector<Operation> removals,
                std::vector<Operation> deletes, bool read_complete,
                const std::string& incomplete_reason, const std::map<ObjectKind, int64_t>& totals,
                const SafetyConfig& safety, Plan* plan, bool source_switch = false) {
  auto hold_all = [&](std::vector<Operation>& list, const std::string& reason) {
    for (auto& op : list) plan->held.push_back({std::move(op), reason});
    list.clear();
  };
  if (!read_complete) {
    const std::string reason = "the read was incomplete (" + incomplete_reason +
                               "); nothing is removed after a partial read";
    hold_all(removals, reason);
    hold_all(deletes, reason);
  }
  std::move(removals.begin(), removals.end(), std::back_inserter(ops));

  // Deletion budget, per kind, against the number of that kind syncd holds.
  for (auto kind : {ObjectKind::kUser, ObjectKind::kGroup}) {
    std::vector<Operation> of_kind, others;
    for (auto& op : deletes) (op.kind == kind ? of_kind : others).push_back(std::move(op));
    deletes = std::move(others);
    const auto count = static_cast<int64_t>(of_kind.size());
    auto found = totals.find(kind);
    const int64_t total = found == totals.end() ? 0 : found->second;
    const double percent =
        total == 0 ? 0 : 100.0 * static_cast<double>(count) / static_cast<double>(total);
    std::string why;
    if (source_switch) {
      // Checked by the caller: the new source's read is complete and not empty.
    } else if (safety.max_deletes >= 0 && count > safety.max_deletes) {
      why = "max_deletes = " + std::to_string(safety.max_deletes);
    } else if (count > 0 && percent > safety.max_delete_percent) {
      why = "max_delete_percent = " + Percent(safety.max_delete_percent) + "% (" +
            Percent(percent) + "% of " + std::to_string(total) + ")";
    }
    if (!why.empty()) {
      hold_all(of_kind, std::to_string(count) + " " + KindName(kind) +
                            " deletions exceed the deletion budget (" + why + ")");
    }
    std::move(of_kind.begin(), of_kind.end(), std::back_inserter(ops));
  }

  // A total order (GUIDs break ties), so an in-place sort is deterministic.
  std::sort(ops.begin(), ops.end(), Before);
  if (source_switch) {
    std::stable_partition(ops.begin(), ops.end(),
                          [](const Operation& op) { return op.op == OpType::kDelete; });
  }
  std::sort(plan->held.begin(), plan->held.end(),
            [](const HeldOperation& a, const HeldOperation& b) {
              return Before(a.operation, b.operation);
            });
  plan->operations = std::move(ops);
}

// The limit of the change budget for `attribute`, in percent.
double ChangeLimit(const SafetyConfig& safety, const std::string& attribute) {
  auto it = safety.max_change_percent_by_attribute.find(attribute);
  return it == safety.max_change_percent_by_attribute.end() ? safety.max_change_percent
                                                            : it->second;
}

// Holds the updates of `ops` that change an attribute, relative to what
// syncd last applied (`last_applied` of a GUID: its attributes, or null
// when it never applied that object), on more than its budget of `totals`
// of their kind.
template <typename AppliedAttributes>
void HoldOverChangeBudget(std::vector<Operation>* ops, const AppliedAttributes& last_applied,
                          const std::map<ObjectKind, int64_t>& totals, const SafetyConfig& safety,
                          Plan* plan) {
  // (kind, attribute) -> indexes into ops of the updates that change it.
  std::map<std::pair<ObjectKind, std::string>, std::vector<size_t>> changing;
  for (size_t i = 0; i < ops->size(); ++i) {
    const Operation& op = (*ops)[i];
    if (op.op != OpType::kUpdate) continue;
    const Attributes* last = last_applied(op.object->guid);
    if (last == nullptr) continue;
    for (const auto& change : AttributeChanges(*last, op.object->attributes)) {
      changing[{op.kind, change.attribute}].push_back(i);
    }
  }
  std::map<size_t, std::string> held;  // op index -> why
  for (const auto& [key, indexes] : changing) {
    const auto& [kind, attribute] = key;
    const auto count = static_cast<int64_t>(indexes.size());
    auto found = totals.find(kind);
    const int64_t total = found == totals.end() ? 0 : found->second;
    if (count <= safety.change_budget_floor || total == 0) continue;
    const double percent = 100.0 * static_cast<double>(count) / static_cast<double>(total);
    const double limit = ChangeLimit(safety, attribute);
    if (percent <= limit) continue;
    const std::string why =
        std::to_string(count) + " " + KindName(kind) + " updates change " + attribute + " on " +
        Percent(percent) + "% of " + std::to_string(total) + " " + KindName(kind) +
        "s, over the change budget (max_change_percent = " + Percent(limit) +
        "%): held, in case a mapping mistake would overwrite every value; raise [safety] "
        "max_change_percent (or max_change_percent_by_attribute." +
        attribute + ") if the change is meant";
    for (size_t i : indexes) held.try_emplace(i, why);
  }
  if (held.empty()) return;
  std::vector<Operation> kept;
  kept.reserve(ops->size() - held.size());
  for (size_t i = 0; i < ops->size(); ++i) {
    auto it = held.find(i);
    if (it == held.end()) {
      kept.push_back(std::move((*ops)[i]));
    } else {
      plan->held.push_back({std::move((*ops)[i]), it->second});
    }
  }
  *ops = std::move(kept);
}

// The operation that brings a cached image to `desired`, if any.
std::optional<Operation> CreateOrUpdate(const SyncObject* cached, ObjectRef desired) {
  const ObjectKind kind = desired->kind;
  if (cached == nullptr) return Operation{OpType::kCreate, kind, std::move(desired), {}, nullptr};
  auto changes = AttributeChanges(cached->attributes, desired->attributes);
  auto keys = KeyChanges(*cached, *desired);
  changes.insert(changes.end(), keys.begin(), keys.end());
  if (cached->kind != desired->kind) {
    changes.push_back({"kind", KindName(cached->kind), KindName(desired->kind)});
  }
  if (changes.empty()) return std::nullopt;
  return Operation{OpType::kUpdate, kind, std::move(desired), std::move(changes), nullptr};
}

}  // namespace

void HoldDeletes(const std::string& reason, Plan* plan,
                 const std::unordered_set<std::string>* in_store) {
  auto deletes = std::stable_partition(
      plan->operations.begin(), plan->operations.end(), [in_store](const Operation& op) {
        return op.op != OpType::kDelete ||
               (in_store != nullptr && !in_store->contains(op.object->external_id));
      });
  if (deletes == plan->operations.end()) return;
  for (auto op = deletes; op != plan->operations.end(); ++op) {
    plan->held.push_back({std::move(*op), reason});
  }
  plan->operations.erase(deletes, plan->operations.end());
  std::sort(plan->held.begin(), plan->held.end(),
            [](const HeldOperation& a, const HeldOperation& b) {
              return Before(a.operation, b.operation);
            });
}

LastApplied LastApplied::Of(const std::vector<SyncObject>& cache) {
  LastApplied applied;
  applied.guids.reserve(cache.size());
  for (const auto& o : cache) applied.Count(o);
  applied.SortGuids();
  return applied;
}

namespace {

const SyncObject& ImageOf(const SyncObject& o) { return o; }
const SyncObject& ImageOf(const ObjectRef& o) { return *o; }
ObjectRef RefTo(const SyncObject& o) { return MakeObjectRef(o); }  // a copy
ObjectRef RefTo(const ObjectRef& o) { return o; }                  // shared

// BuildPlan over cached images held as values or shared (a reconciliation's
// baseline shares the images a read found unchanged).
template <typename Old>
Plan BuildPlanOver(ReadSnapshot read, const std::vector<Old>& cached,
                   std::vector<Membership> cached_memberships, const SafetyConfig& safety,
                   bool source_switch, const LastApplied* last_applied) {
  Plan plan;
  plan.read_complete = read.complete;
  plan.incomplete_reason = read.incomplete_reason;
  // The desired images are the operations' objects, shared by the
  // memberships that name them: a full sync of a large directory copies no
  // object.
  std::vector<ObjectRef> desired = std::move(read.desired.objects);

  const GuidIndex<Old> old_by_guid(cached);
  const GuidIndex<ObjectRef> new_by_guid(desired);  // until the creates take the images
  std::vector<Operation> ops, deletes, removals;
  ops.reserve(desired.size() + read.desired.memberships.size());

  // An edge whose group or member goes away is removed by the delete
  // itself, so it gets no operation of its own.
  std::vector<Membership>& before = SortUnique(&cached_memberships);
  std::vector<bool> still_wanted(before.size());
  std::vector<Membership> sorted_copy;
  for (const auto& m : SortedUnique(read.desired.memberships, &sorted_copy)) {
    auto found = std::lower_bound(before.begin(), before.end(), m);
    if (found != before.end() && *found == m) {
      still_wanted[found - before.begin()] = true;
      continue;
    }
    ops.push_back({OpType::kAddMember,
                   ObjectKind::kGroup,
                   new_by_guid.At(m.group_guid),
                   {},
                   new_by_guid.At(m.member_guid)});
  }
  for (size_t i = 0; i < before.size(); ++i) {
    if (still_wanted[i]) continue;  // what remains is gone
    const Membership& m = before[i];
    const ObjectRef* group = new_by_guid.Find(m.group_guid);
    const ObjectRef* member = new_by_guid.Find(m.member_guid);
    if (group == nullptr || member == nullptr) continue;
    removals.push_back({OpType::kRemoveMember, ObjectKind::kGroup, *group, {}, *member});
  }
  // The edges are operations now. Released here, not at return: from empty
  // they are 34 bytes each beside the operations at the plan's peak (7.6 MB
  // at 100,000 users).
  ReleaseMemory(&read.desired.memberships);
  ReleaseMemory(&sorted_copy);
  ReleaseMemory(&cached_memberships);
  ReleaseMemory(&still_wanted);
  std::unordered_set<std::string> skipped(read.desired.skipped.begin(), read.desired.skipped.end());
  for (const auto& old : cached) {
    const SyncObject& o = ImageOf(old);
    if (new_by_guid.Find(o.guid) != nullptr) continue;
    Operation del{OpType::kDelete, o.kind, RefTo(old), {}, nullptr};
    if (skipped.contains(o.guid)) {
      plan.held.push_back(
          {std::move(del), "still in AD but could not be mapped this run (see the warnings)"});
    } else {
      deletes.push_back(std::move(del));
    }
  }
  for (auto& o : desired) {
    const Old* cached_image = old_by_guid.Find(o->guid);  // before o is moved
    auto op = CreateOrUpdate(cached_image ? &ImageOf(*cached_image) : nullptr, std::move(o));
    if (op) ops.push_back(std::move(*op));
  }

  // The deletion budget's base: the objects syncd holds, the larger of what
  // the baseline and the cache count (a wiped store must not make the
  // cache's leftovers 100% of it).
  std::map<ObjectKind, int64_t> totals;
  for (const auto& o : cached) ++totals[ImageOf(o).kind];
  if (last_applied != nullptr) {
    for (const auto& [kind, n] : last_applied->totals) totals[kind] = std::max(totals[kind], n);
  }
  // What syncd last wrote: the cache, which is the baseline unless the
  // store's contents are; then the baseline's attributes, but where the
  // store drifted.
  HoldOverChangeBudget(
      &ops,
      [&](const std::string& guid) -> const Attributes* {
        if (last_applied != nullptr) {
          if (!last_applied->Holds(guid)) return nullptr;
          auto drifted = last_applied->attributes.find(guid);
          if (drifted != last_applied->attributes.end()) return &drifted->second;
        }
        const Old* cached_image = old_by_guid.Find(guid);
        return cached_image == nullptr ? nullptr : &ImageOf(*cached_image).attributes;
      },
      totals, safety, &plan);
  // An empty read of the new source is more likely a wrong base or filter
  // than a migration: it gets the budget like any other run.
  const bool switch_wholesale = source_switch && read.complete && !desired.empty();
  FinishPlan(std::move(ops), std::move(removals), std::move(deletes), read.complete,
             read.incomplete_reason, totals, safety, &plan, switch_wholesale);
  return plan;
}

}  // namespace

Plan BuildPlan(ReadSnapshot read, const std::vector<SyncObject>& cached,
               std::vector<Membership> cached_memberships, const SafetyConfig& safety,
               bool source_switch, const LastApplied* last_applied) {
  return BuildPlanOver(std::move(read), cached, std::move(cached_memberships), safety,
                       source_switch, last_applied);
}

Plan BuildPlan(ReadSnapshot read, const std::vector<ObjectRef>& cached,
               std::vector<Membership> cached_memberships, const SafetyConfig& safety,
               bool source_switch, const LastApplied* last_applied) {
  return BuildPlanOver(std::move(read), cached, std::move(cached_memberships), safety,
                       source_switch, last_applied);
}

Plan BuildIncrementalPlan(IncrementalRead read, const CachedSlice& cached,
                          const SafetyConfig& safety) {
  Plan plan;
  std::unordered_map<std::string, const SyncObject*> present;
  for (const auto& o : read.present) present[o.guid] = &o;
  // The identity of `guid` after this run, or null when it is not in scope.
  auto in_scope_after = [&](const std::string& guid) -> const SyncObject* {
    if (auto it = present.find(guid); it != present.end()) return it->second;
    if (read.absent.contains(guid)) return nullptr;
    if (auto it = cached.objects.find(guid); it != cached.objects.end()) return &it->second;
    if (auto it = cached.others.find(guid); it != cached.others.end()) return &it->second;
    return nullptr;
  };

  // Edges: what the evidence says each one should be, latest evidence last.
  std::map<Membership, bool> wanted;
  for (const auto& [group, delta] : read.member_deltas) {
    for (const auto& m : delta.added) wanted[{group, m}] = true;
    for (const auto& m : delta.removed) wanted[{group, m}] = false;
  }
  for (const auto& [group, members] : read.members) {
    for (const auto& m : cached.memberships) {
      if (m.group_guid.view() == group && !members.contains(m.member_guid.str())) {
        wanted[m] = false;
      }
    }
    for (const auto& member : members) wanted[{group, member}] = true;
  }
  // Member side last, and over everything said before about its edges.
  for (const auto& m : cached.memberships) wanted.try_emplace(m, true);
  for (auto& [edge, want] : wanted) {
    auto groups = read.member_of.find(edge.member_guid.str());
    if (groups != read.member_of.end()) want = groups->second.contains(edge.group_guid.str());
  }
  for (const auto& [member, groups] : read.member_of) {
    for (const auto& group : groups) wanted[{group, member}] = true;
  }
  std::vector<Operation> ops, removals, deletes;
  Identities identities;
  for (const auto& [edge, want] : wanted) {
    const SyncObject* group = in_scope_after(edge.group_guid.str());
    const SyncObject* member = in_scope_after(edge.member_guid.str());
    // An edge to an object out of scope is not synced; one to an object
    // going away goes with its delete.
    if (group == nullptr || member == nullptr || group->kind != ObjectKind::kGroup) continue;
    if (want == cached.memberships.contains(edge)) continue;
    (want ? ops : removals)
        .push_back({want ? OpType::kAddMember : OpType::kRemoveMember,
                    ObjectKind::kGroup,
                    identities.Of(*group),
                    {},
                    identities.Of(*member)});
  }

  for (const auto& guid : read.absent) {
    auto it = cached.objects.find(guid);
    if (it == cached.objects.end()) continue;
    deletes.push_back({OpType::kDelete, it->second.kind, MakeObjectRef(it->second), {}, nullptr});
  }
  for (auto& o : read.present) {
    auto it = cached.objects.find(o.guid);
    auto op = CreateOrUpdate(it == cached.objects.end() ? nullptr : &it->second,
                             MakeObjectRef(std::move(o)));
    if (op) ops.push_back(std::move(*op));
  }
  HoldOverChangeBudget(
      &ops,
      [&](const std::string& guid) -> const Attributes* {
        auto it = cached.objects.find(guid);
        return it == cached.objects.end() ? nullptr : &it->second.attributes;
      },
      cached.totals, safety, &plan);
  FinishPlan(std::move(ops), std::move(removals), std::move(deletes), read.complete,
             read.incomplete_reason, cached.totals, safety, &plan);
  plan.read_complete = read.complete;
  plan.incomplete_reason = read.incomplete_reason;
  return plan;
}

BaselineBuilder::BaselineBuilder(OwnedContents owned)
    : owned_(std::move(owned)), store_by_guid_(GuidAt{&from_store_}) {
  for (auto& stored : owned_.objects) {
    auto guid = ldap::GuidFromString(stored.external_id);
    if (!guid) {
      prepared_.baseline.unreadable.push_back(std::string(KindName(stored.kind)) + " " +
                                              stored.name + " (externalId " + stored.external_id +
                                              ")");
      continue;
    }
    // The store's values, so that drift is repaired; where they differ from
    // the cache's, FinishBaseline decides with the read (the cache may be
    // the one behind). The cache adds the source details (AddCached); an
    // object it lacks has no DN here, and its update teaches the cache.
    SyncObject o;
    o.guid = std::move(*guid);
    o.kind = stored.kind;
    o.external_id = std::move(stored.external_id);
    o.name = std::move(stored.name);
    o.attributes = std::move(stored.attributes);
    from_store_.push_back(std::move(o));
  }
  ReleaseMemory(&owned_.objects);  // taken apart above
  // An object stored twice gets its cached image once, at its first place.
  store_by_guid_.Reserve(from_store_.size());
  for (uint32_t i = 0; i < from_store_.size(); ++i) {
    if (!store_by_guid_.Find(from_store_[i].guid)) store_by_guid_.Add(i);
  }
  if (!owned_.memberships_complete) return;
  // The store's edges by GUID now, not as two externalId strings each while
  // the cache streams (at 200,000 edges: 34 bytes an edge, not ~160).
  std::unordered_map<std::string_view, std::string_view> guid_of;  // externalId -> raw GUID
  for (const auto& o : from_store_) guid_of.emplace(o.external_id, o.guid);
  store_edges_.reserve(owned_.memberships.size());
  for (const auto& m : owned_.memberships) {
    auto group = guid_of.find(m.group_external_id);
    auto member = guid_of.find(m.member_external_id);
    if (group != guid_of.end() && member != guid_of.end()) {
      store_edges_.push_back({group->second, member->second});
    }
  }
  ReleaseMemory(&owned_.memberships);
  SortUnique(&store_edges_);
}

void BaselineBuilder::AddCached(SyncObject cached) {
  prepared_.baseline.applied.Count(cached);
  if (auto at = store_by_guid_.Find(cached.guid)) {
    SyncObject& o = from_store_[*at];
    if (o.attributes != cached.attributes) {
      prepared_.diverged.emplace_back(*at, std::move(cached.attributes));
    }
    o.source = std::move(cached.source);
    return;
  }
  cached_only_.push_back(MakeObjectRef(std::move(cached)));
}

PreparedBaseline BaselineBuilder::Finish(std::vector<Membership> cached_memberships) {
  PreparedBaseline prepared = std::move(prepared_);
  Baseline& baseline = prepared.baseline;
  baseline.applied.SortGuids();

  prepared.memberships_complete = owned_.memberships_complete;
  if (!owned_.memberships_complete) {
    // The store cannot list its groups' members (IAM Identity Center): the
    // cache is what syncd knows of them. An edge whose ends the store both
    // holds counts; another only if its ends the store lacks go anyway.
    std::unordered_set<std::string_view> in_store;  // raw GUIDs
    for (const auto& o : from_store_) in_store.insert(o.guid);
    for (const auto& m : cached_memberships) {
      const bool held = in_store.contains(m.group_guid) && in_store.contains(m.member_guid);
      (held ? baseline.memberships : prepared.edges_unless_wanted).push_back(m);
    }
  } else {
    // Sorted vectors, not sets: at 200,000 edges a set's nodes cost twice
    // the memory, and three of them were a full reconciliation's peak.
    const std::vector<Membership>& cached_edges = SortUnique(&cached_memberships);
    auto holds = [](const std::vector<Membership>& edges, const Membership& m) {
      return std::binary_search(edges.begin(), edges.end(), m);
    };
    // An edge both hold counts. One only the store holds or only the cache
    // does counts unless the read wants it: a wanted edge the store has and
    // the cache lacks stays out, so that its add-member (nothing to do in
    // the store) teaches the cache.
    for (const auto& m : store_edges_) {
      (holds(cached_edges, m) ? baseline.memberships : prepared.edges_unless_wanted).push_back(m);
    }
    for (const auto& m : cached_edges) {
      if (!holds(store_edges_, m)) prepared.edges_unless_wanted.push_back(m);
    }
    ReleaseMemory(&store_edges_);
  }
  ReleaseMemory(&cached_memberships);
  // Each object moves into its shared image, and the deque frees its
  // blocks as it empties: the store's objects are not held twice.
  prepared.from_store = from_store_.size();
  baseline.objects.reserve(from_store_.size() + cached_only_.size());
  while (!from_store_.empty()) {
    baseline.objects.push_back(MakeObjectRef(std::move(from_store_.front())));
    from_store_.pop_front();
  }
  std::move(cached_only_.begin(), cached_only_.end(), std::back_inserter(baseline.objects));
  ReleaseMemory(&cached_only_);
  return prepared;
}

PreparedBaseline PrepareBaseline(OwnedContents owned, std::vector<SyncObject> cached,
                                 std::vector<Membership> cached_memberships) {
  BaselineBuilder builder(std::move(owned));
  for (auto& o : cached) builder.AddCached(std::move(o));
  ReleaseMemory(&cached);
  return builder.Finish(std::move(cached_memberships));
}

Baseline FinishBaseline(PreparedBaseline prepared, const ReadSnapshot& read) {
  Baseline baseline = std::move(prepared.baseline);
  const GuidIndex<ObjectRef> desired(read.desired.objects);

  // Where the store and the cache differ: the store's values, so that drift
  // is repaired; but where the store already has what AD wants and the
  // cache does not, the cached ones, so that an update teaches the cache
  // (incremental runs trust it).
  for (auto& [at, cached_attributes] : prepared.diverged) {
    const SyncObject& o = *baseline.objects[at];
    const ObjectRef* wanted = desired.Find(o.guid);
    const bool cache_behind = wanted != nullptr && o.attributes == (*wanted)->attributes;
    if (cache_behind) {
      // Never shared (ShareUnchanged leaves diverged objects alone): a copy.
      SyncObject behind = o;
      behind.attributes = std::move(cached_attributes);
      baseline.objects[at] = MakeObjectRef(std::move(behind));
    } else {
      // What syncd applied is not what the store holds: the change budget
      // counts against the former.
      baseline.applied.attributes.emplace(o.guid, std::move(cached_attributes));
    }
  }

  if (!prepared.memberships_complete) {
    std::unordered_set<std::string_view> in_store;  // raw GUIDs
    for (size_t i = 0; i < prepared.from_store; ++i) in_store.insert(baseline.objects[i]->guid);
    auto counts = [&](std::string_view guid) {
      return in_store.contains(guid) || desired.Find(guid) == nullptr;
    };
    for (const auto& m : prepared.edges_unless_wanted) {
      if (counts(m.group_guid) && counts(m.member_guid)) baseline.memberships.push_back(m);
    }
  } else {
    std::vector<Membership> sorted_copy;
    const std::vector<Membership>& wanted = SortedUnique(read.desired.memberships, &sorted_copy);
    for (const auto& m : prepared.edges_unless_wanted) {
      if (!std::binary_search(wanted.begin(), wanted.end(), m)) baseline.memberships.push_back(m);
    }
  }
  ReleaseMemory(&prepared.edges_unless_wanted);

  // The cache's objects the store lacks: a wanted one is created again;
  // one AD no longer has is what the baseline deletes from.
  auto cached_only = baseline.objects.begin() + static_cast<std::ptrdiff_t>(prepared.from_store);
  baseline.objects.erase(
      std::remove_if(cached_only, baseline.objects.end(),
                     [&](const ObjectRef& o) { return desired.Find(o->guid) != nullptr; }),
      baseline.objects.end());
  return baseline;
}

std::function<ObjectRef(ObjectRef)> ShareUnchanged(const PreparedBaseline& prepared) {
  struct Images {
    explicit Images(const std::vector<ObjectRef>& objects)
        : by_guid(objects), shareable(objects.size(), true) {}
    GuidIndex<ObjectRef> by_guid;
    std::vector<bool> shareable;
  };
  auto images = std::make_shared<Images>(prepared.baseline.objects);
  for (const auto& [at, attributes] : prepared.diverged) images->shareable[at] = false;
  const ObjectRef* first = prepared.baseline.objects.data();
  return [images, first](ObjectRef read) {
    const ObjectRef* held = images->by_guid.Find(read->guid);
    if (held == nullptr || !images->shareable[held - first] || !(**held == *read)) return read;
    return *held;
  };
}

std::map<std::string, std::map<std::string, int>> Summarize(const Plan& plan) {
  std::map<std::string, std::map<std::string, int>> summary;
  for (const char* kind : {"user", "group", "membership"}) {
    for (const char* op : {"create", "update", "delete", "add-member", "remove-member"}) {
      bool membership_op = std::string(op).find("member") != std::string::npos;
      if ((std::string(kind) == "membership") == membership_op) summary[kind][op] = 0;
    }
    summary[kind]["held"] = 0;
  }
  auto bucket = [](const Operation& op) -> std::string {
    if (IsMembership(op)) return "membership";
    return KindName(op.kind);
  };
  for (const auto& op : plan.operations) ++summary[bucket(op)][OpName(op.op)];
  for (const auto& held : plan.held) ++summary[bucket(held.operation)]["held"];
  return summary;
}

void FlattenNestedGroups(const std::vector<ObjectRef>& objects,
                         std::vector<Membership>* memberships) {
  std::unordered_set<std::string_view> groups;
  for (const auto& o : objects) {
    if (o->kind == ObjectKind::kGroup) groups.insert(o->guid);
  }
  // Views into *memberships, which stays as it is until the end.
  std::unordered_map<std::string_view, std::vector<std::string_view>> members;
  for (const auto& m : *memberships) members[m.group_guid].push_back(m.member_guid);
  std::vector<Membership> flat;
  for (const auto& [group, direct] : members) {
    std::unordered_set<std::string_view> seen{group};
    std::vector<std::string_view> todo(direct.begin(), direct.end());
    while (!todo.empty()) {
      const std::string_view member = todo.back();
      todo.pop_back();
      if (!seen.insert(member).second) continue;
      if (!groups.contains(member)) {
        flat.push_back({group, member});
        continue;
      }
      if (auto nested = members.find(member); nested != members.end()) {
        todo.insert(todo.end(), nested->second.begin(), nested->second.end());
      }
    }
  }
  std::sort(flat.begin(), flat.end());
  *memberships = std::move(flat);
}

}  // namespace syncd
