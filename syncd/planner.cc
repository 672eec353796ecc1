#include "syncd/planner.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace syncd {
namespace {

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
  compare("dn", before.dn, after.dn);
  compare("sAMAccountName", before.sam_account_name, after.sam_account_name);
  compare("userPrincipalName", before.user_principal_name, after.user_principal_name);
  compare("mail", before.mail, after.mail);
  if (before.sid != after.sid) changes.push_back({"objectSid", std::nullopt, std::nullopt});
  if (before.sid_history != after.sid_history) {
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
// only the identity, and a large group has many of them.
SyncObject IdentityOf(const SyncObject& o) {
  SyncObject id;
  id.guid = o.guid;
  id.kind = o.kind;
  id.external_id = o.external_id;
  id.name = o.name;
  return id;
}

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
  return std::forward_as_tuple(Rank(a), a.object.name, a.object.guid, am, ag) <
         std::forward_as_tuple(Rank(b), b.object.name, b.object.guid, bm, bg);
}

std::string Percent(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

Plan BuildPlan(ReadSnapshot read, const std::vector<SyncObject>& cached,
               const std::vector<Membership>& cached_memberships, const SafetyConfig& safety) {
  Plan plan;
  plan.read_complete = read.complete;
  plan.incomplete_reason = read.incomplete_reason;
  auto& desired = read.desired.objects;

  std::unordered_map<std::string, const SyncObject*> old_by_guid, new_by_guid;
  for (const auto& o : cached) old_by_guid[o.guid] = &o;
  for (const auto& o : desired) new_by_guid[o.guid] = &o;
  std::vector<Operation> ops, deletes, removals;
  ops.reserve(desired.size() + read.desired.memberships.size());

  // Memberships first, while the desired objects are still in place. An edge
  // whose group or member goes away is removed by the delete itself, so it
  // gets no operation of its own.
  std::set<Membership> before(cached_memberships.begin(), cached_memberships.end());
  for (const auto& m : read.desired.memberships) {
    if (before.erase(m) != 0) continue;  // what remains in `before` is gone
    ops.push_back({OpType::kAddMember,
                   ObjectKind::kGroup,
                   IdentityOf(*new_by_guid.at(m.group_guid)),
                   {},
                   IdentityOf(*new_by_guid.at(m.member_guid))});
  }
  for (const auto& m : before) {
    auto group = new_by_guid.find(m.group_guid);
    auto member = new_by_guid.find(m.member_guid);
    if (group == new_by_guid.end() || member == new_by_guid.end()) continue;
    removals.push_back({OpType::kRemoveMember,
                        ObjectKind::kGroup,
                        IdentityOf(*group->second),
                        {},
                        IdentityOf(*member->second)});
  }
  std::unordered_set<std::string> skipped(read.desired.skipped.begin(), read.desired.skipped.end());
  for (const auto& o : cached) {
    if (new_by_guid.contains(o.guid)) continue;
    Operation del{OpType::kDelete, o.kind, o, {}, {}};
    if (skipped.contains(o.guid)) {
      plan.held.push_back(
          {std::move(del), "still in AD but could not be mapped this run (see the warnings)"});
    } else {
      deletes.push_back(std::move(del));
    }
  }
  // The desired images move into their operations: a full sync creates them all.
  for (auto& o : desired) {
    auto it = old_by_guid.find(o.guid);
    if (it == old_by_guid.end()) {
      ops.push_back({OpType::kCreate, o.kind, std::move(o), {}, std::nullopt});
      continue;
    }
    auto changes = AttributeChanges(it->second->attributes, o.attributes);
    auto keys = KeyChanges(*it->second, o);
    changes.insert(changes.end(), keys.begin(), keys.end());
    if (it->second->kind != o.kind) {
      changes.push_back({"kind", KindName(it->second->kind), KindName(o.kind)});
    }
    if (!changes.empty()) {
      ops.push_back({OpType::kUpdate, o.kind, std::move(o), std::move(changes), {}});
    }
  }

  auto hold_all = [&](std::vector<Operation>& list, const std::string& reason) {
    for (auto& op : list) plan.held.push_back({std::move(op), reason});
    list.clear();
  };
  if (!read.complete) {
    const std::string reason = "the read was incomplete (" + read.incomplete_reason +
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
    const auto total = std::count_if(cached.begin(), cached.end(),
                                     [&](const SyncObject& o) { return o.kind == kind; });
    const double percent =
        total == 0 ? 0 : 100.0 * static_cast<double>(count) / static_cast<double>(total);
    std::string why;
    if (safety.max_deletes >= 0 && count > safety.max_deletes) {
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
  std::sort(plan.held.begin(), plan.held.end(), [](const HeldOperation& a, const HeldOperation& b) {
    return Before(a.operation, b.operation);
  });
  plan.operations = std::move(ops);
  return plan;
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
    if (op.op == OpType::kAddMember || op.op == OpType::kRemoveMember) return "membership";
    return KindName(op.kind);
  };
  for (const auto& op : plan.operations) ++summary[bucket(op)][OpName(op.op)];
  for (const auto& held : plan.held) ++summary[bucket(held.operation)]["held"];
  return summary;
}

}  // namespace syncd
