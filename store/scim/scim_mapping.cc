#include "store/scim/scim_mapping.h"

#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <cctype>

namespace syncd::scim {
namespace {

namespace json = boost::json;

// The tables. Users: RFC 7643 §4.1 plus the enterprise extension (§4.3);
// the manager goes by value (AWS takes no manager.displayName). Groups:
// displayName; members travel as membership operations, never here.
constexpr std::array kUserAttributes = {
    ScimAttribute{"userName", "", "", "userName"},
    ScimAttribute{"displayName", "", "", "displayName"},
    ScimAttribute{"givenName", "", "name", "givenName"},
    ScimAttribute{"familyName", "", "name", "familyName"},
    ScimAttribute{"email", "", "", "emails", ScimValue::kPrimaryEmail},
    ScimAttribute{"active", "", "", "active", ScimValue::kBoolean},
    ScimAttribute{"employeeNumber", kEnterpriseSchema, "", "employeeNumber"},
    ScimAttribute{"department", kEnterpriseSchema, "", "department"},
    ScimAttribute{"manager", kEnterpriseSchema, "", "manager", ScimValue::kReference},
};
constexpr std::array kGroupAttributes = {
    ScimAttribute{"displayName", "", "", "displayName"},
};

constexpr std::string_view kEmailType = "work";

// The member of `o` named `key`, compared case-insensitively as RFC 7643
// §2.1 has attribute names.
const json::value* Field(const json::object& o, std::string_view key) {
  for (const auto& [k, v] : o) {
    if (k.size() == key.size() && std::equal(k.begin(), k.end(), key.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return &v;
    }
  }
  return nullptr;
}

const json::object* ObjectField(const json::object& o, std::string_view key) {
  const json::value* v = Field(o, key);
  return v != nullptr ? v->if_object() : nullptr;
}

// The JSON value a store value is written as.
json::value ValueOf(const ScimAttribute& a, const std::string& text) {
  switch (a.value) {
    case ScimValue::kString:
      return json::string(text);
    case ScimValue::kBoolean:
      return text == "true";
    case ScimValue::kPrimaryEmail:
      return json::array{json::object{{"value", text}, {"type", kEmailType}, {"primary", true}}};
    case ScimValue::kReference:
      return json::object{{"value", text}};
  }
  return nullptr;
}

// Where `a` lives in `resource`: the extension object, then the parent.
json::object& Container(json::object& resource, const ScimAttribute& a) {
  json::object* at = &resource;
  if (!a.schema.empty()) {
    json::value& extension = (*at)[a.schema];
    if (!extension.is_object()) extension.emplace_object();
    at = &extension.as_object();
  }
  if (!a.parent.empty()) {
    json::value& parent = (*at)[a.parent];
    if (!parent.is_object()) parent.emplace_object();
    at = &parent.as_object();
  }
  return *at;
}

std::optional<std::string> Read(const json::object& resource, const ScimAttribute& a) {
  const json::object* at = &resource;
  if (!a.schema.empty()) at = ObjectField(*at, a.schema);
  if (at != nullptr && !a.parent.empty()) at = ObjectField(*at, a.parent);
  if (at == nullptr) return std::nullopt;
  const json::value* v = Field(*at, a.name);
  if (v == nullptr || v->is_null()) return std::nullopt;
  switch (a.value) {
    case ScimValue::kString:
      return TextOf(v);
    case ScimValue::kBoolean: {
      auto text = TextOf(v);
      if (!text) return std::nullopt;
      // Some servers answer "True"/"False" strings (Entra's historical form).
      std::string lower = *text;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      return lower;
    }
    case ScimValue::kPrimaryEmail: {
      const json::array* values = v->if_array();
      if (values == nullptr || values->empty()) return std::nullopt;
      const json::object* pick = nullptr;
      for (const auto& e : *values) {
        const json::object* o = e.if_object();
        if (o == nullptr) continue;
        const json::value* primary = Field(*o, "primary");
        if (pick == nullptr || (primary != nullptr && primary->is_bool() && primary->as_bool())) {
          pick = o;
        }
      }
      return pick != nullptr ? TextOf(Field(*pick, "value")) : std::nullopt;
    }
    case ScimValue::kReference: {
      const json::object* o = v->if_object();
      return o != nullptr ? TextOf(Field(*o, "value")) : std::nullopt;
    }
  }
  return std::nullopt;
}

const char* NamingAttribute(ObjectKind kind) {
  return kind == ObjectKind::kUser ? "userName" : "displayName";
}

json::object Operation(std::string_view op, std::string path) {
  return json::object{{"op", op}, {"path", std::move(path)}};
}

}  // namespace

std::span<const ScimAttribute> AttributesOf(ObjectKind kind) {
  if (kind == ObjectKind::kUser) return kUserAttributes;
  return kGroupAttributes;
}

const ScimAttribute* FindAttribute(ObjectKind kind, std::string_view store) {
  for (const ScimAttribute& a : AttributesOf(kind)) {
    if (a.store == store) return &a;
  }
  return nullptr;
}

std::string PatchPath(const ScimAttribute& a) {
  std::string path;
  if (!a.schema.empty()) path = std::string(a.schema) + ":";
  if (!a.parent.empty()) path += std::string(a.parent) + ".";
  return path + std::string(a.name);
}

json::object ToResource(ObjectKind kind, const SyncObject& object) {
  json::object resource;
  json::array schemas{kind == ObjectKind::kUser ? kUserSchema : kGroupSchema};
  resource["externalId"] = object.external_id;
  Attributes values = object.attributes;
  values[NamingAttribute(kind)] = object.name;
  bool enterprise = false;
  for (const ScimAttribute& a : AttributesOf(kind)) {
    auto it = values.find(std::string(a.store));
    if (it == values.end()) continue;
    Container(resource, a)[a.name] = ValueOf(a, it->second);
    enterprise = enterprise || a.schema == kEnterpriseSchema;
  }
  if (enterprise) schemas.emplace_back(kEnterpriseSchema);
  resource["schemas"] = std::move(schemas);
  return resource;
}

StoredObject FromResource(ObjectKind kind, const json::object& resource) {
  StoredObject o;
  o.kind = kind;
  o.managed = true;
  o.ref = TextOf(Field(resource, "id")).value_or("");
  o.external_id = TextOf(Field(resource, "externalId")).value_or("");
  for (const ScimAttribute& a : AttributesOf(kind)) {
    if (auto value = Read(resource, a)) o.attributes[std::string(a.store)] = std::move(*value);
  }
  auto name = o.attributes.find(NamingAttribute(kind));
  if (name != o.attributes.end()) o.name = name->second;
  return o;
}

json::array ChangeOperations(ObjectKind kind, std::span<const AttributeChange> changes) {
  json::array ops;
  for (const AttributeChange& change : changes) {
    const ScimAttribute* a = FindAttribute(kind, change.attribute);
    if (a == nullptr) continue;
    json::object op = Operation(change.new_value ? "replace" : "remove", PatchPath(*a));
    if (change.new_value) op["value"] = ValueOf(*a, *change.new_value);
    ops.emplace_back(std::move(op));
  }
  return ops;
}

json::array AdoptOperations(ObjectKind kind, const SyncObject& wanted,
                            const json::object& existing) {
  Attributes values = wanted.attributes;
  values[NamingAttribute(kind)] = wanted.name;
  json::array ops;
  for (const ScimAttribute& a : AttributesOf(kind)) {
    auto it = values.find(std::string(a.store));
    std::optional<std::string> have = Read(existing, a);
    if (it != values.end() && have != it->second) {
      json::object op = Operation("replace", PatchPath(a));
      op["value"] = ValueOf(a, it->second);
      ops.emplace_back(std::move(op));
    } else if (it == values.end() && have) {
      ops.emplace_back(Operation("remove", PatchPath(a)));
    }
  }
  if (TextOf(Field(existing, "externalId")) != wanted.external_id) {
    json::object op = Operation("replace", "externalId");
    op["value"] = wanted.external_id;
    ops.emplace_back(std::move(op));
  }
  return ops;
}

std::optional<std::string> TextOf(const json::value* value) {
  if (value == nullptr) return std::nullopt;
  if (const json::string* s = value->if_string()) return std::string(*s);
  if (value->is_bool()) return value->as_bool() ? "true" : "false";
  if (value->is_int64()) return std::to_string(value->as_int64());
  if (value->is_uint64()) return std::to_string(value->as_uint64());
  return std::nullopt;
}

bool LooksLikeGuid(std::string_view id) {
  constexpr size_t kLength = 36;
  if (id.size() != kLength) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? id[i] != '-' : std::isxdigit(static_cast<unsigned char>(id[i])) == 0) return false;
  }
  return true;
}

}  // namespace syncd::scim
