#include "scope/scope.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <deque>
#include <memory>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include <openssl/evp.h>

#include "core/memory.h"
#include "core/position_index.h"
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

// A raw objectGUID as a key: 16 bytes held in place (a std::string of 16
// would allocate).
struct GuidKey {
  std::array<char, 16> bytes{};
  static std::optional<GuidKey> Of(std::string_view raw) {
    if (raw.size() != 16) return std::nullopt;
    GuidKey key;
    std::memcpy(key.bytes.data(), raw.data(), 16);
    return key;
  }
  std::string_view view() const { return {bytes.data(), bytes.size()}; }
  std::string str() const { return std::string(view()); }
  bool operator==(const GuidKey&) const = default;
};
struct GuidKeyHash {
  size_t operator()(const GuidKey& key) const {
    uint64_t a = 0, b = 0;
    std::memcpy(&a, key.bytes.data(), 8);
    std::memcpy(&b, key.bytes.data() + 8, 8);
    return std::hash<uint64_t>()(a ^ (b * 0x9e3779b97f4a7c15ULL));
  }
};

constexpr uint32_t kNoPrimaryGroup = UINT32_MAX;

// What the scope keeps of a normalized DN to find a member named by its DN
// alone: the first 16 bytes of its SHA-256, as two words (the first is the
// index's hash). Two DNs of one directory share it only
// by a SHA-256 collision, so this is as exact as the DN, in 16 bytes instead
// of the DN's hundred.
struct DnDigest {
  uint64_t key = 0;
  uint64_t check = 0;
  bool operator==(const DnDigest&) const = default;
};
struct DnDigestHash {
  size_t operator()(const DnDigest& d) const { return static_cast<size_t>(d.key); }
};

class DnDigester {
 public:
  DnDigester() : md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)), ctx_(EVP_MD_CTX_new()) {}

  // Throws std::runtime_error if the library cannot hash (no SHA-256, out of
  // memory): a scope without its DN index would lose memberships silently.
  DnDigest Of(std::string_view normalized_dn) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int size = 0;
    if (md_ == nullptr || ctx_ == nullptr ||
        EVP_DigestInit_ex2(ctx_.get(), md_.get(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx_.get(), normalized_dn.data(), normalized_dn.size()) != 1 ||
        EVP_DigestFinal_ex(ctx_.get(), md.data(), &size) != 1 || size < 16) {
      throw std::runtime_error("SHA-256 is unavailable from the crypto library");
    }
    DnDigest digest;
    std::memcpy(&digest.key, md.data(), 8);
    std::memcpy(&digest.check, md.data() + 8, 8);
    return digest;
  }

 private:
  struct FreeMd {
    void operator()(EVP_MD* md) const { EVP_MD_free(md); }
  };
  struct FreeCtx {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD, FreeMd> md_;
  std::unique_ptr<EVP_MD_CTX, FreeCtx> ctx_;
};

}  // namespace

// What the evaluator keeps of each entry, by dense id (the order of Add).
struct Evaluator::Graph {
  struct Candidate {
    GuidKey guid;
    ObjectKind kind = ObjectKind::kUser;
    uint32_t primary_group = kNoPrimaryGroup;  // into primary_sids
    ObjectRef object;                          // null: unmappable (skipped)
    // Not the DN: the InScope callee may keep only an identity, and a
    // candidate is kept for the whole read.
    DnDigest dn;
  };
  struct GuidAt {
    const std::deque<Candidate>* candidates;
    GuidKey operator()(uint32_t id) const { return (*candidates)[id].guid; }
  };
  struct DnAt {
    const std::deque<Candidate>* candidates;
    DnDigest operator()(uint32_t id) const { return (*candidates)[id].dn; }
  };

  Graph(ScopeConfig c, AttributeMapping m, InScope in)
      : config(std::move(c)),
        mapping(std::move(m)),
        in_scope(config.groups.empty() ? std::move(in) : InScope{}),
        scope_group_found(config.groups.size(), false) {}

  const ScopeConfig config;
  const AttributeMapping mapping;
  const InScope in_scope;  // empty under group-based scope
  // A deque: grown an entry at a time for the whole read, and a vector's
  // doubling would copy (and briefly hold twice) most of the directory.
  std::deque<Candidate> candidates;
  PositionIndex<GuidKey, GuidAt, GuidKeyHash> by_guid{GuidAt{&candidates}};
  PositionIndex<DnDigest, DnAt, DnDigestHash> by_dn{DnAt{&candidates}};
  DnDigester dn_digester;
  // Mapping warnings by id, in id order: few entries have any. Reported if
  // the entry is in scope.
  std::vector<std::pair<uint32_t, std::vector<std::string>>> mapping_warnings;
  std::unordered_map<std::string, uint32_t> group_by_sid;
  // Users' primary group SIDs, interned: a directory has few of them.
  std::vector<std::string> primary_sids;
  std::unordered_map<std::string, uint32_t> primary_sid_index;
  std::vector<std::pair<uint32_t, uint32_t>> edges;  // (group, member)
  // Members not known yet when their group was added: resolved by Finish().
  std::vector<std::pair<uint32_t, std::string>> pending_dns;  // normalized
  std::vector<std::pair<uint32_t, GuidKey>> pending_guids;
  // DNs of entries read but not taken (excluded, or without a valid
  // objectGUID): a member named by one of them is accounted for.
  std::unordered_set<DnDigest, DnDigestHash> passed_over;
  std::vector<bool> scope_group_found;  // per config.groups
  std::vector<uint32_t> scope_groups;   // ids of the groups that matched
  ScopeResult result;

  std::optional<uint32_t> FindByDn(const std::string& normalized) {
    return by_dn.Find(dn_digester.Of(normalized));
  }

  // An edge whose member is known already.
  void AddEdge(uint32_t group, uint32_t member) {
    edges.emplace_back(group, member);
    if (!in_scope.member) return;
    const ObjectRef& group_object = candidates[group].object;
    const ObjectRef& member_object = candidates[member].object;
    if (group_object && member_object) in_scope.member(group_object, member_object);
  }

  // A member value: an extended DN with its GUID, or a plain DN.
  void AddMember(uint32_t group, const std::string& value) {
    ldap::ExtendedDn member = ldap::ParseExtendedDn(value);
    if (auto guid = GuidKey::Of(member.guid)) {
      if (auto found = by_guid.Find(*guid)) {
        AddEdge(group, *found);
      } else {
        pending_guids.emplace_back(group, *guid);
      }
      return;
    }
    std::string normalized = ldap::NormalizeDn(member.dn);
    if (auto found = FindByDn(normalized)) {
      AddEdge(group, *found);
    } else {
      pending_dns.emplace_back(group, std::move(normalized));
    }
  }

  void MatchScopeGroups(uint32_t id, const ldap::Entry& entry, const std::string& normalized_dn) {
    const std::string sam = AsciiLower(entry.First("samaccountname"));
    for (size_t i = 0; i < config.groups.size(); ++i) {
      const std::string& wanted = config.groups[i];
      bool match = wanted.find('=') != std::string::npos
                       ? ldap::NormalizeDn(wanted) == normalized_dn
                       : AsciiLower(wanted) == sam;
      if (!match) continue;
      scope_group_found[i] = true;
      scope_groups.push_back(id);
    }
  }

  void Add(const ldap::Entry& entry, ObjectKind kind) {
    auto guid = GuidKey::Of(entry.First("objectguid"));
    if (!guid) {
      result.warnings.push_back(entry.dn + ": skipped, no valid objectGUID");
      passed_over.insert(dn_digester.Of(ldap::NormalizeDn(entry.dn)));
      return;
    }
    if (by_guid.Find(*guid)) return;  // read twice through overlapping bases
    if (IsExcluded(config, entry)) {
      passed_over.insert(dn_digester.Of(ldap::NormalizeDn(entry.dn)));
      return;
    }
    const auto id = static_cast<uint32_t>(candidates.size());
    Candidate& c = candidates.emplace_back();
    c.guid = *guid;
    by_guid.Add(id);
    c.kind = kind;
    // Made shared once, here: the result and the plan hand on the pointer.
    std::vector<std::string> warnings;
    if (auto mapped = MapEntry(mapping, entry, kind, &warnings)) {
      c.object = MakeObjectRef(std::move(*mapped));
      if (in_scope.object) c.object = in_scope.object(std::move(c.object));
    }
    if (!warnings.empty()) mapping_warnings.emplace_back(id, std::move(warnings));
    const std::string normalized_dn = ldap::NormalizeDn(entry.dn);
    c.dn = dn_digester.Of(normalized_dn);
    by_dn.Add(id);
    const std::string sid = entry.First("objectsid");
    if (kind == ObjectKind::kGroup) {
      if (!sid.empty()) group_by_sid.emplace(sid, id);
      if (!config.groups.empty()) MatchScopeGroups(id, entry, normalized_dn);
      if (const auto* members = entry.Find("member")) {
        for (const auto& value : *members) AddMember(id, value);
      }
    }
    // A user's primary group does not list it in `member`.
    uint32_t rid = 0;
    if (!sid.empty() && ParseUint32(entry.First("primarygroupid"), &rid)) {
      if (auto group_sid = ldap::SidWithRid(sid, rid)) {
        auto [at, added] =
            primary_sid_index.try_emplace(*group_sid, static_cast<uint32_t>(primary_sids.size()));
        if (added) primary_sids.push_back(*group_sid);
        c.primary_group = at->second;
      }
    }
  }

  std::vector<std::string> GroupsWithUnexplainedMembers() {
    auto under = [](const std::string& dn, const std::vector<std::string>& bases) {
      return std::any_of(bases.begin(), bases.end(),
                         [&dn](const std::string& base) { return ldap::DnIsWithin(dn, base); });
    };
    std::vector<uint32_t> groups;
    for (const auto& [group, dn] : pending_dns) {
      if (!groups.empty() && groups.back() == group) continue;
      if (FindByDn(dn) || passed_over.contains(dn_digester.Of(dn))) continue;
      if (under(dn, config.user_bases) || under(dn, config.group_bases)) groups.push_back(group);
    }
    std::sort(groups.begin(), groups.end());
    groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
    std::vector<std::string> guids;
    guids.reserve(groups.size());
    for (uint32_t group : groups) guids.push_back(candidates[group].guid.str());
    return guids;
  }

  // After the last Add(): a member named by GUID is either read or not in
  // scope. The edges go only into the list (Finish removes repeats): what
  // the first read resolved was offered to InScope.member then, and what it
  // did not resolve is applied with the rest of the plan.
  void AddMembers(const ldap::Entry& entry) {
    auto guid = GuidKey::Of(entry.First("objectguid"));
    if (!guid) return;
    auto id = by_guid.Find(*guid);
    if (!id || candidates[*id].kind != ObjectKind::kGroup) return;
    const auto* members = entry.Find("member");
    if (members == nullptr) return;
    for (const auto& value : *members) {
      auto member = GuidKey::Of(ldap::ParseExtendedDn(value).guid);
      if (!member) continue;  // a plain DN says nothing the first read did not
      if (auto found = by_guid.Find(*member)) edges.emplace_back(*id, *found);
    }
  }

  void ResolvePending() {
    for (const auto& [group, guid] : pending_guids) {
      if (auto found = by_guid.Find(guid)) edges.emplace_back(group, *found);
    }
    for (const auto& [group, dn] : pending_dns) {
      if (auto found = FindByDn(dn)) edges.emplace_back(group, *found);
    }
    ReleaseMemory(&pending_guids);
    ReleaseMemory(&pending_dns);
    std::vector<std::optional<uint32_t>> primary_group(primary_sids.size());
    for (size_t i = 0; i < primary_sids.size(); ++i) {
      auto found = group_by_sid.find(primary_sids[i]);
      if (found != group_by_sid.end()) primary_group[i] = found->second;
    }
    for (uint32_t id = 0; id < candidates.size(); ++id) {
      const auto primary = candidates[id].primary_group;
      if (primary != kNoPrimaryGroup && primary_group[primary]) {
        edges.emplace_back(*primary_group[primary], id);
      }
    }
    std::sort(edges.begin(), edges.end());
    edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  }

  // Which candidates are in scope: all of them, or the scope groups and
  // everything below them.
  std::vector<bool> SelectInScope() {
    std::vector<bool> selected(candidates.size(), config.groups.empty());
    if (config.groups.empty()) return selected;
    for (size_t i = 0; i < config.groups.size(); ++i) {
      if (scope_group_found[i]) continue;
      const std::string why =
          "scope group " + config.groups[i] + " was not found under the group bases";
      result.warnings.push_back(why);
      if (result.incomplete_reason.empty()) result.incomplete_reason = why;
    }
    // Breadth-first through nested groups over the sorted edges; `selected`
    // also stops cycles.
    std::deque<uint32_t> queue;
    for (uint32_t group : scope_groups) {
      if (!selected[group]) {
        selected[group] = true;
        queue.push_back(group);
      }
    }
    while (!queue.empty()) {
      const uint32_t group = queue.front();
      queue.pop_front();
      auto it = std::lower_bound(edges.begin(), edges.end(), std::make_pair(group, uint32_t{0}));
      for (; it != edges.end() && it->first == group; ++it) {
        if (!selected[it->second]) {
          selected[it->second] = true;
          queue.push_back(it->second);
        }
      }
    }
    return selected;
  }

  ScopeResult Finish() {
    ResolvePending();
    const std::vector<bool> selected = SelectInScope();
    // Only the read needed these. A large read peaks here, with the
    // memberships about to be built: freed first.
    by_guid = decltype(by_guid)(GuidAt{&candidates});
    by_dn = decltype(by_dn)(DnAt{&candidates});
    ReleaseMemory(&group_by_sid);
    ReleaseMemory(&primary_sids);
    ReleaseMemory(&primary_sid_index);
    ReleaseMemory(&passed_over);
    for (auto& [id, warnings] : mapping_warnings) {
      if (!selected[id]) continue;
      result.warnings.insert(result.warnings.end(), std::make_move_iterator(warnings.begin()),
                             std::make_move_iterator(warnings.end()));
    }
    ReleaseMemory(&mapping_warnings);
    std::vector<bool> mapped(candidates.size(), false);
    size_t mapped_count = 0;
    for (uint32_t id = 0; id < candidates.size(); ++id) {
      Candidate& c = candidates[id];
      if (!selected[id]) continue;
      if (!c.object) {
        result.skipped.push_back(c.guid.str());
        continue;
      }
      mapped[id] = true;
      ++mapped_count;
    }
    auto kept = [&mapped](const std::pair<uint32_t, uint32_t>& edge) {
      return mapped[edge.first] && mapped[edge.second];
    };
    // Sized first: these are the read's largest results.
    result.memberships.reserve(
        static_cast<size_t>(std::count_if(edges.begin(), edges.end(), kept)));
    for (const auto& edge : edges) {
      if (kept(edge)) {
        result.memberships.push_back(
            {candidates[edge.first].guid.view(), candidates[edge.second].guid.view()});
      }
    }
    ReleaseMemory(&edges);
    std::sort(result.memberships.begin(), result.memberships.end());
    result.objects.reserve(mapped_count);
    for (uint32_t id = 0; id < candidates.size(); ++id) {
      if (mapped[id]) result.objects.push_back(std::move(candidates[id].object));
    }
    ReleaseMemory(&candidates);
    std::sort(result.objects.begin(), result.objects.end(),
              [](const ObjectRef& a, const ObjectRef& b) {
                return std::tie(a->kind, a->name, a->guid) < std::tie(b->kind, b->name, b->guid);
              });
    return std::move(result);
  }
};

Evaluator::Evaluator(ScopeConfig config, AttributeMapping mapping, InScope in_scope)
    : graph_(std::make_unique<Graph>(std::move(config), std::move(mapping), std::move(in_scope))) {}
Evaluator::~Evaluator() = default;

void Evaluator::Add(const ldap::Entry& entry, ObjectKind kind) { graph_->Add(entry, kind); }

std::vector<std::string> Evaluator::GroupsWithUnexplainedMembers() {
  return graph_->GroupsWithUnexplainedMembers();
}

void Evaluator::AddMembers(const ldap::Entry& group) { graph_->AddMembers(group); }

ScopeResult Evaluator::Finish() { return graph_->Finish(); }

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
  SourceDetails& details = object.source.Mutable();
  details.dn = entry.dn;
  details.sid = entry.First("objectsid");
  if (const auto* history = entry.Find("sidhistory")) details.sid_history = *history;
  details.sam_account_name = entry.First("samaccountname");
  details.user_principal_name = entry.First("userprincipalname");
  details.mail = entry.First("mail");
  details.consistency_guid = entry.First("ms-ds-consistencyguid");
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
  Evaluator evaluator(config, mapping);
  for (const auto& entry : users) evaluator.Add(entry, ObjectKind::kUser);
  for (const auto& entry : groups) evaluator.Add(entry, ObjectKind::kGroup);
  return evaluator.Finish();
}

}  // namespace syncd::scope
