// The capture of IAM Identity Center's live assignments: each assignment's
// principal, described from the identity store, linked to the AD object of
// the state cache it stands for, so that the ledger records it with every AD
// identity key (and finds it again after a source switch).
//
// Linking is a pure function of the principals and the cached objects,
// separate from the calls that describe the principals.
#ifndef SYNCD_STORE_AWS_CAPTURE_H_
#define SYNCD_STORE_AWS_CAPTURE_H_

#include <boost/asio/awaitable.hpp>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "aws/client.h"
#include "core/model.h"
#include "core/status.h"
#include "store/aws/identity_center.h"

namespace syncd::identity_center {

// A principal of the identity store, as DescribeUser / DescribeGroup tell it.
struct Principal {
  PrincipalType type = PrincipalType::kUser;
  std::string id;
  std::string name;                       // userName for users, displayName for groups
  std::vector<std::string> emails;        // users: Emails[].Value
  std::vector<std::string> external_ids;  // ExternalIds[].Id, whatever the issuer
};

// DescribeUser or DescribeGroup of each distinct principal of `assignments`
// (each call retried). A principal the identity store no longer has
// (ResourceNotFoundException) is left out of the map: its assignments are
// orphans. Any other failure is an error naming the call.
boost::asio::awaitable<Result<std::map<std::string, Principal>>> DescribePrincipals(
    aws::Client& client, const Instance& instance, const std::vector<LiveAssignment>& assignments);

// The rules that link a principal to an AD object, in the order they are
// tried; the first one that finds any candidate decides.
enum class LinkRule {
  kExternalId,   // an ExternalIds Id is the externalId syncd gives the object (objectGUID)
  kUserName,     // users: userName = userPrincipalName, ignoring case
  kEmail,        // users: an email = mail, ignoring case
  kDisplayName,  // groups: displayName = the group's name or displayName, ignoring case
};
// "externalId", "userName = userPrincipalName", "email = mail",
// "displayName".
const char* LinkRuleName(LinkRule rule);

enum class LinkStatus {
  kLinked,     // exactly one AD object
  kUnmatched,  // in the identity store, but no AD object, or several, match
  kOrphan,     // no longer in the identity store
};
const char* LinkStatusName(LinkStatus status);  // "linked", "unmatched", "orphan"

struct PrincipalLink {
  LinkStatus status = LinkStatus::kUnmatched;
  std::optional<LinkRule> rule;    // the rule that decided (linked, or several found)
  std::optional<size_t> object;    // linked: into the objects
  std::vector<size_t> candidates;  // unmatched by several: into the objects
  std::string detail;              // as a person reads it
};

// The cached AD objects, indexed by the keys the rules compare.
class LinkIndex {
 public:
  // `objects` must outlive the index.
  explicit LinkIndex(const std::vector<SyncObject>& objects);

  // Pure. Never kOrphan (that is the caller's: a principal not described).
  PrincipalLink Link(const Principal& principal) const;

 private:
  using Index = std::unordered_map<std::string, std::vector<size_t>>;
  const std::vector<SyncObject>& objects_;
  Index by_external_id_;          // lower-cased externalId
  Index users_by_upn_;            // lower-cased userPrincipalName
  Index users_by_mail_;           // lower-cased mail
  Index groups_by_display_name_;  // lower-cased name and displayName
};

// One live assignment and its principal's link.
struct CapturedAssignment {
  LiveAssignment assignment;
  std::string principal_name;  // "" for an orphan
  PrincipalLink link;
};

// Pure: links every assignment of `live` whose principal is in `principals`
// (DescribePrincipals); the others are orphans. In `live`'s order.
std::vector<CapturedAssignment> LinkAssignments(const std::vector<LiveAssignment>& live,
                                                const std::map<std::string, Principal>& principals,
                                                const std::vector<SyncObject>& objects);

}  // namespace syncd::identity_center

#endif  // SYNCD_STORE_AWS_CAPTURE_H_
