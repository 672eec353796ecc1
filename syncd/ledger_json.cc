#include "syncd/ledger_json.h"

#include <boost/json.hpp>

#include <functional>
#include <optional>
#include <utility>

#include "core/strings.h"
#include "ldap/codec.h"

namespace syncd {
namespace {

namespace json = boost::json;

// mS-DS-ConsistencyGuid is an octet string that holds a GUID in practice;
// anything else is kept as "0x" and hex.
std::string ConsistencyGuidText(const std::string& raw) {
  if (auto guid = ldap::GuidToString(raw)) return *guid;
  return "0x" + HexEncode(raw);
}

std::optional<std::string> ParseConsistencyGuid(std::string_view text) {
  if (text.starts_with("0x")) return HexDecode(text.substr(2));
  return ldap::GuidFromString(text);
}

// Reads the fields of one JSON object, naming `path` in every error.
class FieldReader {
 public:
  FieldReader(const json::object& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  // A string field; absent reads as "" unless required.
  Status String(std::string_view key, std::string* out, bool required = false) const {
    const json::value* v = obj_.if_contains(key);
    if (v == nullptr || v->is_null()) {
      return required ? Error(key, "is required") : Status::Ok();
    }
    const json::string* s = v->if_string();
    if (s == nullptr) return Error(key, "must be a string");
    *out = std::string(s->data(), s->size());
    if (required && out->empty()) return Error(key, "must not be empty");
    return Status::Ok();
  }

  // A string field, then `convert` (nullopt: not valid, said as `what`).
  Status Converted(std::string_view key, const char* what,
                   const std::function<std::optional<std::string>(std::string_view)>& convert,
                   std::string* out, bool required = false) const {
    std::string text;
    if (Status st = String(key, &text, required); !st.ok() || text.empty()) return st;
    auto value = convert(text);
    if (!value) return Error(key, "\"" + text + "\" is not " + what);
    *out = std::move(*value);
    return Status::Ok();
  }

  Status Time(std::string_view key, int64_t* out) const {
    std::string text;
    if (Status st = String(key, &text, /*required=*/true); !st.ok()) return st;
    auto seconds = ParseUtcTimestamp(text);
    if (!seconds)
      return Error(key,
                   "\"" + text + "\" is not a time like 2026-11-22T10:30:00Z (UTC, after 1970)");
    *out = *seconds;
    return Status::Ok();
  }

  Status Error(std::string_view key, const std::string& what) const {
    return Status::InvalidArgument(path_ + "." + std::string(key) + ": " + what);
  }

  const json::object& obj() const { return obj_; }
  const std::string& path() const { return path_; }

 private:
  const json::object& obj_;
  std::string path_;
};

Status ParsePrincipal(const json::value& value, const std::string& path, LedgerEntry* entry) {
  const json::object* obj = value.if_object();
  if (obj == nullptr) return Status::InvalidArgument(path + ": must be an object");
  FieldReader r(*obj, path);
  SyncObject& p = entry->principal;
  SourceDetails& details = p.source.Mutable();
  std::string kind, display;
  auto sid = [](std::string_view t) { return ldap::SidFromString(t); };
  for (Status st : {
           r.String("kind", &kind, /*required=*/true),
           r.Converted("objectGUID", "a GUID", ldap::GuidFromString, &p.guid, /*required=*/true),
           r.String("name", &p.name, /*required=*/true),
           r.String("dn", &details.dn),
           r.Converted("objectSid", "a SID", sid, &details.sid),
           r.Converted("mS-DS-ConsistencyGuid", "a GUID (or 0x and hex)", ParseConsistencyGuid,
                       &details.consistency_guid),
           r.String("userPrincipalName", &details.user_principal_name),
           r.String("sAMAccountName", &details.sam_account_name),
           r.String("mail", &details.mail),
           r.String("displayName", &display),
           r.Converted("domainSid", "a SID", sid, &entry->domain_sid),
           r.String("domainName", &entry->domain_name),
       }) {
    if (!st.ok()) return st;
  }
  auto parsed_kind = ParseKind(kind);
  if (!parsed_kind) return r.Error("kind", "must be \"user\" or \"group\", not \"" + kind + "\"");
  p.kind = *parsed_kind;
  p.external_id = *ldap::GuidToString(p.guid);
  if (!display.empty()) p.attributes["displayName"] = display;
  if (const json::value* history = obj->if_contains("sIDHistory")) {
    const json::array* values = history->if_array();
    if (values == nullptr) return r.Error("sIDHistory", "must be an array of SIDs");
    for (size_t i = 0; i < values->size(); ++i) {
      const json::string* s = (*values)[i].if_string();
      auto raw = s ? ldap::SidFromString(std::string_view(s->data(), s->size())) : std::nullopt;
      if (!raw) return r.Error("sIDHistory[" + std::to_string(i) + "]", "is not a SID");
      details.sid_history.push_back(std::move(*raw));
    }
  }
  return Status::Ok();
}

Status ParseEntry(const json::value& value, const std::string& path, LedgerEntry* entry) {
  const json::object* obj = value.if_object();
  if (obj == nullptr) return Status::InvalidArgument(path + ": must be an object");
  FieldReader r(*obj, path);
  std::string status;
  for (Status st :
       {r.String("target", &entry->target, /*required=*/true),
        r.String("status", &status, /*required=*/true), r.Time("createdAt", &entry->created_at),
        r.Time("changedAt", &entry->changed_at), r.String("reason", &entry->reason)}) {
    if (!st.ok()) return st;
  }
  auto parsed = ParseLedgerStatus(status);
  if (!parsed) {
    return r.Error("status",
                   "must be \"active\", \"orphaned\" or \"removed\", not \"" + status + "\"");
  }
  entry->status = *parsed;
  const json::value* principal = obj->if_contains("principal");
  if (principal == nullptr) return r.Error("principal", "is required");
  return ParsePrincipal(*principal, path + ".principal", entry);
}

}  // namespace

json::object PrincipalJson(const SyncObject& p, const std::string& domain_sid,
                           const std::string& domain_name) {
  json::object out{{"kind", KindName(p.kind)}, {"name", p.name}};
  auto put = [&out](const char* key, const std::string& value) {
    if (!value.empty()) out[key] = value;
  };
  put("objectGUID", ldap::GuidToString(p.guid).value_or(p.external_id));
  put("dn", p.source->dn);
  put("objectSid", ldap::SidToString(p.source->sid).value_or(""));
  if (!p.source->sid_history.empty()) {
    json::array history;
    for (const auto& sid : p.source->sid_history)
      history.emplace_back(ldap::SidToString(sid).value_or(""));
    out["sIDHistory"] = std::move(history);
  }
  if (!p.source->consistency_guid.empty())
    put("mS-DS-ConsistencyGuid", ConsistencyGuidText(p.source->consistency_guid));
  put("userPrincipalName", p.source->user_principal_name);
  put("sAMAccountName", p.source->sam_account_name);
  put("mail", p.source->mail);
  if (auto display = p.attributes.find("displayName"); display != p.attributes.end()) {
    put("displayName", display->second);
  }
  put("domainSid", ldap::SidToString(domain_sid).value_or(""));
  put("domainName", domain_name);
  return out;
}

json::object LedgerEntryJson(const LedgerEntry& e) {
  return {
      {"id", e.id},
      {"target", e.target},
      {"status", LedgerStatusName(e.status)},
      {"createdAt", UtcTimestamp(e.created_at)},
      {"changedAt", UtcTimestamp(e.changed_at)},
      {"reason", e.reason},
      {"principal", PrincipalJson(e.principal, e.domain_sid, e.domain_name)},
  };
}

std::string LedgerFileJson(const std::vector<LedgerEntry>& entries, int64_t now) {
  json::array list;
  for (const auto& e : entries) list.emplace_back(LedgerEntryJson(e));
  json::object file{{"format", kLedgerFileFormat},
                    {"version", kLedgerFileVersion},
                    {"exportedAt", UtcTimestamp(now)},
                    {"assignments", std::move(list)}};
  return json::serialize(file) + "\n";
}

Result<std::vector<LedgerEntry>> ParseLedgerFile(std::string_view text) {
  json::error_code ec;
  json::value root = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return Status::InvalidArgument("not JSON: " + ec.message());
  const json::object* obj = root.if_object();
  if (obj == nullptr) return Status::InvalidArgument("the top level must be an object");
  FieldReader r(*obj, "(file)");
  std::string format;
  if (Status st = r.String("format", &format, /*required=*/true); !st.ok()) return st;
  if (format != kLedgerFileFormat) {
    return r.Error("format", "is \"" + format + "\", not \"" + kLedgerFileFormat + "\"");
  }
  const json::value* version = obj->if_contains("version");
  if (version == nullptr || !version->is_int64()) {
    return r.Error("version", "must be an integer");
  }
  if (version->as_int64() != kLedgerFileVersion) {
    return r.Error("version", "is " + std::to_string(version->as_int64()) +
                                  "; this syncd reads version " +
                                  std::to_string(kLedgerFileVersion));
  }
  const json::value* list = obj->if_contains("assignments");
  if (list == nullptr || !list->is_array()) return r.Error("assignments", "must be an array");
  std::vector<LedgerEntry> entries;
  for (size_t i = 0; i < list->as_array().size(); ++i) {
    LedgerEntry entry;
    Status st = ParseEntry(list->as_array()[i], "assignments[" + std::to_string(i) + "]", &entry);
    if (!st.ok()) return st;
    entries.push_back(std::move(entry));
  }
  return entries;
}

}  // namespace syncd
