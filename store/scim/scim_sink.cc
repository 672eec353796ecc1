#include "store/scim/scim_sink.h"

#include <sys/stat.h>

#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <unordered_set>
#include <utility>

#include "core/input_file.h"
#include "core/strings.h"
#include "http/client.h"
#include "http/url.h"
#include "store/scim/scim_mapping.h"

namespace syncd {
namespace {

namespace json = boost::json;
using boost::asio::awaitable;

enum class Profile { kGeneric, kAws };
enum class AdoptPolicy { kExternalId, kUserName, kNone };

// Page size asked for: AWS's maximum (identity-store.md §2.3); generic
// servers cap it themselves.
constexpr int kPageSize = 100;
// IAM Identity Center's legacy page size, whatever count asks for.
constexpr size_t kAwsPageCap = 50;
// AWS: at most 100 membership changes per PATCH (§2.2, §10).
constexpr size_t kMembersPerRequest = 100;
// AWS reserves these names for users and groups (§2.4).
constexpr std::array<std::string_view, 2> kAwsReservedNames = {"Administrator",
                                                               "AWSAdministrators"};

// attr eq "value", with " and \ escaped (RFC 7644 §3.4.2.2).
std::string EqFilter(std::string_view attribute, std::string_view value) {
  std::string quoted;
  for (char c : value) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return std::string(attribute) + " eq \"" + quoted + "\"";
}

const char* Endpoint(ObjectKind kind) { return kind == ObjectKind::kUser ? "/Users" : "/Groups"; }
const char* NamingAttribute(ObjectKind kind) {
  return kind == ObjectKind::kUser ? "userName" : "displayName";
}

std::string DescribeObject(ObjectKind kind, const SyncObject& o) {
  return std::string(KindName(kind)) + " " + o.name + " (externalId " + o.external_id + ")";
}

std::string Field(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() ? "" : scim::TextOf(&it->value()).value_or("");
}

Status StatusOf(const OpOutcome& outcome) {
  switch (outcome.kind) {
    case OpOutcome::Kind::kApplied:
      return Status::Ok();
    case OpOutcome::Kind::kRetry:
      return Status::Unavailable(outcome.reason);
    case OpOutcome::Kind::kFatal:
      return Status::PermissionDenied(outcome.reason);
    case OpOutcome::Kind::kRefused:
      return Status::DataLoss(outcome.reason);
  }
  return Status::Internal(outcome.reason);
}

// The target's id of one of syncd's objects ("" when absent), or why there
// is none.
struct Resolved {
  std::string ref;
  std::optional<OpOutcome> failure;
};

// A lookup's answer: the resources found, or why there is no answer.
struct Found {
  std::optional<OpOutcome> failure;
  std::vector<json::object> resources;
};

}  // namespace

Status CheckScimUrl(std::string_view url) {
  if (Status st = http::CheckServiceUrl(url, "https://scim.us-east-1.amazonaws.com/TENANT/scim/v2");
      !st.ok()) {
    return st;
  }
  auto parsed = boost::urls::parse_uri(url);
  if (parsed->has_query() || parsed->has_fragment()) {
    return Status::InvalidArgument(
        "must be the SCIM base URL alone, without user, query or fragment");
  }
  return Status::Ok();
}

Status CheckScimConfig(const StoreConfig& config) {
  if (config.url.empty())
    return Status::InvalidArgument("store.url is required with kind = \"scim\"");
  if (Status st = CheckScimUrl(config.url); !st.ok()) {
    return Status::InvalidArgument("store.url " + st.message());
  }
  if (config.token_file.empty()) {
    return Status::InvalidArgument("store.token_file is required with kind = \"scim\"");
  }
  if (config.profile != "aws" && config.profile != "generic") {
    return Status::InvalidArgument("store.profile must be \"aws\" or \"generic\", not \"" +
                                   config.profile + "\"");
  }
  if (config.adopt != "externalId" && config.adopt != "userName" && config.adopt != "none") {
    return Status::InvalidArgument(
        "store.adopt must be \"externalId\", \"userName\" or \"none\", not \"" + config.adopt +
        "\"");
  }
  if (!config.nested_groups.empty() && config.nested_groups != "flatten" &&
      config.nested_groups != "direct") {
    return Status::InvalidArgument("store.nested_groups must be \"flatten\" or \"direct\", not \"" +
                                   config.nested_groups + "\"");
  }
  if (config.profile == "aws" && config.nested_groups == "direct") {
    return Status::InvalidArgument(
        "store.nested_groups = \"direct\" is not possible with profile \"aws\": IAM Identity "
        "Center has no nested groups; use \"flatten\"");
  }
  if (config.max_in_flight < 0 || config.rate_limit < 0) {
    return Status::InvalidArgument("store.max_in_flight and store.rate_limit must not be negative");
  }
  return Status::Ok();
}

Result<std::string> ScimSink::IdOf(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return Status::InvalidArgument("store.url " + url + " is not a URL");
  const std::string scheme = AsciiLower(parsed->scheme());
  std::string out = scheme + "://" + AsciiLower(parsed->host());
  const std::string port(parsed->port());
  if (!port.empty() && !(scheme == "https" && port == "443") &&
      !(scheme == "http" && port == "80")) {
    out += ":" + port;
  }
  std::string path(parsed->encoded_path());
  while (!path.empty() && path.back() == '/') path.pop_back();
  return "scim:" + out + path;
}

struct ScimSink::Impl {
  StoreConfig config;
  Profile profile = Profile::kGeneric;
  AdoptPolicy adopt = AdoptPolicy::kExternalId;
  std::string base;  // the normalised base URL, no trailing slash
  std::string store_id;
  std::string token;
  std::unique_ptr<http::Client> client;
  SinkCapabilities caps;
  // Ids of the objects this sink created. The engine opens a sink per run,
  // so these are this run's creates: they carry syncd's externalId without
  // a GET to check it (a first sync pays one request per write).
  std::unordered_set<std::string> made_this_run;

  bool aws() const { return profile == Profile::kAws; }

  std::string Target() const { return "SCIM target " + base + (aws() ? " (profile aws)" : ""); }

  // `text` with the token cut out: server answers are quoted in reasons,
  // and a server could echo what it was sent.
  std::string Clean(std::string text) const {
    if (token.empty()) return text;
    for (size_t at = text.find(token); at != std::string::npos; at = text.find(token, at)) {
      text.replace(at, token.size(), "<token>");
    }
    return text;
  }

  Status ReadToken() {
    const std::string& path = config.token_file;
    auto text =
        ReadInputFile(path, "store.token_file", "a file whose first line is the SCIM token");
    if (!text.ok()) return text.status();
    struct stat info {};
    if (stat(path.c_str(), &info) == 0 && (info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      return Status::InvalidArgument("store.token_file: " + path +
                                     " is readable by other users; make it mode 0600 (chmod 600 " +
                                     path + ")");
    }
    std::string line = text->substr(0, text->find('\n'));
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) {
      return Status::InvalidArgument("store.token_file: " + path +
                                     " holds no token on its first line");
    }
    token = std::move(line);
    return Status::Ok();
  }

  awaitable<Result<http::Response>> Send(std::string method, const std::string& target,
                                         std::string body = {}) {
    http::Request request;
    request.method = std::move(method);
    request.url = base + target;
    request.headers = {{"Authorization", "Bearer " + token},
                       {"Accept", "application/scim+json, application/json"}};
    if (!body.empty()) request.headers.push_back({"Content-Type", "application/scim+json"});
    request.body = std::move(body);
    co_return co_await client->Send(std::move(request));
  }

  // The server's explanation: the SCIM Error's detail (RFC 7644 §3.12; AWS
  // adds keys but keeps detail), else the start of the body.
  std::string Detail(const http::Response& response) const {
    constexpr size_t kMaxQuoted = 300;
    std::string detail;
    boost::system::error_code ec;
    json::value body = json::parse(response.body, ec);
    if (!ec && body.is_object()) detail = Field(body.as_object(), "detail");
    if (detail.empty()) detail = response.body.substr(0, kMaxQuoted);
    return Clean(detail);
  }

  // What a failed request means for the operation; nullopt on 2xx.
  std::optional<OpOutcome> Failure(const Result<http::Response>& answer,
                                   const std::string& what) const {
    if (!answer.ok()) {
      const Status& st = answer.status();
      const std::string message = what + ": " + Clean(st.message());
      switch (st.code()) {
        case Status::Code::kUnavailable:
          return OpOutcome::Retry(message);
        case Status::Code::kPermissionDenied:
          return OpOutcome::Fatal(message +
                                  (config.tls_ca_file.empty()
                                       ? "; set store.tls_ca_file to the CA that "
                                         "signed the server's certificate"
                                       : "; check store.tls_ca_file " + config.tls_ca_file));
        default:
          return OpOutcome::Fatal(message);
      }
    }
    const long status = answer->status;
    if (status >= 200 && status < 300) return std::nullopt;
    const std::string code = "HTTP " + std::to_string(status);
    if (status == 401 || status == 403) {
      return OpOutcome::Fatal("the SCIM token was refused (" + code + ") by " + base +
                              "; check store.token_file " + config.token_file +
                              " (an expired or deleted token? tokens last a year)");
    }
    if (status == 429) {
      return OpOutcome::Retry(what + ": throttled (" + code + ")", answer->RetryAfter());
    }
    if (status >= 500 || status == 408) {
      return OpOutcome::Retry(what + ": " + code + ": " + Detail(*answer), answer->RetryAfter());
    }
    return OpOutcome::Refused(what + ": " + code + ": " + Detail(*answer));
  }

  Result<json::object> ParseObject(const http::Response& response, const std::string& what) const {
    boost::system::error_code ec;
    json::value body = json::parse(response.body, ec);
    if (ec || !body.is_object()) {
      return Status::DataLoss(what + ": the answer (HTTP " + std::to_string(response.status) +
                              ") is not a JSON object");
    }
    return std::move(body.as_object());
  }

  // The resources of one list answer.
  static std::vector<json::object> Resources(const json::object& list) {
    std::vector<json::object> out;
    auto it = list.find("Resources");
    if (it == list.end() || !it->value().is_array()) return out;
    for (const auto& r : it->value().as_array()) {
      if (r.is_object()) out.push_back(r.as_object());
    }
    return out;
  }

  // totalResults of one list answer; nullopt when absent or not a count
  // (a server's word, never trusted to parse).
  static std::optional<size_t> TotalResults(const json::object& list) {
    auto it = list.find("totalResults");
    if (it == list.end()) return std::nullopt;
    if (it->value().is_int64() && it->value().as_int64() >= 0) {
      return static_cast<size_t>(it->value().as_int64());
    }
    if (it->value().is_uint64()) return static_cast<size_t>(it->value().as_uint64());
    return std::nullopt;
  }

  // GET `endpoint`?filter=... (one page: the lookups find a handful).
  awaitable<Found> Find(ObjectKind kind, std::string_view attribute, std::string_view value) {
    const std::string what = "looking up " + std::string(KindName(kind)) + " " +
                             std::string(attribute) + " " + std::string(value);
    auto answer = co_await Send("GET", std::string(Endpoint(kind)) + "?filter=" +
                                           http::PercentEncode(EqFilter(attribute, value)));
    Found found;
    if (auto failure = Failure(answer, what)) {
      // AWS answers 404 when a filter names a member that does not exist (§2.5).
      if (answer.ok() && answer->status == 404) co_return found;
      found.failure = std::move(failure);
      co_return found;
    }
    auto list = ParseObject(*answer, what);
    if (!list.ok()) {
      found.failure = OpOutcome::Retry(list.status().message());
      co_return found;
    }
    found.resources = Resources(*list);
    co_return found;
  }

  // Every resource of `endpoint` (with `filter`, when set), following
  // nextCursor (RFC 9865, AWS), else startIndex. A server that caps the list
  // and honours neither is a DataLoss: a partial read must not look whole.
  awaitable<Result<std::vector<json::object>>> ListAll(const std::string& endpoint,
                                                       const std::string& filter) {
    const std::string prefix =
        endpoint + "?" + (filter.empty() ? "" : "filter=" + http::PercentEncode(filter) + "&");
    const std::string count = "count=" + std::to_string(kPageSize);
    std::string page = aws() ? count + "&cursor=" : "startIndex=1&" + count;
    std::vector<json::object> all;
    std::set<std::string> seen;
    const std::string what = "listing " + endpoint + (filter.empty() ? "" : " " + filter);
    for (;;) {
      auto answer = co_await Send("GET", prefix + page);
      if (auto failure = Failure(answer, what)) co_return StatusOf(*failure);
      auto list = ParseObject(*answer, what);
      if (!list.ok()) co_return list.status();
      size_t fresh = 0;
      std::vector<json::object> items = Resources(*list);
      for (auto& item : items) {
        if (seen.insert(Field(item, "id")).second) {
          ++fresh;
          all.push_back(std::move(item));
        }
      }
      const std::optional<size_t> total = TotalResults(*list);
      const std::string cursor = Field(*list, "nextCursor");
      if (!items.empty() && fresh == 0) {
        co_return Status::DataLoss(
            Target() + " " + what + ": listed only the first " + std::to_string(all.size()) +
            (total ? " of " + std::to_string(*total) : "") +
            " and honours neither cursor nor startIndex paging; the list is incomplete");
      }
      if (!cursor.empty()) {
        page = count + "&cursor=" + http::PercentEncode(cursor);
        continue;
      }
      if (items.empty() || (total && all.size() >= *total)) break;
      page = "startIndex=" + std::to_string(all.size() + 1) + "&" + count;
    }
    co_return all;
  }

  // Refused before any request when the object cannot be written here.
  std::optional<OpOutcome> CheckObject(ObjectKind kind, const SyncObject& o) const {
    if (o.external_id.empty())
      return OpOutcome::Refused(DescribeObject(kind, o) + " has no externalId");
    if (o.name.empty()) {
      return OpOutcome::Refused(DescribeObject(kind, o) + " has no " + NamingAttribute(kind));
    }
    if (!aws()) return std::nullopt;
    for (std::string_view reserved : kAwsReservedNames) {
      if (AsciiLower(o.name) == AsciiLower(reserved)) {
        return OpOutcome::Refused(std::string(KindName(kind)) + " " + o.name +
                                  ": the name is reserved by IAM Identity Center");
      }
    }
    if (kind == ObjectKind::kUser) {
      for (const char* required : {"displayName", "givenName", "familyName"}) {
        auto it = o.attributes.find(required);
        if (it == o.attributes.end() || it->second.empty()) {
          return OpOutcome::Refused("user " + o.name + " lacks " + required +
                                    ", which IAM Identity Center requires");
        }
      }
    }
    return std::nullopt;
  }

  awaitable<OpOutcome> Patch(ObjectKind kind, const std::string& ref, json::array operations,
                             const std::string& what) {
    json::object body{{"schemas", json::array{scim::kPatchOpSchema}},
                      {"Operations", std::move(operations)}};
    auto answer =
        co_await Send("PATCH", std::string(Endpoint(kind)) + "/" + http::PercentEncode(ref),
                      json::serialize(body));
    if (answer.ok() && answer->status == 404 && made_this_run.erase(ref) > 0) {
      // Made in this run, deleted since: the next try looks it up again.
      co_return OpOutcome::Retry(what + ": the target lost it (HTTP 404) since syncd created it");
    }
    if (auto failure = Failure(answer, what)) {
      if (answer.ok() && answer->status == 409) {
        co_return OpOutcome::Refused("conflict: " + what + ": " + Detail(*answer));
      }
      co_return *failure;
    }
    co_return OpOutcome::Applied(ref);
  }

  std::string Foreign(ObjectKind kind, const json::object& resource) const {
    const std::string ext = Field(resource, "externalId");
    return "conflict: a " + std::string(KindName(kind)) + " named " +
           Field(resource, NamingAttribute(kind)) +
           " already exists in the target and is not syncd's (" +
           (ext.empty() ? "no externalId" : "externalId " + ext) + ", id " + Field(resource, "id") +
           "); syncd will not change it";
  }

  awaitable<OpOutcome> Create(const SinkOp& sop) {
    const Operation& op = *sop.op;
    if (auto refusal = CheckObject(op.kind, *op.object)) co_return *refusal;
    const std::string what = "creating " + DescribeObject(op.kind, *op.object);
    auto answer = co_await Send("POST", Endpoint(op.kind),
                                json::serialize(scim::ToResource(op.kind, *op.object)));
    if (answer.ok() && answer->status == 409) co_return co_await Adopt(sop, Detail(*answer));
    if (auto failure = Failure(answer, what)) co_return *failure;
    auto created = ParseObject(*answer, what);
    if (!created.ok() || Field(*created, "id").empty()) {
      // Created, but which id? The next attempt meets 409 and adopts it.
      co_return OpOutcome::Retry(what + ": the answer carries no id");
    }
    made_this_run.insert(Field(*created, "id"));
    co_return OpOutcome::Applied(Field(*created, "id"));
  }

  // A create met 409: take the existing object over when [store] adopt
  // allows, else refuse. Taking over patches it to the wanted image.
  awaitable<OpOutcome> Adopt(const SinkOp& sop, const std::string& detail) {
    const Operation& op = *sop.op;
    Found mine = co_await Find(op.kind, "externalId", op.object->external_id);
    if (mine.failure) co_return *mine.failure;
    for (const json::object& existing : mine.resources) {
      if (Field(existing, "externalId") != op.object->external_id) continue;
      if (adopt == AdoptPolicy::kNone && Field(existing, "id") != sop.object_ref) {
        co_return OpOutcome::Refused(
            "conflict: the target already holds a " + std::string(KindName(op.kind)) +
            " with externalId " + op.object->external_id + " (id " + Field(existing, "id") +
            ") that syncd has no record of creating, and store.adopt = \"none\"");
      }
      co_return co_await TakeOver(op, existing);
    }
    Found named = co_await Find(op.kind, NamingAttribute(op.kind), op.object->name);
    if (named.failure) co_return *named.failure;
    for (const json::object& existing : named.resources) {
      const std::string ext = Field(existing, "externalId");
      if (adopt == AdoptPolicy::kUserName && (ext.empty() || ext == op.object->external_id)) {
        co_return co_await TakeOver(op, existing);
      }
      co_return OpOutcome::Refused(Foreign(op.kind, existing));
    }
    co_return OpOutcome::Refused("conflict: the target refused to create " +
                                 DescribeObject(op.kind, *op.object) + " as a duplicate (" +
                                 detail + ") and holds no " + KindName(op.kind) +
                                 " with its externalId or name (another unique value, such as "
                                 "the email, is taken?)");
  }

  awaitable<OpOutcome> TakeOver(const Operation& op, const json::object& existing) {
    const std::string ref = Field(existing, "id");
    json::array ops = scim::AdoptOperations(op.kind, *op.object, existing);
    if (ops.empty()) co_return OpOutcome::Applied(ref);
    co_return co_await Patch(
        op.kind, ref, std::move(ops),
        "adopting " + DescribeObject(op.kind, *op.object) + " (id " + ref + ")");
  }

  // The target's id of syncd's object: `ref` if this sink created it or the
  // object there still carries our externalId, else found by externalId; ""
  // when absent.
  // A ref whose object now carries another externalId is a refusal.
  awaitable<Resolved> Resolve(ObjectKind kind, const SyncObject& o, const std::string& ref) {
    if (made_this_run.contains(ref)) co_return Resolved{ref, std::nullopt};
    if (!ref.empty()) {
      const std::string what = "reading " + DescribeObject(kind, o) + " (id " + ref + ")";
      auto answer =
          co_await Send("GET", std::string(Endpoint(kind)) + "/" + http::PercentEncode(ref));
      if (answer.ok() && answer->status == 404) {
        // Gone, or the ref is stale: ask by externalId below.
      } else if (auto failure = Failure(answer, what)) {
        co_return Resolved{{}, failure};
      } else {
        auto resource = ParseObject(*answer, what);
        if (!resource.ok()) co_return Resolved{{}, OpOutcome::Retry(resource.status().message())};
        const std::string ext = Field(*resource, "externalId");
        if (ext != o.external_id) {
          co_return Resolved{{},
                             OpOutcome::Refused(Foreign(kind, *resource) + " (syncd knew it as " +
                                                DescribeObject(kind, o) + ")")};
        }
        co_return Resolved{ref, std::nullopt};
      }
    }
    Found found = co_await Find(kind, "externalId", o.external_id);
    if (found.failure) co_return Resolved{{}, found.failure};
    for (const json::object& r : found.resources) {
      if (Field(r, "externalId") == o.external_id) {
        co_return Resolved{Field(r, "id"), std::nullopt};
      }
    }
    co_return Resolved{};
  }

  awaitable<OpOutcome> Update(const SinkOp& sop) {
    const Operation& op = *sop.op;
    if (auto refusal = CheckObject(op.kind, *op.object)) co_return *refusal;
    Resolved target = co_await Resolve(op.kind, *op.object, sop.object_ref);
    if (target.failure) co_return *target.failure;
    const std::string& ref = target.ref;
    // Deleted behind syncd's back: the update carries the whole image.
    if (ref.empty()) co_return co_await Create(sop);
    json::array ops = scim::ChangeOperations(op.kind, *op.changes);
    if (ops.empty()) co_return OpOutcome::Applied(ref);
    co_return co_await Patch(op.kind, ref, std::move(ops),
                             "updating " + DescribeObject(op.kind, *op.object));
  }

  awaitable<OpOutcome> Delete(const SinkOp& sop) {
    const Operation& op = *sop.op;
    Resolved target = co_await Resolve(op.kind, *op.object, sop.object_ref);
    if (target.failure) co_return *target.failure;
    const std::string& ref = target.ref;
    if (ref.empty()) co_return OpOutcome::Applied();
    auto answer =
        co_await Send("DELETE", std::string(Endpoint(op.kind)) + "/" + http::PercentEncode(ref));
    if (answer.ok() && answer->status == 404) co_return OpOutcome::Applied();
    if (auto failure = Failure(answer, "deleting " + DescribeObject(op.kind, *op.object))) {
      co_return *failure;
    }
    co_return OpOutcome::Applied(ref);
  }

  // PATCH operations for one chunk of member ids. Adds: one value array.
  // Removes: AWS takes the value-array form (ssosync's, proven against it,
  // identity-store.md §2.5/§2.7); generic servers get RFC 7644 §3.5.2.2's
  // members[value eq "id"] path, one operation per member.
  json::array MemberOperations(bool add, const std::vector<std::string>& ids) const {
    json::array ops;
    if (add || aws()) {
      json::array values;
      for (const auto& member_id : ids) values.emplace_back(json::object{{"value", member_id}});
      ops.emplace_back(json::object{
          {"op", add ? "add" : "remove"}, {"path", "members"}, {"value", std::move(values)}});
      return ops;
    }
    for (const auto& member_id : ids) {
      ops.emplace_back(json::object{{"op", "remove"},
                                    {"path", "members[" + EqFilter("value", member_id) + "]"}});
    }
    return ops;
  }

  // Memberships of one group, all adds or all removes.
  awaitable<void> Members(std::span<const SinkOp> ops, std::span<OpOutcome> outcomes) {
    const Operation& first = *ops.front().op;
    const bool add = first.op == OpType::kAddMember;
    const SyncObject& group = *first.object;
    Resolved resolved = co_await Resolve(ObjectKind::kGroup, group, ops.front().object_ref);
    const std::string group_ref = resolved.ref;
    std::optional<OpOutcome> group_failure = resolved.failure;
    if (!group_failure && group_ref.empty()) {
      // Removing from a group that is gone is done; adding to it is not.
      group_failure = add ? OpOutcome::Refused("cannot add members to " +
                                               DescribeObject(ObjectKind::kGroup, group) +
                                               ": the group is not in the target")
                          : OpOutcome::Applied();
    }
    if (group_failure) {
      std::fill(outcomes.begin(), outcomes.end(), *group_failure);
      co_return;
    }
    // Member ids: the ref syncd holds, else a lookup by externalId.
    std::vector<size_t> ready;
    std::vector<std::string> ids;
    for (size_t i = 0; i < ops.size(); ++i) {
      const Operation& op = *ops[i].op;
      if (!op.member || op.member->external_id.empty()) {
        outcomes[i] =
            OpOutcome::Refused(std::string(OpName(op.op)) + " on " +
                               DescribeObject(ObjectKind::kGroup, group) + " names no member");
        continue;
      }
      const SyncObject& member = *op.member;
      if (aws() && member.kind == ObjectKind::kGroup) {
        outcomes[i] = OpOutcome::Refused(
            "cannot make " + DescribeObject(ObjectKind::kGroup, member) + " a member of " +
            group.name +
            ": IAM Identity Center has no nested groups (store.nested_groups = \"flatten\")");
        continue;
      }
      std::string ref = ops[i].member_ref;
      if (ref.empty()) {
        Found found = co_await Find(member.kind, "externalId", member.external_id);
        if (found.failure) {
          outcomes[i] = *found.failure;
          continue;
        }
        for (const auto& r : found.resources) {
          if (Field(r, "externalId") == member.external_id) ref = Field(r, "id");
        }
        if (ref.empty()) {
          outcomes[i] =
              add ? OpOutcome::Refused("cannot add " + DescribeObject(member.kind, member) +
                                       " to " + group.name + ": the member is not in the target")
                  : OpOutcome::Applied(group_ref);
          continue;
        }
      }
      ready.push_back(i);
      ids.push_back(std::move(ref));
    }
    const std::string what = std::string(add ? "adding members to " : "removing members from ") +
                             DescribeObject(ObjectKind::kGroup, group);
    for (size_t begin = 0; begin < ready.size(); begin += caps.members_per_request) {
      const size_t end = std::min(ready.size(), begin + caps.members_per_request);
      std::vector<std::string> chunk(ids.begin() + static_cast<ptrdiff_t>(begin),
                                     ids.begin() + static_cast<ptrdiff_t>(end));
      OpOutcome outcome =
          co_await Patch(ObjectKind::kGroup, group_ref, MemberOperations(add, chunk), what);
      if (outcome.kind == OpOutcome::Kind::kRefused && chunk.size() > 1) {
        // One bad member fails the request: find it, one member at a time.
        for (size_t k = begin; k < end; ++k) {
          const SyncObject& member = *ops[ready[k]].op->member;
          std::vector<std::string> one(1, ids[k]);
          json::array single = MemberOperations(add, one);
          outcomes[ready[k]] =
              co_await Patch(ObjectKind::kGroup, group_ref, std::move(single),
                             what + " (" + DescribeObject(member.kind, member) + ")");
        }
        continue;
      }
      if (outcome.kind == OpOutcome::Kind::kRefused && !add &&
          outcome.reason.find("HTTP 404") != std::string::npos) {
        outcome = OpOutcome::Applied(group_ref);  // the group went away meanwhile
      }
      for (size_t k = begin; k < end; ++k) outcomes[ready[k]] = outcome;
    }
  }
};

ScimSink::ScimSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ScimSink::~ScimSink() = default;

Result<std::unique_ptr<ScimSink>> ScimSink::Create(boost::asio::any_io_executor executor,
                                                   const StoreConfig& config) {
  if (Status st = CheckScimConfig(config); !st.ok()) return st;
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->profile = config.profile == "aws" ? Profile::kAws : Profile::kGeneric;
  impl->adopt = config.adopt == "userName" ? AdoptPolicy::kUserName
                : config.adopt == "none"   ? AdoptPolicy::kNone
                                           : AdoptPolicy::kExternalId;
  auto id = IdOf(config.url);
  if (!id.ok()) return id.status();
  impl->store_id = *id;
  impl->base = id->substr(std::string_view("scim:").size());
  if (Status st = impl->ReadToken(); !st.ok()) return st;

  SinkCapabilities& caps = impl->caps;
  caps.atomic_batches = false;
  caps.members_per_request = kMembersPerRequest;
  // AWS has none (§2.4); generic servers nest unless config flattens.
  caps.nested_groups = !impl->aws() && config.nested_groups != "flatten";
  constexpr int kDefaultInFlight = 4;
  constexpr double kAwsWriteRate = 20;  // under AWS's 25 TPS per API (§2.6)
  caps.max_in_flight = config.max_in_flight > 0 ? config.max_in_flight : kDefaultInFlight;
  caps.rate_limit = config.rate_limit > 0 ? config.rate_limit : (impl->aws() ? kAwsWriteRate : 0);

  http::ClientOptions options;
  options.ca_file = config.tls_ca_file;
  options.verify_tls = true;
  options.max_connections = caps.max_in_flight;
  auto client = http::Client::Create(std::move(executor), std::move(options));
  if (!client.ok()) return client.status().WithContext("store.tls_ca_file");
  impl->client = std::move(*client);
  return std::unique_ptr<ScimSink>(new ScimSink(std::move(impl)));
}

const SinkCapabilities& ScimSink::capabilities() const { return impl_->caps; }

std::string ScimSink::Describe() const { return impl_->Target(); }

Status ScimSink::ReloadToken() { return impl_->ReadToken(); }

awaitable<Result<StoreIdentity>> ScimSink::Identify() {
  StoreIdentity identity;
  identity.id = impl_->store_id;
  for (const char* endpoint : {"/Users", "/Groups"}) {
    const std::string what = "reading " + std::string(endpoint) + " of " + impl_->Target();
    auto answer =
        co_await impl_->Send("GET", std::string(endpoint) + "?count=" + std::to_string(kPageSize));
    if (auto failure = impl_->Failure(answer, what)) co_return StatusOf(*failure);
    auto list = impl_->ParseObject(*answer, what);
    if (!list.ok()) co_return list.status();
    const auto resources = Impl::Resources(*list);
    for (const auto& r : resources) {
      identity.holds_owned = identity.holds_owned || scim::LooksLikeGuid(Field(r, "externalId"));
    }
    // A full first page may hide syncd's objects behind others' (a target
    // with many hand-made users): that cannot be told cheaply, and "holds
    // none" would make every run a full reconciliation.
    const auto total = Impl::TotalResults(*list);
    if (resources.size() >= kAwsPageCap || (total && *total > resources.size())) {
      identity.holds_owned = true;
    }
    if (identity.holds_owned) break;
  }
  co_return identity;
}

awaitable<Result<OwnedContents>> ScimSink::ReadOwned() {
  OwnedContents owned;
  std::map<std::string, std::string> external_id_of;        // target id -> externalId, syncd's only
  std::vector<std::pair<std::string, std::string>> groups;  // (id, externalId)
  std::map<std::string, std::vector<std::string>> listed_members;  // generic: from the group
  for (ObjectKind kind : {ObjectKind::kUser, ObjectKind::kGroup}) {
    auto all = co_await impl_->ListAll(Endpoint(kind), "");
    if (!all.ok()) co_return all.status();
    for (const json::object& r : *all) {
      StoredObject o = scim::FromResource(kind, r);
      if (!scim::LooksLikeGuid(o.external_id) || o.ref.empty()) continue;
      external_id_of[o.ref] = o.external_id;
      if (kind == ObjectKind::kGroup) {
        groups.emplace_back(o.ref, o.external_id);
        auto members = r.find("members");
        if (members != r.end() && members->value().is_array()) {
          for (const auto& m : members->value().as_array()) {
            if (m.is_object()) listed_members[o.ref].push_back(Field(m.as_object(), "value"));
          }
        }
      }
      owned.objects.push_back(std::move(o));
    }
  }
  for (const auto& [group_id, group_external_id] : groups) {
    std::vector<std::string> member_ids;
    if (impl_->aws()) {
      // GET /Groups never lists members on AWS (§2.2): ask for the users in it.
      auto users = co_await impl_->ListAll("/Users", EqFilter("groups.value", group_id));
      if (!users.ok()) co_return users.status();
      for (const auto& u : *users) member_ids.push_back(Field(u, "id"));
    } else {
      member_ids = listed_members[group_id];
    }
    for (const auto& member_id : member_ids) {
      auto it = external_id_of.find(member_id);
      // Members syncd does not own cannot be named by externalId: left out.
      if (it != external_id_of.end()) owned.memberships.push_back({group_external_id, it->second});
    }
  }
  std::sort(owned.memberships.begin(), owned.memberships.end());
  owned.memberships.erase(std::unique(owned.memberships.begin(), owned.memberships.end()),
                          owned.memberships.end());
  co_return owned;
}

awaitable<std::vector<OpOutcome>> ScimSink::Apply(std::span<const SinkOp> ops) {
  std::vector<OpOutcome> outcomes(ops.size());
  size_t i = 0;
  while (i < ops.size()) {
    const Operation& op = *ops[i].op;
    if (IsMembership(op)) {
      // A run of memberships of one group, all of one direction.
      size_t end = i + 1;
      while (end < ops.size() && ops[end].op->op == op.op &&
             ops[end].op->object->external_id == op.object->external_id) {
        ++end;
      }
      co_await impl_->Members(ops.subspan(i, end - i), std::span(outcomes).subspan(i, end - i));
      i = end;
      continue;
    }
    switch (op.op) {
      case OpType::kCreate:
        outcomes[i] = co_await impl_->Create(ops[i]);
        break;
      case OpType::kUpdate:
        outcomes[i] = co_await impl_->Update(ops[i]);
        break;
      case OpType::kDelete:
        outcomes[i] = co_await impl_->Delete(ops[i]);
        break;
      default:
        break;
    }
    ++i;
  }
  co_return outcomes;
}

}  // namespace syncd
