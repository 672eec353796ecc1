#include "store/aws/identity_center.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <utility>

namespace syncd::identity_center {
namespace json = boost::json;

namespace {

constexpr std::string_view kAccountPrefix = "aws:account/";
constexpr std::string_view kPermissionSetInfix = "/permission-set/";
constexpr std::string_view kApplicationPrefix = "aws:application/";

// The string at `key`, or "" when it is missing or not a string.
std::string StringField(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || !value->is_string()) {
    return "";
  }
  return std::string(value->get_string());
}

bool IsAccountId(std::string_view text) {
  return text.size() == 12 &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

Status BadTarget(std::string_view name, std::string_view why) {
  return Status::InvalidArgument("target \"" + std::string(name) + "\": " + std::string(why) +
                                 " (expected aws:account/ACCOUNT/permission-set/NAME or "
                                 "aws:application/NAME)");
}

Result<PrincipalType> ParsePrincipalType(std::string_view text) {
  if (text == "USER") {
    return PrincipalType::kUser;
  }
  if (text == "GROUP") {
    return PrincipalType::kGroup;
  }
  return Status::InvalidArgument("unknown PrincipalType \"" + std::string(text) + "\"");
}

// One listed assignment (ListAccountAssignments or ListApplicationAssignments)
// of `target`.
Result<LiveAssignment> AssignmentFrom(const json::value& item, const Target& target) {
  if (!item.is_object()) {
    return Status::InvalidArgument("an assignment that is not an object");
  }
  auto type = ParsePrincipalType(StringField(item.get_object(), "PrincipalType"));
  if (!type.ok()) {
    return type.status();
  }
  std::string principal_id = StringField(item.get_object(), "PrincipalId");
  if (principal_id.empty()) {
    return Status::InvalidArgument("an assignment without PrincipalId");
  }
  return LiveAssignment{
      .target = target, .principal_type = *type, .principal_id = std::move(principal_id)};
}

Status ListContext(const Status& st, const Target& target) {
  return st.WithContext("reading the assignments of " + target.Name());
}

}  // namespace

boost::asio::awaitable<Result<Instance>> DiscoverInstance(aws::Client& client,
                                                          const std::string& configured_arn) {
  json::object no_input;
  auto listed = co_await client.ListAll(aws::kSsoAdmin, "ListInstances", no_input, "Instances");
  if (!listed.ok()) {
    co_return listed.status();
  }
  std::vector<Instance> instances;
  instances.reserve(listed->size());
  for (const json::value& item : *listed) {
    if (!item.is_object()) {
      continue;
    }
    instances.push_back(
        Instance{.instance_arn = StringField(item.get_object(), "InstanceArn"),
                 .identity_store_id = StringField(item.get_object(), "IdentityStoreId")});
  }
  if (!configured_arn.empty()) {
    for (Instance& instance : instances) {
      if (instance.instance_arn == configured_arn) {
        co_return std::move(instance);
      }
    }
    co_return Status::NotFound("IAM Identity Center instance " + configured_arn +
                               " ([aws] instance_arn) is not among the instances ListInstances "
                               "returns");
  }
  if (instances.size() == 1) {
    co_return std::move(instances.front());
  }
  if (instances.empty()) {
    co_return Status::InvalidArgument(
        "ListInstances returns no IAM Identity Center instance in this region (set [aws] region "
        "or instance_arn)");
  }
  std::string names;
  for (const Instance& instance : instances) {
    names += (names.empty() ? "" : ", ") + instance.instance_arn;
  }
  co_return Status::InvalidArgument(
      "ListInstances returns several IAM Identity Center instances (" + names +
      "): set [aws] instance_arn");
}

std::string Target::Name() const {
  if (type == TargetType::kApplication) {
    return std::string(kApplicationPrefix) + application_name;
  }
  return std::string(kAccountPrefix) + account_id + std::string(kPermissionSetInfix) +
         permission_set_name;
}

std::string Target::RefJson(const std::string& instance_arn) const {
  json::object ref;
  ref["instanceArn"] = instance_arn;
  if (type == TargetType::kApplication) {
    ref["applicationArn"] = application_arn;
  } else {
    ref["accountId"] = account_id;
    ref["permissionSetArn"] = permission_set_arn;
  }
  return json::serialize(ref);
}

Result<Target> ParseTarget(std::string_view name) {
  Target target;
  if (name.starts_with(kApplicationPrefix)) {
    target.type = TargetType::kApplication;
    target.application_name = std::string(name.substr(kApplicationPrefix.size()));
    if (target.application_name.empty()) {
      return BadTarget(name, "no application name");
    }
    return target;
  }
  if (!name.starts_with(kAccountPrefix)) {
    return BadTarget(name, "not an IAM Identity Center target");
  }
  std::string_view rest = name.substr(kAccountPrefix.size());
  size_t infix = rest.find(kPermissionSetInfix);
  if (infix == std::string_view::npos) {
    return BadTarget(name, "no /permission-set/");
  }
  target.type = TargetType::kAccount;
  target.account_id = std::string(rest.substr(0, infix));
  target.permission_set_name = std::string(rest.substr(infix + kPermissionSetInfix.size()));
  if (!IsAccountId(target.account_id)) {
    return BadTarget(name, "the account id is not 12 digits");
  }
  if (target.permission_set_name.empty() ||
      target.permission_set_name.find('/') != std::string::npos) {
    return BadTarget(name, "no permission set name, or one with '/'");
  }
  return target;
}

Result<Target> TargetFromLedger(std::string_view name, std::string_view target_ref) {
  auto target = ParseTarget(name);
  if (!target.ok() || target_ref.empty()) {
    return target;
  }
  json::error_code ec;
  json::value ref = json::parse(target_ref, ec);
  if (ec || !ref.is_object()) {
    return Status::InvalidArgument("target \"" + std::string(name) +
                                   "\": its stored target_ref is not a JSON object");
  }
  const json::object& fields = ref.get_object();
  if (target->type == TargetType::kApplication) {
    target->application_arn = StringField(fields, "applicationArn");
    return target;
  }
  std::string account = StringField(fields, "accountId");
  if (!account.empty() && account != target->account_id) {
    return Status::InvalidArgument("target \"" + std::string(name) +
                                   "\": its stored target_ref names account " + account);
  }
  target->permission_set_arn = StringField(fields, "permissionSetArn");
  return target;
}

boost::asio::awaitable<Result<Catalog>> Catalog::Load(aws::Client& client,
                                                      const Instance& instance) {
  Catalog catalog;
  json::object input;
  input["InstanceArn"] = instance.instance_arn;
  auto arns =
      co_await client.ListAll(aws::kSsoAdmin, "ListPermissionSets", input, "PermissionSets");
  if (!arns.ok()) {
    co_return arns.status();
  }
  for (const json::value& arn : *arns) {
    if (!arn.is_string()) {
      continue;
    }
    json::object describe = input;
    describe["PermissionSetArn"] = arn;
    aws::CallResult described =
        co_await client.CallRetrying(aws::kSsoAdmin, "DescribePermissionSet", describe);
    if (!described.ok()) {
      co_return described.error().ToStatus();
    }
    const json::value* set = described.output().if_contains("PermissionSet");
    std::string name =
        set != nullptr && set->is_object() ? StringField(set->get_object(), "Name") : std::string();
    if (name.empty()) {
      co_return Status::InvalidArgument("DescribePermissionSet of " +
                                        std::string(arn.get_string()) + " names no permission set");
    }
    catalog.permission_sets[name] = std::string(arn.get_string());
  }
  auto applications =
      co_await client.ListAll(aws::kSsoAdmin, "ListApplications", input, "Applications");
  if (!applications.ok()) {
    co_return applications.status();
  }
  for (const json::value& application : *applications) {
    if (!application.is_object()) {
      continue;
    }
    std::string name = StringField(application.get_object(), "Name");
    std::string arn = StringField(application.get_object(), "ApplicationArn");
    if (!name.empty() && !arn.empty()) {
      catalog.applications[name] = std::move(arn);
    }
  }
  co_return catalog;
}

Status Catalog::Resolve(Target* target) const {
  const bool application = target->type == TargetType::kApplication;
  const auto& by_name = application ? applications : permission_sets;
  const std::string& name = application ? target->application_name : target->permission_set_name;
  auto found = by_name.find(name);
  if (found == by_name.end()) {
    return Status::NotFound(std::string(application ? "application" : "permission set") + " \"" +
                            name + "\" is not in the IAM Identity Center instance");
  }
  (application ? target->application_arn : target->permission_set_arn) = found->second;
  return Status::Ok();
}

namespace {
std::string NameOf(const std::map<std::string, std::string>& by_name, std::string_view arn) {
  for (const auto& [name, value] : by_name) {
    if (value == arn) {
      return name;
    }
  }
  return "";
}
}  // namespace

std::string Catalog::PermissionSetName(std::string_view arn) const {
  return NameOf(permission_sets, arn);
}

std::string Catalog::ApplicationName(std::string_view arn) const {
  return NameOf(applications, arn);
}

const char* PrincipalTypeName(PrincipalType type) {
  return type == PrincipalType::kGroup ? "GROUP" : "USER";
}

boost::asio::awaitable<Result<std::vector<LiveAssignment>>> ReadTargetAssignments(
    aws::Client& client, const Instance& instance, const Target& target) {
  json::object input;
  std::string_view operation;
  std::string_view list_key;
  if (target.type == TargetType::kApplication) {
    input["ApplicationArn"] = target.application_arn;
    operation = "ListApplicationAssignments";
    list_key = "ApplicationAssignments";
  } else {
    input["InstanceArn"] = instance.instance_arn;
    input["AccountId"] = target.account_id;
    input["PermissionSetArn"] = target.permission_set_arn;
    operation = "ListAccountAssignments";
    list_key = "AccountAssignments";
  }
  auto listed = co_await client.ListAll(aws::kSsoAdmin, operation, std::move(input), list_key);
  if (!listed.ok()) {
    co_return ListContext(listed.status(), target);
  }
  std::vector<LiveAssignment> assignments;
  assignments.reserve(listed->size());
  for (const json::value& item : *listed) {
    auto assignment = AssignmentFrom(item, target);
    if (!assignment.ok()) {
      co_return ListContext(assignment.status(), target);
    }
    assignments.push_back(std::move(*assignment));
  }
  co_return assignments;
}

boost::asio::awaitable<Result<std::vector<LiveAssignment>>> ReadAssignments(
    aws::Client& client, const Instance& instance, const Catalog& catalog) {
  std::vector<Target> targets;
  for (const auto& [name, arn] : catalog.permission_sets) {
    json::object input;
    input["InstanceArn"] = instance.instance_arn;
    input["PermissionSetArn"] = arn;
    auto accounts = co_await client.ListAll(
        aws::kSsoAdmin, "ListAccountsForProvisionedPermissionSet", std::move(input), "AccountIds");
    if (!accounts.ok()) {
      co_return accounts.status().WithContext("reading the accounts of permission set " + name);
    }
    targets.reserve(targets.size() + accounts->size());
    for (const json::value& account : *accounts) {
      if (account.is_string()) {
        Target& target = targets.emplace_back();
        target.account_id = std::string(account.get_string());
        target.permission_set_name = name;
        target.permission_set_arn = arn;
      }
    }
  }
  for (const auto& [name, arn] : catalog.applications) {
    Target& target = targets.emplace_back();
    target.type = TargetType::kApplication;
    target.application_name = name;
    target.application_arn = arn;
  }
  std::vector<LiveAssignment> all;
  for (const Target& target : targets) {
    auto assignments = co_await ReadTargetAssignments(client, instance, target);
    if (!assignments.ok()) {
      co_return assignments.status();
    }
    all.insert(all.end(), std::make_move_iterator(assignments->begin()),
               std::make_move_iterator(assignments->end()));
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  co_return all;
}

}  // namespace syncd::identity_center
