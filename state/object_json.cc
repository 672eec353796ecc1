#include <functional>
#include <optional>
#include <string_view>
#include <utility>

#include "core/strings.h"
#include "state/internal.h"

namespace syncd::state_internal {
namespace {

namespace json = boost::json;

std::string_view View(const json::string& s) { return {s.data(), s.size()}; }

// ParseJson, then requires an object; `not_object` is the error otherwise.
Result<json::object> ParseJsonObject(std::string_view text, const char* not_object) {
  auto value = ParseJson(text);
  if (!value.ok()) {
    return value.status();
  }
  json::object* obj = value->if_object();
  if (obj == nullptr) {
    return Status::DataLoss(not_object);
  }
  return std::move(*obj);
}

// Reads obj[key] as a string into *out; absent leaves *out unchanged.
Status GetString(const json::object& obj, std::string_view key, std::string* out) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr) {
    return Status::Ok();
  }
  const json::string* s = v->if_string();
  if (s == nullptr) {
    return Status::DataLoss("field " + std::string(key) + " is not a string");
  }
  *out = std::string(View(*s));
  return Status::Ok();
}

Status GetHex(const json::object& obj, std::string_view key, std::string* out) {
  std::string hex;
  Status st = GetString(obj, key, &hex);
  if (!st.ok()) {
    return st;
  }
  auto bytes = HexDecode(hex);
  if (!bytes) {
    return Status::DataLoss("field " + std::string(key) + " is not hex");
  }
  *out = std::move(*bytes);
  return Status::Ok();
}

// Calls on_entry for each element of the array obj[key], in order, and stops
// at and returns the first error; an absent key reads as an empty array.
Status ForEachEntry(const json::object& obj, std::string_view key,
                    const std::function<Status(const json::value&)>& on_entry) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr) {
    return Status::Ok();
  }
  const json::array* arr = v->if_array();
  if (arr == nullptr) {
    return Status::DataLoss(std::string(key) + " is not an array");
  }
  for (const auto& entry : *arr) {
    Status st = on_entry(entry);
    if (!st.ok()) {
      return st;
    }
  }
  return Status::Ok();
}

// Stored JSON, written directly: the journal of a full sync holds an
// operation per object and edge, and building a json::object for each
// cost as much as writing it. Empty fields are left out (they read back
// empty), so a membership's two identities stay small.
class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(*out) {}

  JsonWriter& Open() {
    out_ += '{';
    first_ = true;
    return *this;
  }
  JsonWriter& Close() {
    out_ += '}';
    first_ = false;
    return *this;
  }
  // "key": with its comma; the value follows.
  JsonWriter& Key(std::string_view key) {
    if (!first_) out_ += ',';
    first_ = false;
    String(key);
    out_ += ':';
    return *this;
  }
  JsonWriter& Field(std::string_view key, std::string_view value) {
    Key(key);
    String(value);
    return *this;
  }
  JsonWriter& FieldIfAny(std::string_view key, std::string_view value) {
    return value.empty() ? *this : Field(key, value);
  }
  JsonWriter& HexIfAny(std::string_view key, std::string_view bytes) {
    return bytes.empty() ? *this : Field(key, HexEncode(bytes));
  }

  // ParseJson accepts back the bytes AppendJsonString passes through.
  void String(std::string_view text) { AppendJsonString(&out_, text); }

  void Attributes(const syncd::Attributes& attributes) {
    Open();
    for (const auto& [name, value] : attributes) Field(name, value);
    Close();
  }

  void Object(const SyncObject& o) {
    Open();
    Field("guid", HexEncode(o.guid)).Field("kind", KindName(o.kind));
    FieldIfAny("external_id", o.external_id)
        .FieldIfAny("name", o.name)
        .FieldIfAny("dn", o.source->dn);
    if (!o.attributes.empty()) {
      Key("attributes");
      Attributes(o.attributes);
    }
    HexIfAny("sid", o.source->sid);
    if (!o.source->sid_history.empty()) {
      Key("sid_history");
      out_ += '[';
      for (size_t i = 0; i < o.source->sid_history.size(); ++i) {
        if (i > 0) out_ += ',';
        String(HexEncode(o.source->sid_history[i]));
      }
      out_ += ']';
    }
    FieldIfAny("sam_account_name", o.source->sam_account_name)
        .FieldIfAny("user_principal_name", o.source->user_principal_name)
        .FieldIfAny("mail", o.source->mail)
        .HexIfAny("consistency_guid", o.source->consistency_guid);
    Close();
  }

 private:
  std::string& out_;
  bool first_ = true;
};

Status ObjectFromJson(const json::value& value, SyncObject* o) {
  const json::object* obj = value.if_object();
  if (obj == nullptr) {
    return Status::DataLoss("object is not a JSON object");
  }
  std::string kind;
  SourceDetails& details = o->source.Mutable();
  for (Status st :
       {GetHex(*obj, "guid", &o->guid), GetString(*obj, "kind", &kind),
        GetString(*obj, "external_id", &o->external_id), GetString(*obj, "name", &o->name),
        GetString(*obj, "dn", &details.dn), GetHex(*obj, "sid", &details.sid),
        GetString(*obj, "sam_account_name", &details.sam_account_name),
        GetString(*obj, "user_principal_name", &details.user_principal_name),
        GetString(*obj, "mail", &details.mail),
        GetHex(*obj, "consistency_guid", &details.consistency_guid)}) {
    if (!st.ok()) {
      return st;
    }
  }
  auto parsed_kind = ParseKind(kind);
  if (!parsed_kind) {
    return Status::DataLoss("unknown object kind '" + kind + "'");
  }
  o->kind = *parsed_kind;
  if (const json::value* attrs = obj->if_contains("attributes")) {
    Status st = AttributesFromJson(*attrs, &o->attributes);
    if (!st.ok()) {
      return st;
    }
  }
  return ForEachEntry(*obj, "sid_history", [&](const json::value& entry) {
    const json::string* s = entry.if_string();
    auto bytes = s ? HexDecode(View(*s)) : std::nullopt;
    if (!bytes) {
      return Status::DataLoss("sid_history entry is not a hex string");
    }
    details.sid_history.push_back(std::move(*bytes));
    return Status::Ok();
  });
}

}  // namespace

// Values syncd writes are ordinary strings, but attribute values come from a
// directory and are not guaranteed UTF-8: serialize passes bytes through, so
// the parser must accept them back.
Result<json::value> ParseJson(std::string_view text) {
  json::parse_options options;
  options.allow_invalid_utf8 = true;
  json::error_code ec;
  json::value value = json::parse(json::string_view(text.data(), text.size()), ec, {}, options);
  if (ec) {
    return Status::DataLoss("invalid JSON: " + ec.message());
  }
  return value;
}

std::string AttributesToJson(const Attributes& attributes) {
  std::string out;
  JsonWriter(&out).Attributes(attributes);
  return out;
}

Status AttributesFromJson(const json::value& value, Attributes* out) {
  const json::object* obj = value.if_object();
  if (obj == nullptr) {
    return Status::DataLoss("attributes are not a JSON object");
  }
  for (const auto& [name, v] : *obj) {
    const json::string* s = v.if_string();
    if (s == nullptr) {
      return Status::DataLoss("attribute " + std::string(name) + " is not a string");
    }
    (*out)[std::string(name)] = std::string(View(*s));
  }
  return Status::Ok();
}

std::string OperationToJson(const Operation& op) {
  std::string out;
  JsonWriter json(&out);
  json.Open().Field("op", OpName(op.op)).Field("kind", KindName(op.kind)).Key("object");
  // A membership needs only its two ends' identities.
  const bool membership = IsMembership(op);
  if (membership) {
    json.Object(IdentityOf(*op.object));
  } else {
    json.Object(*op.object);
  }
  if (!op.changes->empty()) {
    json.Key("changes");
    out += '[';
    for (size_t i = 0; i < op.changes->size(); ++i) {
      const AttributeChange& change = (*op.changes)[i];
      if (i > 0) out += ',';
      json.Open().Field("attribute", change.attribute);
      // Absent keys encode nullopt, so "" and "absent" stay distinct.
      if (change.old_value) json.Field("old", *change.old_value);
      if (change.new_value) json.Field("new", *change.new_value);
      json.Close();
    }
    out += ']';
  }
  if (membership) {
    json.Key("member");
    json.Object(IdentityOf(*op.member));
  }
  json.Close();
  return out;
}

Result<Operation> OperationFromJson(std::string_view text) {
  auto obj = ParseJsonObject(text, "operation is not a JSON object");
  if (!obj.ok()) {
    return obj.status();
  }
  Operation op;
  std::string op_name;
  std::string kind;
  Status st = GetString(*obj, "op", &op_name);
  if (st.ok()) {
    st = GetString(*obj, "kind", &kind);
  }
  if (!st.ok()) {
    return st;
  }
  auto type = ParseOp(op_name);
  if (!type) {
    return Status::DataLoss("unknown operation '" + op_name + "'");
  }
  op.op = *type;
  auto parsed_kind = ParseKind(kind);
  if (!parsed_kind) {
    return Status::DataLoss("unknown object kind '" + kind + "'");
  }
  op.kind = *parsed_kind;
  const json::value* object = obj->if_contains("object");
  if (object == nullptr) {
    return Status::DataLoss("operation has no object");
  }
  SyncObject image;
  st = ObjectFromJson(*object, &image);
  if (!st.ok()) {
    return st.WithContext("object");
  }
  op.object = MakeObjectRef(std::move(image));
  st = ForEachEntry(*obj, "changes", [&](const json::value& entry) {
    const json::object* c = entry.if_object();
    if (c == nullptr) {
      return Status::DataLoss("change is not a JSON object");
    }
    AttributeChange change;
    Status change_st = GetString(*c, "attribute", &change.attribute);
    for (auto [key, field] : {std::pair{"old", &change.old_value}, {"new", &change.new_value}}) {
      if (!change_st.ok()) {
        break;
      }
      if (c->contains(key)) {
        change_st = GetString(*c, key, &field->emplace());
      }
    }
    if (!change_st.ok()) {
      return change_st.WithContext("change");
    }
    op.changes.Mutable().push_back(std::move(change));
    return Status::Ok();
  });
  if (!st.ok()) {
    return st;
  }
  if (const json::value* member = obj->if_contains("member")) {
    SyncObject identity;
    st = ObjectFromJson(*member, &identity);
    if (!st.ok()) {
      return st.WithContext("member");
    }
    op.member = MakeObjectRef(std::move(identity));
  }
  return op;
}

std::string CountsToJson(const std::map<std::string, int64_t>& counts) {
  json::object out;
  for (const auto& [name, n] : counts) {
    out[name] = n;
  }
  return json::serialize(out);
}

Result<std::map<std::string, int64_t>> CountsFromJson(std::string_view text) {
  std::map<std::string, int64_t> counts;
  if (text.empty()) {
    return counts;
  }
  auto obj = ParseJsonObject(text, "counts are not a JSON object");
  if (!obj.ok()) {
    return obj.status();
  }
  for (const auto& [name, v] : *obj) {
    json::error_code ec;
    auto n = v.to_number<int64_t>(ec);
    if (ec) {
      return Status::DataLoss("count " + std::string(name) + " is not an integer");
    }
    counts[std::string(name)] = n;
  }
  return counts;
}

}  // namespace syncd::state_internal
