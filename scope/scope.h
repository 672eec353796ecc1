// The sync scope: which AD users and groups syncd manages, and how their AD
// attributes map to the identity store's schema.
//
// Evaluation is local: the reader fetches everything under the configured
// bases with the configured filters; Evaluate() then applies group-based scope
// and exclusions and computes memberships from direct `member` edges plus
// primaryGroupID. Keeping this out of LDAP filters is what lets the
// incremental feeds see objects leave the scope.
#ifndef SYNCD_SCOPE_SCOPE_H_
#define SYNCD_SCOPE_SCOPE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"
#include "core/status.h"
#include "ldap/entry.h"

namespace syncd::scope {

struct ScopeConfig {
  std::vector<std::string> user_bases;   // subtree searches for users
  std::vector<std::string> group_bases;  // subtree searches for groups
  std::string user_filter;               // ANDed with the user class filter; may be empty
  std::string group_filter;              // ANDed with the group class filter; may be empty
  // Group-based scope: when set, only these groups (DN or sAMAccountName) and
  // their direct and nested members are in scope.
  std::vector<std::string> groups;
  // Out of scope whatever else matches: a DN (the object and its subtree) or
  // a sAMAccountName. An excluded group is not expanded.
  std::vector<std::string> exclude;
};

// How one store attribute is computed: from the first AD attribute in
// `sources` that has a value.
enum class Transform {
  kCopy,
  kActiveFromUserAccountControl,  // "false" when ACCOUNTDISABLE (0x2) is set
};
struct AttributeRule {
  std::string store_attribute;
  std::vector<std::string> sources;
  Transform transform = Transform::kCopy;
};

// The store attribute that names an object in plans and listings.
inline constexpr char kUserNameAttribute[] = "userName";
inline constexpr char kGroupNameAttribute[] = "displayName";

class AttributeMapping {
 public:
  // The documented defaults (conf/syncd.conf lists them):
  //   user  userName <- userPrincipalName, sAMAccountName
  //         displayName <- displayName, name;  givenName <- givenName
  //         familyName <- sn;  email <- mail;  active <- userAccountControl
  //   group displayName <- name;  description <- description
  static AttributeMapping Defaults();

  // Replaces or adds the rule for `store_attribute`; each source must be an
  // LDAP attribute description. `active` keeps its userAccountControl
  // transform and accepts only that source. The error message is a predicate
  // for the caller to prefix with the key.
  Status Set(ObjectKind kind, const std::string& store_attribute, std::vector<std::string> sources);

  const std::vector<AttributeRule>& rules(ObjectKind kind) const {
    return kind == ObjectKind::kUser ? user_ : group_;
  }

 private:
  std::vector<AttributeRule> user_;
  std::vector<AttributeRule> group_;
};

// The LDAP filter and attribute list the reader uses for each kind.
std::string SearchFilter(const ScopeConfig& config, ObjectKind kind);
// Whether `extra` (user_filter or group_filter, not empty) joins
// SearchFilter's AND as a filter: one or more "(...)", or one without its
// parentheses. The message is a predicate for the caller to prefix with the key.
Status CheckExtraFilter(std::string_view extra);
std::vector<std::string> SearchAttributes(const AttributeMapping& mapping, ObjectKind kind);

struct ScopeResult {
  // Sorted by kind, then name. Shared: a plan's operations refer to these
  // very objects (ObjectRef), so a full sync holds one copy of each.
  std::vector<ObjectRef> objects;
  std::vector<Membership> memberships;  // sorted, both ends in scope
  std::vector<std::string> warnings;    // objects or values skipped, and why
  // Raw GUIDs of objects read but left unmapped (see warnings): they are
  // still in AD, so their absence must not delete them.
  std::vector<std::string> skipped;
  // Non-empty when the scope could not be evaluated in full (a configured
  // scope group was not found): no deletion may follow from it.
  std::string incomplete_reason;
};

// True when `entry` is excluded by `config.exclude` (a DN subtree or a
// sAMAccountName), whatever else matches.
bool IsExcluded(const ScopeConfig& config, const ldap::Entry& entry);

// The mapped image of one entry; nullopt, with the reason appended to
// `warnings`, when it has no valid objectGUID or no value for its name.
std::optional<SyncObject> MapEntry(const AttributeMapping& mapping, const ldap::Entry& entry,
                                   ObjectKind kind, std::vector<std::string>* warnings);

// Evaluates the scope over entries as the directory returns them, so that a
// full read never holds its raw entries: each entry is mapped when it is
// added and dropped; what the scope needs of it later (its DN, its primary
// group, its members) is kept by a dense id. Group-based scope and the
// memberships are computed by Finish(), once every entry is in.
//
// Entries must carry the attributes SearchAttributes() names, with `member`
// complete (any range retrieval already done). They may come in any order
// (a member may be added after its group). An entry seen twice (overlapping
// bases) counts once: the first one is kept.
class Evaluator {
 public:
  // What is known to be in scope as entries are added, before Finish;
  // nothing under group-based scope, where only Finish knows. Either
  // callback may be empty.
  struct InScope {
    // An object, as it is added; returns what the scope keeps of it (and
    // the result holds): the object, or a twin with at least its identity
    // (IdentityOf) when the callee keeps the image itself. A twin need not
    // hold the DN: the scope keeps its own copy until Finish.
    std::function<ObjectRef(ObjectRef)> object;
    // A group's direct member, as the group is added, when the member was
    // added before it (users are read first). Finish lists the edge too; it
    // comes twice when the group lists the member twice.
    std::function<void(const ObjectRef& group, const ObjectRef& member)> member;
  };

  Evaluator(ScopeConfig config, AttributeMapping mapping, InScope in_scope = {});
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;
  ~Evaluator();

  void Add(const ldap::Entry& entry, ObjectKind kind);

  // Raw GUIDs of the groups that name a member by a DN under one of the
  // scope's bases that no entry added so far had (nor an excluded one): a
  // member renamed or moved during the read, or one the filter leaves out.
  // Call after the last Add(); AddMembers() can then resolve them by GUID.
  std::vector<std::string> GroupsWithUnexplainedMembers();
  // More member values of a group added before (found by its objectGUID;
  // others are ignored): as extended DNs, they resolve by GUID.
  void AddMembers(const ldap::Entry& group);

  // The result; call once, after the last Add() or AddMembers().
  ScopeResult Finish();

 private:
  struct Graph;
  std::unique_ptr<Graph> graph_;
};

// Evaluator over entries already read (users, then groups).
ScopeResult Evaluate(const ScopeConfig& config, const AttributeMapping& mapping,
                     const std::vector<ldap::Entry>& users, const std::vector<ldap::Entry>& groups);

}  // namespace syncd::scope

#endif  // SYNCD_SCOPE_SCOPE_H_
