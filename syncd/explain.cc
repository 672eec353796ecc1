#include "syncd/explain.h"

#include <boost/json.hpp>

#include <algorithm>
#include <ctime>
#include <deque>
#include <map>
#include <optional>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/strings.h"
#include "ldap/codec.h"
#include "scope/scope.h"
#include "state/state_db.h"

namespace syncd {
namespace json = boost::json;
namespace {

constexpr char kUserBasesKey[] = "scope.user_bases";
constexpr char kGroupBasesKey[] = "scope.group_bases";
constexpr char kUserFilterKey[] = "scope.user_filter";
constexpr char kGroupFilterKey[] = "scope.group_filter";
constexpr char kGroupsKey[] = "scope.groups";
constexpr char kExcludeKey[] = "scope.exclude";

std::string Quoted(const std::string& text) { return "\"" + text + "\""; }

std::string List(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i > 0 ? ", " : "") + Quoted(items[i]);
  return out + "]";
}

// scope.cc's rule: an entry of scope.groups or scope.exclude with a '=' is a
// DN, otherwise a sAMAccountName.
bool IsDnRule(const std::string& rule) { return rule.find('=') != std::string::npos; }

// The value of the first RDN ("John Doe" for "CN=John Doe,OU=x"), with
// backslash escapes undone.
std::string FirstRdnValue(const std::string& dn) {
  size_t eq = dn.find('=');
  if (eq == std::string::npos) return "";
  std::string value;
  for (size_t i = eq + 1; i < dn.size(); ++i) {
    if (dn[i] == '\\' && i + 1 < dn.size()) {
      value += dn[++i];
    } else if (dn[i] == ',') {
      break;
    } else {
      value += dn[i];
    }
  }
  return value;
}

// The longest of `bases` that `dn` lies within; empty if none.
std::string LongestBase(const std::string& dn, const std::vector<std::string>& bases) {
  std::string best;
  for (const auto& base : bases) {
    if (ldap::DnIsWithin(dn, base) &&
        (best.empty() || ldap::NormalizeDn(base).size() > ldap::NormalizeDn(best).size())) {
      best = base;
    }
  }
  return best;
}

// The scope.exclude entry that covers an object with this DN and
// sAMAccountName; empty if none.
std::string ExcludingRule(const scope::ScopeConfig& scope, const std::string& dn,
                          const std::string& sam) {
  for (const auto& rule : scope.exclude) {
    if (IsDnRule(rule) ? !dn.empty() && ldap::DnIsWithin(dn, rule)
                       : !sam.empty() && AsciiLower(rule) == AsciiLower(sam)) {
      return rule;
    }
  }
  return "";
}

std::string DescribeRule(const std::string& rule) {
  return Quoted(rule) + (IsDnRule(rule) ? " (a DN subtree)" : " (a sAMAccountName)");
}

// The cached state explain reads, with the indexes it needs. Everything is
// loaded and scanned: the state has indexes on sAMAccountName and
// userPrincipalName but StateDb offers no lookup by them yet, and names,
// display names, cns and DNs have none. That costs one pass over the cache
// (about a second per 100k objects), fine for a one-off command.
struct Cache {
  std::vector<SyncObject> objects;
  std::unordered_map<std::string, const SyncObject*> by_guid;
  std::map<std::string, std::vector<std::string>> members;    // group -> direct members
  std::map<std::string, std::vector<std::string>> member_of;  // member -> direct groups
  std::vector<Operation> pending;
  std::vector<LedgerEntry> ledger;
  int64_t pending_run_id = 0;
  std::unordered_set<std::string> revisit;
  std::vector<QuarantineEntry> quarantine;
  int64_t last_success = 0;
  int64_t last_run = 0;
  std::string last_run_outcome;
};

std::string QuarantineNote(const QuarantineEntry& q) {
  return "quarantined since " + UtcTimestamp(q.since) + ": " + q.reason +
         "; kept out until AD changes it, or `syncd quarantine retry " + q.name + "`";
}

Result<Cache> LoadCache(const std::string& state_path) {
  auto state = StateDb::Open(state_path, /*read_only=*/true);
  if (!state.ok()) return state.status();
  StateDb& db = **state;
  Cache cache;
  auto objects = db.LoadObjects();
  if (!objects.ok()) return objects.status();
  cache.objects = std::move(*objects);
  for (const auto& o : cache.objects) cache.by_guid[o.guid] = &o;
  auto memberships = db.LoadMemberships();
  if (!memberships.ok()) return memberships.status();
  for (const auto& m : *memberships) {
    cache.members[m.group_guid.str()].push_back(m.member_guid.str());
    cache.member_of[m.member_guid.str()].push_back(m.group_guid.str());
  }
  // Sorted adjacency: the shortest chain found is the same on every run.
  for (auto& [group, list] : cache.members) std::sort(list.begin(), list.end());
  auto journal = db.LoadJournal(&cache.pending_run_id);
  if (!journal.ok()) return journal.status();
  for (auto& entry : *journal) {
    if (entry.status == JournalStatus::kPending) cache.pending.push_back(std::move(entry.op));
  }
  auto quarantine = db.LoadQuarantine();
  if (!quarantine.ok()) return quarantine.status();
  cache.quarantine = std::move(*quarantine);
  auto ledger = db.LoadLedger();
  if (!ledger.ok()) return ledger.status();
  cache.ledger = std::move(*ledger);
  auto watermark = db.LoadWatermark();
  if (!watermark.ok()) return watermark.status();
  if (*watermark) {
    cache.last_success = (*watermark)->last_success;
    cache.revisit.insert((*watermark)->revisit.begin(), (*watermark)->revisit.end());
  }
  auto runs = db.RecentRuns(1);
  if (!runs.ok()) return runs.status();
  if (!runs->empty()) {
    cache.last_run = runs->front().started_at;
    cache.last_run_outcome = runs->front().outcome;
  }
  return cache;
}

ExplainedGroup GroupRef(const Cache& cache, const std::string& guid) {
  auto it = cache.by_guid.find(guid);
  if (it == cache.by_guid.end()) return {"(unknown group)", "", ""};
  return {it->second->name, it->second->source->dn, it->second->external_id};
}

}  // namespace

std::pair<std::string, std::vector<const SyncObject*>> FindObjects(
    const std::vector<SyncObject>& objects, const std::string& name) {
  const std::string lower = AsciiLower(name);
  const std::optional<std::string> guid = ldap::GuidFromString(name);
  const bool is_dn = IsDnRule(name);
  const std::string dn = is_dn ? ldap::NormalizeDn(name) : "";
  using Matcher = bool (*)(const SyncObject&, const std::string&, const std::string&);
  const std::vector<std::pair<const char*, Matcher>> keys = {
      {"objectGUID",
       [](const SyncObject& o, const std::string& raw, const std::string& text) {
         return (!raw.empty() && o.guid == raw) || AsciiLower(o.external_id) == text;
       }},
      {"DN",
       [](const SyncObject& o, const std::string&, const std::string& text) {
         return !text.empty() && ldap::NormalizeDn(o.source->dn) == text;
       }},
      {"sAMAccountName",
       [](const SyncObject& o, const std::string&, const std::string& text) {
         return !o.source->sam_account_name.empty() &&
                AsciiLower(o.source->sam_account_name) == text;
       }},
      {"userPrincipalName",
       [](const SyncObject& o, const std::string&, const std::string& text) {
         return !o.source->user_principal_name.empty() &&
                AsciiLower(o.source->user_principal_name) == text;
       }},
      {"name",
       [](const SyncObject& o, const std::string&, const std::string& text) {
         auto display = o.attributes.find("displayName");
         return AsciiLower(o.name) == text ||
                (display != o.attributes.end() && AsciiLower(display->second) == text) ||
                AsciiLower(FirstRdnValue(o.source->dn)) == text;
       }},
  };
  for (const auto& [key, matches] : keys) {
    const std::string& text = std::string_view(key) == "DN" ? dn : lower;
    if (std::string_view(key) == "DN" && !is_dn) continue;
    std::vector<const SyncObject*> found;
    for (const auto& o : objects) {
      if (matches(o, guid.value_or(""), text)) found.push_back(&o);
    }
    if (!found.empty()) return {key, std::move(found)};
  }
  return {"", {}};
}

namespace {

// Group-based scope: the scope.groups entry and shortest chain of cached
// groups that bring `guid` in. Breadth-first from every scope group at once
// along cached member edges; `parent` doubles as the visited set, so cycles
// end. Returns false when no chain reaches it.
bool FindChain(const scope::ScopeConfig& scope, const Cache& cache, const std::string& guid,
               ExplainedObject* out) {
  std::unordered_map<std::string, std::string> root_entry;  // scope group guid -> entry
  std::unordered_map<std::string, std::string> parent;      // guid -> group it came from
  std::deque<std::string> queue;
  for (const auto& entry : scope.groups) {
    for (const auto& o : cache.objects) {
      if (o.kind != ObjectKind::kGroup) continue;
      bool match = IsDnRule(entry) ? ldap::NormalizeDn(entry) == ldap::NormalizeDn(o.source->dn)
                                   : AsciiLower(entry) == AsciiLower(o.source->sam_account_name);
      if (match && root_entry.emplace(o.guid, entry).second) {
        parent[o.guid] = "";
        queue.push_back(o.guid);
      }
    }
  }
  while (!queue.empty()) {
    std::string current = std::move(queue.front());
    queue.pop_front();
    if (current == guid) {
      std::vector<ExplainedGroup> chain;
      std::string root = current;
      for (std::string g = parent[current]; !g.empty(); g = parent[g]) {
        chain.push_back(GroupRef(cache, g));
        root = g;
      }
      std::reverse(chain.begin(), chain.end());
      out->scope_group = root_entry[root];
      out->chain = std::move(chain);
      return true;
    }
    auto it = cache.members.find(current);
    if (it == cache.members.end()) continue;
    for (const auto& member : it->second) {
      if (parent.emplace(member, current).second) queue.push_back(member);
    }
  }
  return false;
}

ExplainedObject ExplainObject(const Config& config, const Cache& cache, const SyncObject& o,
                              const std::string& matched_by) {
  const scope::ScopeConfig& scope = config.scope;
  const bool user = o.kind == ObjectKind::kUser;
  ExplainedObject e;
  e.matched_by = matched_by;
  e.object = o;
  e.base_key = user ? kUserBasesKey : kGroupBasesKey;
  const auto& bases = user ? scope.user_bases : scope.group_bases;
  e.base = LongestBase(o.source->dn, bases);
  if (e.base.empty()) {
    e.notes.push_back("no base in " + e.base_key + " " + List(bases) + " covers its DN now: the " +
                      "configuration changed since the last run, and the next run removes it");
  }
  e.filter = scope::SearchFilter(scope, o.kind);
  e.filter_key = user ? kUserFilterKey : kGroupFilterKey;
  e.configured_filter = user ? scope.user_filter : scope.group_filter;
  if (!scope.groups.empty() && !FindChain(scope, cache, o.guid, &e)) {
    e.notes.push_back("no chain of cached memberships leads to it from " + std::string(kGroupsKey) +
                      " " + List(scope.groups) +
                      ": the configuration changed since the last run, and the next run " +
                      "removes it");
  }
  if (std::string rule = ExcludingRule(scope, o.source->dn, o.source->sam_account_name);
      !rule.empty()) {
    e.notes.push_back(std::string(kExcludeKey) + " entry " + DescribeRule(rule) +
                      " now excludes it: the next run removes it");
  }
  if (auto it = cache.member_of.find(o.guid); it != cache.member_of.end()) {
    for (const auto& g : it->second) e.member_of.push_back(GroupRef(cache, g));
    std::sort(e.member_of.begin(), e.member_of.end(),
              [](const ExplainedGroup& a, const ExplainedGroup& b) {
                return std::tie(a.name, a.dn) < std::tie(b.name, b.dn);
              });
  }
  if (auto it = cache.members.find(o.guid); it != cache.members.end()) {
    e.member_count = static_cast<int64_t>(it->second.size());
  }
  for (const auto& op : cache.pending) {
    if (op.object->guid == o.guid || (op.member && op.member->guid == o.guid)) {
      e.pending.push_back(op);
    }
  }
  e.revisit = cache.revisit.contains(o.guid);
  for (const auto& q : cache.quarantine) {
    if (q.guid == o.guid) e.notes.push_back(QuarantineNote(q));
  }
  for (const auto& entry : cache.ledger) {
    if (entry.principal.guid == o.guid) e.assignments.push_back(entry);
  }
  return e;
}

// What can be known offline of a name that is not in the cache.
void ExplainAbsent(const Config& config, const Cache& cache, const std::string& name,
                   Explanation* out) {
  const scope::ScopeConfig& scope = config.scope;
  if (IsDnRule(name)) {
    const std::string user_base = LongestBase(name, scope.user_bases);
    const std::string group_base = LongestBase(name, scope.group_bases);
    if (user_base.empty() && group_base.empty()) {
      out->verdict = Verdict::kOutsideBases;
      out->reason = "outside every configured base: " + std::string(kUserBasesKey) + " " +
                    List(scope.user_bases) + ", " + kGroupBasesKey + " " + List(scope.group_bases);
      return;
    }
    if (std::string rule = ExcludingRule(scope, name, ""); !rule.empty()) {
      out->verdict = Verdict::kExcluded;
      out->reason = "excluded by " + std::string(kExcludeKey) + " entry " + DescribeRule(rule);
      return;
    }
    out->verdict = Verdict::kNotCached;
    std::string under;
    std::string filters;
    auto filter = [&](ObjectKind kind, const char* key) {
      return Quoted(scope::SearchFilter(scope, kind)) + " (" + key + ")";
    };
    if (!user_base.empty()) {
      under = Quoted(user_base) + " (" + kUserBasesKey + ")";
      filters = "the user filter " + filter(ObjectKind::kUser, kUserFilterKey);
    }
    if (!group_base.empty()) {
      under += (under.empty() ? "" : " and ") + Quoted(group_base) + " (" + kGroupBasesKey + ")";
      filters += (filters.empty() ? "" : " or ") + std::string("the group filter ") +
                 filter(ObjectKind::kGroup, kGroupFilterKey);
    }
    out->reason =
        "under base " + under + " but not in the cached state: it did not match " + filters +
        " at the last run" +
        (scope.groups.empty() ? ""
                              : ", or is not a nested member of a group in " +
                                    std::string(kGroupsKey) + " " + List(scope.groups)) +
        ", or does not exist, or changed since " +
        (cache.last_success > 0 ? "the last successful run at " + UtcTimestamp(cache.last_success)
                                : "the last run (no run has succeeded yet)");
    return;
  }
  for (const auto& rule : scope.exclude) {
    if (!IsDnRule(rule) && AsciiLower(rule) == AsciiLower(name)) {
      out->verdict = Verdict::kExcluded;
      out->reason = "excluded by " + std::string(kExcludeKey) + " entry " + DescribeRule(rule);
      return;
    }
  }
  out->verdict = Verdict::kNotFound;
  for (const auto& q : cache.quarantine) {
    if (AsciiLower(q.name) == AsciiLower(name) || q.external_id == name) {
      out->reason = "not in the store: " + QuarantineNote(q);
      return;
    }
  }
  out->reason = "not found in the cached state (" +
                (cache.last_run > 0
                     ? "last run at " + UtcTimestamp(cache.last_run) + ", " + cache.last_run_outcome
                     : std::string("no run yet")) +
                ")";
  for (const auto& entry : scope.groups) {
    if (!IsDnRule(entry) && AsciiLower(entry) == AsciiLower(name)) {
      out->reason += "; it is named in " + std::string(kGroupsKey) +
                     ", so it was not found under " + kGroupBasesKey + " " +
                     List(scope.group_bases) + " at the last run";
      break;
    }
  }
}

std::string DescribeOperation(const Operation& op) {
  std::string text = std::string(OpName(op.op)) + " " + KindName(op.kind) + " " + op.object->name;
  if (op.member) {
    text += (op.op == OpType::kAddMember ? " <- " : " -/- ") +
            std::string(KindName(op.member->kind)) + " " + op.member->name;
  }
  return text;
}

std::string Chain(const ExplainedObject& e) {
  std::string text;
  for (const auto& g : e.chain) text += g.name + " > ";
  return text + e.object.name;
}

json::object GroupJson(const ExplainedGroup& g) {
  return {{"name", g.name}, {"dn", g.dn}, {"externalId", g.external_id}};
}

json::object ObjectJson(const ExplainedObject& e, int64_t pending_run_id) {
  const SyncObject& o = e.object;
  json::object obj;
  obj["matchedBy"] = e.matched_by;
  obj["kind"] = KindName(o.kind);
  obj["name"] = o.name;
  obj["externalId"] = o.external_id;
  obj["dn"] = o.source->dn;
  obj["sAMAccountName"] = o.source->sam_account_name;
  obj["userPrincipalName"] = o.source->user_principal_name;
  obj["base"] = e.base.empty() ? json::value(nullptr) : json::value(e.base);
  obj["baseKey"] = e.base_key;
  obj["filter"] = e.filter;
  obj["filterKey"] = e.filter_key;
  obj["configuredFilter"] = e.configured_filter;
  obj["scopeGroup"] = e.scope_group.empty() ? json::value(nullptr) : json::value(e.scope_group);
  json::array chain;
  for (const auto& g : e.chain) chain.push_back(GroupJson(g));
  obj["chain"] = std::move(chain);
  json::object attrs;
  for (const auto& [k, v] : o.attributes) attrs[k] = v;
  obj["attributes"] = std::move(attrs);
  json::array member_of;
  for (const auto& g : e.member_of) member_of.push_back(GroupJson(g));
  obj["memberOf"] = std::move(member_of);
  if (o.kind == ObjectKind::kGroup) obj["memberCount"] = e.member_count;
  json::array pending;
  for (const auto& op : e.pending) {
    json::object p{{"op", OpName(op.op)},
                   {"kind", KindName(op.kind)},
                   {"externalId", op.object->external_id},
                   {"name", op.object->name}};
    if (op.member) {
      p["member"] = {{"kind", KindName(op.member->kind)},
                     {"externalId", op.member->external_id},
                     {"name", op.member->name}};
    }
    pending.push_back(std::move(p));
  }
  obj["pending"] = std::move(pending);
  if (!e.pending.empty()) obj["pendingRunId"] = pending_run_id;
  obj["revisit"] = e.revisit;
  json::array assignments;
  for (const auto& a : e.assignments) {
    assignments.push_back({{"id", a.id},
                           {"target", a.target},
                           {"status", LedgerStatusName(a.status)},
                           {"since", UtcTimestamp(a.changed_at)},
                           {"reason", a.reason}});
  }
  obj["assignments"] = std::move(assignments);
  json::array notes;
  for (const auto& n : e.notes) notes.emplace_back(n);
  obj["notes"] = std::move(notes);
  return obj;
}

}  // namespace

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kInScope:
      return "in-scope";
    case Verdict::kOutsideBases:
      return "outside-bases";
    case Verdict::kExcluded:
      return "excluded";
    case Verdict::kNotCached:
      return "not-cached";
    case Verdict::kNotFound:
      return "not-found";
  }
  return "not-found";
}

Result<Explanation> Explain(const Config& config, const std::string& name) {
  auto cache = LoadCache(config.state_path);
  if (!cache.ok()) return cache.status().WithContext(config.state_path);
  Explanation out;
  out.query = name;
  out.pending_run_id = cache->pending_run_id;
  out.last_success = cache->last_success;
  out.last_run = cache->last_run;
  out.last_run_outcome = cache->last_run_outcome;
  auto [matched_by, matches] = FindObjects(cache->objects, name);
  if (matches.empty()) {
    ExplainAbsent(config, *cache, name, &out);
    return out;
  }
  out.verdict = Verdict::kInScope;
  out.reason = matches.size() == 1 ? "in scope"
                                   : "in scope: " + std::to_string(matches.size()) +
                                         " cached objects match by " + matched_by;
  for (const SyncObject* o : matches) {
    out.objects.push_back(ExplainObject(config, *cache, *o, matched_by));
  }
  return out;
}

void PrintExplanationText(std::ostream& out, const Explanation& explanation) {
  out << TerminalSafe(explanation.query) << ": " << TerminalSafe(explanation.reason) << "\n";
  for (const auto& e : explanation.objects) {
    const SyncObject& o = e.object;
    out << KindName(o.kind) << " " << TerminalSafe(o.name) << " (matched by " << e.matched_by
        << ")\n";
    out << "  dn: " << TerminalSafe(o.source->dn) << "\n";
    out << "  objectGUID: " << TerminalSafe(o.external_id) << "\n";
    if (!o.source->sam_account_name.empty())
      out << "  sAMAccountName: " << TerminalSafe(o.source->sam_account_name) << "\n";
    if (!o.source->user_principal_name.empty()) {
      out << "  userPrincipalName: " << TerminalSafe(o.source->user_principal_name) << "\n";
    }
    out << "  base: " << (e.base.empty() ? "(none)" : TerminalSafe(e.base)) << " (" << e.base_key
        << ")\n";
    out << "  filter: " << TerminalSafe(e.filter) << " ("
        << (e.configured_filter.empty()
                ? e.filter_key + " not set"
                : e.filter_key + " = " + TerminalSafe(Quoted(e.configured_filter)))
        << ")\n";
    if (!e.scope_group.empty()) {
      out << "  scope group: " << kGroupsKey << " entry " << TerminalSafe(Quoted(e.scope_group))
          << (e.chain.empty() ? " is this group" : ", via " + TerminalSafe(Chain(e))) << "\n";
    }
    out << "  attributes:\n";
    for (const auto& [k, v] : o.attributes) {
      out << "    " << TerminalSafe(k) << ": " << TerminalSafe(v) << "\n";
    }
    out << "  member of: ";
    for (size_t i = 0; i < e.member_of.size(); ++i) {
      out << (i > 0 ? ", " : "") << TerminalSafe(e.member_of[i].name);
    }
    out << (e.member_of.empty() ? "(no cached group)" : "") << "\n";
    if (o.kind == ObjectKind::kGroup) out << "  direct members: " << e.member_count << "\n";
    for (const auto& op : e.pending) {
      out << "  pending: " << TerminalSafe(DescribeOperation(op))
          << " (journaled by interrupted run " << explanation.pending_run_id
          << "; the next run finishes it)\n";
    }
    if (e.pending.empty()) out << "  pending: none\n";
    for (const auto& a : e.assignments) {
      out << "  assignment #" << a.id << ": " << TerminalSafe(a.target) << " ("
          << LedgerStatusName(a.status) << " since " << UtcTimestamp(a.changed_at) << ": "
          << TerminalSafe(a.reason) << ")\n";
    }
    if (e.assignments.empty()) out << "  assignments: none in the ledger\n";
    out << "  revisit: "
        << (e.revisit ? "yes: an operation was held or refused; the next incremental run "
                        "re-reads it"
                      : "no")
        << "\n";
    for (const auto& note : e.notes) out << "  note: " << TerminalSafe(note) << "\n";
  }
}

void PrintExplanationJson(std::ostream& out, const Explanation& explanation) {
  json::array objects;
  for (const auto& e : explanation.objects) {
    objects.push_back(ObjectJson(e, explanation.pending_run_id));
  }
  json::object root;
  root["query"] = explanation.query;
  root["verdict"] = VerdictName(explanation.verdict);
  root["reason"] = explanation.reason;
  root["objects"] = std::move(objects);
  root["lastSuccess"] = explanation.last_success;
  root["lastRun"] = explanation.last_run;
  root["lastRunOutcome"] = explanation.last_run_outcome;
  out << json::serialize(root) << "\n";
}

}  // namespace syncd
