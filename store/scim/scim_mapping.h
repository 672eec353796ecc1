// How syncd's store attributes map onto SCIM 2.0 resources (RFC 7643), as
// data: one table per kind, used both to build requests and to read
// resources back, so that what ReadOwned returns is what was written.
#ifndef SYNCD_STORE_SCIM_SCIM_MAPPING_H_
#define SYNCD_STORE_SCIM_SCIM_MAPPING_H_

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"
#include "store/sink.h"

namespace syncd::scim {

inline constexpr std::string_view kUserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
inline constexpr std::string_view kGroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group";
inline constexpr std::string_view kEnterpriseSchema =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
inline constexpr std::string_view kPatchOpSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

// How a store value (always a string) is written in SCIM.
enum class ScimValue {
  kString,
  kBoolean,       // "true"/"false" <-> JSON true/false
  kPrimaryEmail,  // the one value of a multi-valued "emails": type work, primary
  kReference,     // a complex {"value": ...}, e.g. the enterprise manager
};

// One mapped attribute: store attribute `store` lives in SCIM at
// [schema:]parent.name (schema "" is the core schema; parent "" top level).
struct ScimAttribute {
  std::string_view store;
  std::string_view schema;
  std::string_view parent;
  std::string_view name;
  ScimValue value = ScimValue::kString;
};

// The mapped attributes of a kind. Store attributes not listed are not sent
// and not read back (a group's description: SCIM's Group has none).
std::span<const ScimAttribute> AttributesOf(ObjectKind kind);
// The row for store attribute `store`; nullptr when it is not mapped.
const ScimAttribute* FindAttribute(ObjectKind kind, std::string_view store);

// The attribute's PATCH path: "name.givenName", "emails",
// "urn:...:enterprise:2.0:User:department".
std::string PatchPath(const ScimAttribute& attribute);

// The resource a create sends: schemas, externalId and every mapped
// attribute `object` has (userName / displayName from object.name).
boost::json::object ToResource(ObjectKind kind, const SyncObject& object);

// What a resource holds, mapped back: external_id, ref (its id), name and
// the attributes (the naming attribute included, as the planner has it).
StoredObject FromResource(ObjectKind kind, const boost::json::object& resource);

// PATCH operations that make a resource carry the changes: replace with a
// path for each new value, remove for each removed one. Changes of
// attributes that are not mapped are left out.
boost::json::array ChangeOperations(ObjectKind kind, std::span<const AttributeChange> changes);

// PATCH operations that turn `existing` into `wanted` (adoption): replace
// every mapped attribute whose value differs, remove those `wanted` lacks,
// and set externalId. Empty when nothing differs.
boost::json::array AdoptOperations(ObjectKind kind, const SyncObject& wanted,
                                   const boost::json::object& existing);

// The value a JSON field holds as text, for mapped reads and error details:
// strings as they are, booleans "true"/"false", numbers in decimal.
std::optional<std::string> TextOf(const boost::json::value* value);

// Whether `external_id` has the form syncd writes: an objectGUID in its
// dashed 8-4-4-4-12 hex form.
bool LooksLikeGuid(std::string_view external_id);

}  // namespace syncd::scim

#endif  // SYNCD_STORE_SCIM_SCIM_MAPPING_H_
