#include "scope/scope.h"

#include <algorithm>
#include <charconv>
#include <deque>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/strings.h"
#include "ldap/codec.h"
#include "ldap/syntax.h"

namespace syncd::scope {
namespace {

constexpr uint32_t kAccountDisable = 0x2;

// Attributes read for every object, whatever the mapping says.
const std::vector<std::string> kKeyAttributes = {
    "objectGUID",
    "objectSid",
    "sIDHistory",
    "sAMAccountName",
    "userPrincipalName",
    "mail",
    "mS-DS-ConsistencyGuid",
    "name",
};

bool ParseUint32(const std::string& text, uint32_t* out) {
  // userAccountControl and primaryGroupID come as decimal, possibly signed.
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

struct Candidate {
  const ldap::Entry* entry;
  ObjectKind kind;
  std::string guid;
  std::string sid;
};

class Evaluator {
 public:
  Evaluator(const ScopeConfig& config, const AttributeMapping& mapping)
      : config_(config), mapping_(mapping) {}

  ScopeResult Run(const std::vector<ldap::Entry>& users, const std::vector<ldap::Entry>& groups) {
    Collect(users, ObjectKind::kUser);
    Collect(groups, ObjectKind::kGroup);
    BuildEdges();
    std::unordered_set<std::string> in_scope = SelectInScope();
    for (const Candidate& c : candidates_) {
      if (!in_scope.contains(c.guid)) continue;
      if (auto object = Map(c)) {
        result_.objects.push_back(std::move(*object));
      } else {
        result_.skipped.push_back(c.guid);
      }
    }
    std::unordered_set<std::string> mapped;
    for (const auto& o : result_.objects) mapped.insert(o.guid);
    std::set<Membership> memberships;
    for (const auto& [group, members] : edges_) {
      if (!mapped.contains(group)) continue;
      for (const auto& member : members) {
        if (mapped.contains(member)) memberships.insert({group, member});
      }
    }
    result_.memberships.assign(memberships.begin(), memberships.end());
    std::sort(result_.objects.begin(), result_.objects.end(),
              [](const SyncObject& a, const SyncObject& b) {
                return std::tie(a.kind, a.name, a.guid) < std::tie(b.kind, b.name, b.guid);
              });
    return std::move(result_);
  }

 private:
  void Collect(const std::vector<ldap::Entry>& entries, ObjectKind kind) {
    for (const auto& entry : entries) {
      std::string guid = entry.First("objectguid");
      if (guid.size() != 16) {
        result_.warnings.push_back(entry.dn + ": skipped, no valid objectGUID");
        continue;
      }
      if (index_by_guid_.contains(guid)) continue;  // read twice through overlapping bases
      if (IsExcluded(config_, entry)) continue;
      index_by_guid_[guid] = candidates_.size();
      candidates_.push_back({&entry, kind, guid, entry.First("objectsid")});
      by_dn_[ldap::NormalizeDn(entry.dn)] = guid;
      if (!candidates_.back().sid.empty()) by_sid_[candidates_.back().sid] = guid;
    }
  }

  void BuildEdges() {
    for (const Candidate& c : candidates_) {
      if (c.kind == ObjectKind::kGroup) {
        if (const auto* members = c.entry->Find("member")) {
          for (const auto& value : *members) {
            ldap::ExtendedDn member = ldap::ParseExtendedDn(value);
            std::string guid = member.guid;
            if (guid.empty()) {
              auto it = by_dn_.find(ldap::NormalizeDn(member.dn));
              if (it != by_dn_.end()) guid = it->second;
            }
            if (index_by_guid_.contains(guid)) edges_[c.guid].insert(guid);
          }
        }
      }
      // A user's primary group does not list it in `member`.
      uint32_t primary = 0;
      if (!c.sid.empty() && ParseUint32(c.entry->First("primarygroupid"), &primary)) {
        if (auto group_sid = ldap::SidWithRid(c.sid, primary)) {
          auto it = by_sid_.find(*group_sid);
          if (it != by_sid_.end()) edges_[it->second].insert(c.guid);
        }
      }
    }
  }

  std::unordered_set<std::string> SelectInScope() {
    std::unordered_set<std::string> selected;
    if (config_.groups.empty()) {
      for (const Candidate& c : candidates_) selected.insert(c.guid);
      return selected;
    }
    std::deque<std::string> queue;
    for (const auto& wanted : config_.groups) {
      bool found = false;
      for (const Candidate& c : candidates_) {
        if (c.kind != ObjectKind::kGroup) continue;
        bool match = wanted.find('=') != std::string::npos
                         ? ldap::NormalizeDn(wanted) == ldap::NormalizeDn(c.entry->dn)
                         : AsciiLower(wanted) == AsciiLower(c.entry->First("samaccountname"));
        if (match) {
          found = true;
          if (selected.insert(c.guid).second) queue.push_back(c.guid);
        }
      }
      if (!found) {
        const std::string why = "scope group " + wanted + " was not found under the group bases";
        result_.warnings.push_back(why);
        if (result_.incomplete_reason.empty()) result_.incomplete_reason = why;
      }
    }
    // Breadth-first through nested groups; `selected` also stops cycles.
    while (!queue.empty()) {
      std::string group = std::move(queue.front());
      queue.pop_front();
      auto it = edges_.find(group);
      if (it == edges_.end()) continue;
      for (const auto& member : it->second) {
        if (selected.insert(member).second) queue.push_back(member);
      }
    }
    return selected;
  }

  std::optional<SyncObject> Map(const Candidate& c) {
    return MapEntry(mapping_, *c.entry, c.kind, &result_.warnings);
  }

  const ScopeConfig& config_;
  const AttributeMapping& mapping_;
  std::vector<Candidate> candidates_;
  std::unordered_map<std::string, size_t> index_by_guid_;
  std::unordered_map<std::string, std::string> by_dn_;
  std::unordered_map<std::string, std::string> by_sid_;
  std::unordered_map<std::string, std::set<std::string>> edges_;
  ScopeResult result_;
};

}  // namespace

bool IsExcluded(const ScopeConfig& config, const ldap::Entry& entry) {
  std::string sam = AsciiLower(entry.First("samaccountname"));
  for (const auto& rule : config.exclude) {
    if (rule.find('=') != std::string::npos) {
      if (ldap::DnIsWithin(entry.dn, rule)) return true;
    } else if (!sam.empty() && AsciiLower(rule) == sam) {
      return true;
    }
  }
  return false;
}

std::optional<SyncObject> MapEntry(const AttributeMapping& mapping, const ldap::Entry& entry,
                                   ObjectKind kind, std::vector<std::string>* warnings) {
  SyncObject object;
  object.guid = entry.First("objectguid");
  if (object.guid.size() != 16) {
    warnings->push_back(entry.dn + ": skipped, no valid objectGUID");
    return std::nullopt;
  }
  object.kind = kind;
  object.external_id = ldap::GuidToString(object.guid).value_or("");
  object.dn = entry.dn;
  object.sid = entry.First("objectsid");
  if (const auto* history = entry.Find("sidhistory")) object.sid_history = *history;
  object.sam_account_name = entry.First("samaccountname");
  object.user_principal_name = entry.First("userprincipalname");
  object.mail = entry.First("mail");
  object.consistency_guid = entry.First("ms-ds-consistencyguid");
  for (const AttributeRule& rule : mapping.rules(kind)) {
    for (const auto& source : rule.sources) {
      std::string value = entry.First(AsciiLower(source));
      if (value.empty()) continue;
      if (!ldap::IsValidUtf8(value)) {
        warnings->push_back(entry.dn + ": " + source + " is not valid UTF-8; ignored");
        continue;
      }
      if (rule.transform == Transform::kActiveFromUserAccountControl) {
        uint32_t uac = 0;
        if (!ParseUint32(value, &uac)) continue;
        value = (uac & kAccountDisable) ? "false" : "true";
      }
      object.attributes[rule.store_attribute] = value;
      break;
    }
  }
  const char* naming = kind == ObjectKind::kUser ? kUserNameAttribute : kGroupNameAttribute;
  auto name = object.attributes.find(naming);
  if (name == object.attributes.end()) {
    warnings->push_back(entry.dn + ": skipped, no value for " + naming);
    return std::nullopt;
  }
  object.name = name->second;
  return object;
}

AttributeMapping AttributeMapping::Defaults() {
  AttributeMapping m;
  m.user_ = {
      {"userName", {"userPrincipalName", "sAMAccountName"}, Transform::kCopy},
      {"displayName", {"displayName", "name"}, Transform::kCopy},
      {"givenName", {"givenName"}, Transform::kCopy},
      {"familyName", {"sn"}, Transform::kCopy},
      {"email", {"mail"}, Transform::kCopy},
      {"active", {"userAccountControl"}, Transform::kActiveFromUserAccountControl},
  };
  m.group_ = {
      {"displayName", {"name"}, Transform::kCopy},
      {"description", {"description"}, Transform::kCopy},
  };
  return m;
}

Status AttributeMapping::Set(ObjectKind kind, const std::string& store_attribute,
                             std::vector<std::string> sources) {
  if (sources.empty()) {
    return Status::InvalidArgument("names no AD attribute");
  }
  for (const auto& source : sources) {
    if (!ldap::IsAttributeDescription(source)) {
      return Status::InvalidArgument("must name AD attributes; \"" + source +
                                     "\" is not an attribute name (RFC 4512)");
    }
  }
  auto& rules = kind == ObjectKind::kUser ? user_ : group_;
  auto it = std::find_if(rules.begin(), rules.end(), [&](const AttributeRule& r) {
    return r.store_attribute == store_attribute;
  });
  if (it != rules.end() && it->transform == Transform::kActiveFromUserAccountControl) {
    if (sources.size() != 1 || AsciiLower(sources[0]) != "useraccountcontrol") {
      return Status::InvalidArgument("can only read userAccountControl");
    }
    return Status::Ok();
  }
  if (it != rules.end()) {
    it->sources = std::move(sources);
  } else {
    rules.push_back({store_attribute, std::move(sources), Transform::kCopy});
  }
  return Status::Ok();
}

std::string SearchFilter(const ScopeConfig& config, ObjectKind kind) {
  // Users: person objects of class user (not computers); groups: class group.
  std::string base = kind == ObjectKind::kUser ? "(objectCategory=person)(objectClass=user)"
                                               : "(objectClass=group)";
  const std::string& extra = kind == ObjectKind::kUser ? config.user_filter : config.group_filter;
  if (!extra.empty()) {
    base += extra.front() == '(' ? extra : "(" + extra + ")";
  }
  return "(&" + base + ")";
}

Status CheckExtraFilter(std::string_view extra) {
  // SearchFilter's rule: text that starts with "(" is spliced in as it is.
  return extra.front() == '(' ? ldap::CheckFilterList(extra)
                              : ldap::CheckFilterWithoutParentheses(extra);
}

std::vector<std::string> SearchAttributes(const AttributeMapping& mapping, ObjectKind kind) {
  std::vector<std::string> attrs = kKeyAttributes;
  if (kind == ObjectKind::kUser) {
    attrs.push_back("primaryGroupID");
    attrs.push_back("userAccountControl");
  } else {
    attrs.push_back("member");
  }
  for (const auto& rule : mapping.rules(kind)) {
    for (const auto& source : rule.sources) attrs.push_back(source);
  }
  std::set<std::string> seen;
  std::vector<std::string> unique;
  for (auto& a : attrs) {
    if (seen.insert(AsciiLower(a)).second) unique.push_back(std::move(a));
  }
  return unique;
}

ScopeResult Evaluate(const ScopeConfig& config, const AttributeMapping& mapping,
                     const std::vector<ldap::Entry>& users,
                     const std::vector<ldap::Entry>& groups) {
  return Evaluator(config, mapping).Run(users, groups);
}

}  // namespace syncd::scope
