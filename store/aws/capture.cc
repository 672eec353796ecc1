#include "store/aws/capture.h"

#include <algorithm>
#include <boost/json.hpp>
#include <set>
#include <utility>

#include "core/strings.h"

namespace syncd::identity_center {
namespace json = boost::json;

namespace {

std::string StringField(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->get_string()) : "";
}

// The `field` of each object of the array at `key` (a missing or null array
// is none: moto answers ExternalIds null).
std::vector<std::string> FieldsOf(const json::object& object, std::string_view key,
                                  std::string_view field) {
  std::vector<std::string> values;
  const json::value* array = object.if_contains(key);
  if (array == nullptr || !array->is_array()) return values;
  values.reserve(array->get_array().size());
  for (const json::value& item : array->get_array()) {
    if (!item.is_object()) continue;
    if (std::string value = StringField(item.get_object(), field); !value.empty()) {
      values.push_back(std::move(value));
    }
  }
  return values;
}

Principal PrincipalFrom(PrincipalType type, const std::string& id, const json::object& output) {
  Principal principal;
  principal.type = type;
  principal.id = id;
  principal.external_ids = FieldsOf(output, "ExternalIds", "Id");
  if (type == PrincipalType::kUser) {
    principal.name = StringField(output, "UserName");
    principal.emails = FieldsOf(output, "Emails", "Value");
  } else {
    principal.name = StringField(output, "DisplayName");
  }
  return principal;
}

void Add(std::unordered_map<std::string, std::vector<size_t>>* index, const std::string& key,
         size_t object) {
  if (key.empty()) return;
  std::vector<size_t>& found = (*index)[AsciiLower(key)];
  if (found.empty() || found.back() != object) found.push_back(object);
}

}  // namespace

boost::asio::awaitable<Result<std::map<std::string, Principal>>> DescribePrincipals(
    aws::Client& client, const Instance& instance, const std::vector<LiveAssignment>& assignments) {
  std::set<std::pair<PrincipalType, std::string>> distinct;
  for (const LiveAssignment& assignment : assignments) {
    distinct.emplace(assignment.principal_type, assignment.principal_id);
  }
  std::map<std::string, Principal> principals;
  for (const auto& [type, id] : distinct) {
    const bool user = type == PrincipalType::kUser;
    json::object input;
    input["IdentityStoreId"] = instance.identity_store_id;
    input[user ? "UserId" : "GroupId"] = id;
    const std::string_view operation = user ? "DescribeUser" : "DescribeGroup";
    aws::CallResult described = co_await client.CallRetrying(aws::kIdentityStore, operation, input);
    if (!described.ok()) {
      if (described.error().kind == aws::ErrorKind::kNotFound) continue;  // an orphan
      co_return described.error().ToStatus();
    }
    principals.emplace(id, PrincipalFrom(type, id, described.output()));
  }
  co_return principals;
}

const char* LinkRuleName(LinkRule rule) {
  switch (rule) {
    case LinkRule::kExternalId:
      return "externalId";
    case LinkRule::kUserName:
      return "userName = userPrincipalName";
    case LinkRule::kEmail:
      return "email = mail";
    case LinkRule::kDisplayName:
      return "displayName";
  }
  return "?";
}

const char* LinkStatusName(LinkStatus status) {
  switch (status) {
    case LinkStatus::kLinked:
      return "linked";
    case LinkStatus::kUnmatched:
      return "unmatched";
    case LinkStatus::kOrphan:
      return "orphan";
  }
  return "?";
}

LinkIndex::LinkIndex(const std::vector<SyncObject>& objects) : objects_(objects) {
  for (size_t i = 0; i < objects.size(); ++i) {
    const SyncObject& o = objects[i];
    Add(&by_external_id_, o.external_id, i);
    if (o.kind == ObjectKind::kUser) {
      Add(&users_by_upn_, o.source->user_principal_name, i);
      Add(&users_by_mail_, o.source->mail, i);
    } else {
      Add(&groups_by_display_name_, o.name, i);
      if (auto display = o.attributes.find("displayName"); display != o.attributes.end()) {
        Add(&groups_by_display_name_, display->second, i);
      }
    }
  }
}

PrincipalLink LinkIndex::Link(const Principal& principal) const {
  const ObjectKind kind =
      principal.type == PrincipalType::kUser ? ObjectKind::kUser : ObjectKind::kGroup;
  // The objects of the principal's kind that `index` finds for any of `keys`.
  auto find = [&](const Index& index, const std::vector<std::string>& keys) {
    std::set<size_t> found;
    for (const std::string& key : keys) {
      auto hit = index.find(AsciiLower(key));
      if (hit == index.end()) continue;
      for (size_t i : hit->second) {
        if (objects_[i].kind == kind) found.insert(i);
      }
    }
    return std::vector<size_t>(found.begin(), found.end());
  };
  std::vector<std::pair<LinkRule, std::vector<size_t>>> tries;
  tries.emplace_back(LinkRule::kExternalId, find(by_external_id_, principal.external_ids));
  if (kind == ObjectKind::kUser) {
    tries.emplace_back(LinkRule::kUserName, find(users_by_upn_, {principal.name}));
    tries.emplace_back(LinkRule::kEmail, find(users_by_mail_, principal.emails));
  } else {
    tries.emplace_back(LinkRule::kDisplayName, find(groups_by_display_name_, {principal.name}));
  }
  PrincipalLink link;
  for (auto& [rule, found] : tries) {
    if (found.empty()) continue;
    link.rule = rule;
    if (found.size() == 1) {
      link.status = LinkStatus::kLinked;
      link.object = found.front();
      const SyncObject& o = objects_[found.front()];
      link.detail = std::string("by ") + LinkRuleName(rule) + " to " + KindName(o.kind) + " " +
                    o.name + " (" + o.external_id + ")";
      return link;
    }
    link.detail = std::to_string(found.size()) + " AD " + KindName(kind) + "s match by " +
                  LinkRuleName(rule) + ":";
    for (size_t i : found)
      link.detail += " " + objects_[i].name + " (" + objects_[i].external_id + ")";
    link.candidates = std::move(found);
    return link;
  }
  link.detail = kind == ObjectKind::kUser
                    ? "no AD user matches its externalIds, userName (as userPrincipalName) or "
                      "emails (as mail)"
                    : "no AD group matches its externalIds or displayName";
  return link;
}

std::vector<CapturedAssignment> LinkAssignments(const std::vector<LiveAssignment>& live,
                                                const std::map<std::string, Principal>& principals,
                                                const std::vector<SyncObject>& objects) {
  const LinkIndex index(objects);
  std::vector<CapturedAssignment> captured;
  captured.reserve(live.size());
  for (const LiveAssignment& assignment : live) {
    CapturedAssignment& c = captured.emplace_back();
    c.assignment = assignment;
    auto principal = principals.find(assignment.principal_id);
    if (principal == principals.end() || principal->second.type != assignment.principal_type) {
      c.link.status = LinkStatus::kOrphan;
      c.link.detail = std::string("the identity store has no ") +
                      (assignment.principal_type == PrincipalType::kUser ? "user " : "group ") +
                      assignment.principal_id + " any more";
      continue;
    }
    c.principal_name = principal->second.name;
    c.link = index.Link(principal->second);
  }
  return captured;
}

}  // namespace syncd::identity_center
