// IAM Identity Center as an assignment store: the instance, its permission
// sets and applications by name, and its live account and application
// assignments. Shared by the capture (capture.h) and the reapply
// (reapply.h). Calls go through aws::Client (paced, retried by type).
//
// Targets are named as the ledger records them:
//   aws:account/ACCOUNT/permission-set/NAME
//   aws:application/NAME
// and their ARNs travel beside the name as a target_ref JSON object
// ({"instanceArn", "accountId", "permissionSetArn"} or {"instanceArn",
// "applicationArn"}): names are what a person reads and what survives a
// rename of nothing; ARNs are what the APIs take and what survives a source
// switch.
#ifndef SYNCD_STORE_AWS_IDENTITY_CENTER_H_
#define SYNCD_STORE_AWS_IDENTITY_CENTER_H_

#include <boost/asio/awaitable.hpp>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "aws/client.h"
#include "core/status.h"

namespace syncd::identity_center {

struct Instance {
  std::string instance_arn;
  std::string identity_store_id;
};

// ListInstances. With `configured_arn` set, that instance (NotFound when it
// is not listed); else the only one (InvalidArgument when there are none or
// several, naming them: set [aws] instance_arn).
boost::asio::awaitable<Result<Instance>> DiscoverInstance(aws::Client& client,
                                                          const std::string& configured_arn);

enum class TargetType { kAccount, kApplication };

struct Target {
  TargetType type = TargetType::kAccount;
  std::string account_id;           // kAccount: 12 digits
  std::string permission_set_name;  // kAccount
  std::string application_name;     // kApplication
  // Filled by Catalog::Resolve or read from a target_ref.
  std::string permission_set_arn;
  std::string application_arn;

  // "aws:account/123456789012/permission-set/AdminAccess",
  // "aws:application/Payroll".
  std::string Name() const;
  // The target_ref JSON of the ledger (see the file comment).
  std::string RefJson(const std::string& instance_arn) const;
  auto operator<=>(const Target&) const = default;
};
// InvalidArgument naming the expected forms when `name` is not one.
Result<Target> ParseTarget(std::string_view name);
// ParseTarget plus the ARNs of a stored target_ref ("" = none stored).
Result<Target> TargetFromLedger(std::string_view name, std::string_view target_ref);

// The instance's permission sets and applications, by name and by ARN.
class Catalog {
 public:
  // ListPermissionSets + DescribePermissionSet, ListApplications (every
  // page, retried; an error when any call still fails).
  static boost::asio::awaitable<Result<Catalog>> Load(aws::Client& client,
                                                      const Instance& instance);
  Catalog() = default;

  // Fills target->permission_set_arn or application_arn from the name;
  // NotFound naming the permission set or application otherwise.
  Status Resolve(Target* target) const;
  // The name of an ARN, or "" when the catalog has none.
  std::string PermissionSetName(std::string_view arn) const;
  std::string ApplicationName(std::string_view arn) const;

  std::map<std::string, std::string> permission_sets;  // name -> ARN
  std::map<std::string, std::string> applications;     // name -> ARN
};

enum class PrincipalType { kUser, kGroup };
const char* PrincipalTypeName(PrincipalType type);  // "USER", "GROUP"

struct LiveAssignment {
  Target target;  // resolved: names and ARNs
  PrincipalType principal_type = PrincipalType::kUser;
  std::string principal_id;  // the identity store's id
  auto operator<=>(const LiveAssignment&) const = default;
};

// Every account and application assignment of the instance: per permission
// set, ListAccountsForProvisionedPermissionSet then ListAccountAssignments
// per account; per application, ListApplicationAssignments. Complete or an
// error: each list is retried (aws::Client::ListAll), and a list that still
// fails fails the whole read, naming it.
boost::asio::awaitable<Result<std::vector<LiveAssignment>>> ReadAssignments(
    aws::Client& client, const Instance& instance, const Catalog& catalog);

// The assignments of one account and permission set, or of one application
// (`target` resolved).
boost::asio::awaitable<Result<std::vector<LiveAssignment>>> ReadTargetAssignments(
    aws::Client& client, const Instance& instance, const Target& target);

}  // namespace syncd::identity_center

#endif  // SYNCD_STORE_AWS_IDENTITY_CENTER_H_
