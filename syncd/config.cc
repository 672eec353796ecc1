#include "syncd/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include "core/input_file.h"
#include "core/log.h"
#include "core/strings.h"
#include "http/url.h"
#include "ldap/syntax.h"
#include "store/scim/scim_sink.h"
#include "syncd/metrics.h"

namespace syncd {
namespace {

std::string Where(const std::string& source, const toml::node& node) {
  const auto& begin = node.source().begin;
  return source + " line " + std::to_string(begin.line);
}

// Checks a string value's syntax beyond its type; the message is a predicate
// for the key ("must be a DN ...").
using SyntaxCheck = Status (*)(std::string_view);

// Walks one table, checking that every key is known and every value has the
// right type. Types are strict: TOML's own conversions (an integer as a
// boolean, a float as an integer) are never used, so `tls_verify = 0` and
// `page_size = 6E40` are errors, not false and an overflow. Errors collect in
// `error_` (the first one wins).
class TableReader {
 public:
  TableReader(const std::string& source, const toml::table& table, std::string prefix)
      : source_(source), table_(table), prefix_(std::move(prefix)) {}

  void String(const char* key, std::string* out, SyntaxCheck check = nullptr) {
    if (const auto* node = Take(key)) {
      if (auto v = node->value_exact<std::string>()) {
        if (Checked(*node, key, *v, check)) *out = std::move(*v);
      } else {
        Fail(*node, key, "must be a string");
      }
    }
  }

  void Bool(const char* key, bool* out) {
    if (const auto* node = Take(key)) {
      if (auto v = node->value_exact<bool>()) {
        *out = *v;
      } else {
        Fail(*node, key, "must be true or false");
      }
    }
  }

  // A TOML integer in [min, max], which `T` must hold.
  template <typename T>
  void Integer(const char* key, int64_t min, int64_t max, T* out) {
    if (const auto* node = Take(key)) {
      auto v = node->value_exact<int64_t>();
      if (!v) {
        Fail(*node, key, "must be an integer");
      } else if (*v < min || *v > max || !std::in_range<T>(*v)) {
        Fail(*node, key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
      } else {
        *out = static_cast<T>(*v);
      }
    }
  }

  // A TOML integer or float in [min, max]; nan is not a number here.
  void Number(const char* key, double min, double max, double* out) {
    if (const auto* node = Take(key)) {
      std::optional<double> v;
      if (auto i = node->value_exact<int64_t>()) {
        v = static_cast<double>(*i);
      } else if (node->is_floating_point()) {
        v = node->as_floating_point()->get();
      }
      if (!v || std::isnan(*v)) {
        Fail(*node, key, "must be a number");
      } else if (*v < min || *v > max) {
        Fail(*node, key, "must be between " + Format(min) + " and " + Format(max));
      } else {
        *out = *v;
      }
    }
  }

  // A string or an array of strings; `check` applies to each.
  void Strings(const char* key, std::vector<std::string>* out, SyntaxCheck check = nullptr) {
    const auto* node = Take(key);
    if (node == nullptr) return;
    if (auto v = node->value_exact<std::string>()) {
      if (Checked(*node, key, *v, check)) *out = {std::move(*v)};
      return;
    }
    const auto* array = node->as_array();
    if (array == nullptr) {
      Fail(*node, key, "must be a string or an array of strings");
      return;
    }
    out->clear();
    for (const auto& item : *array) {
      auto v = item.value_exact<std::string>();
      if (!v) {
        Fail(item, key, "must hold only strings");
        return;
      }
      if (!Checked(item, key, *v, check)) return;
      out->push_back(std::move(*v));
    }
  }

  const toml::table* Table(const char* key) {
    const auto* node = Take(key);
    if (node == nullptr) return nullptr;
    if (!node->is_table()) {
      Fail(*node, key, "must be a table");
      return nullptr;
    }
    return node->as_table();
  }

  void Fail(const toml::node& node, const std::string& key, const std::string& what) {
    if (error_.ok()) {
      error_ = Status::InvalidArgument(Where(source_, node) + ": " + prefix_ + key + " " + what);
    }
  }

  // Every key not taken is unknown.
  Status Finish() {
    for (const auto& [key, node] : table_) {
      if (!taken_.contains(std::string(key.str()))) {
        Fail(node, std::string(key.str()), "is not a known key");
      }
    }
    return error_;
  }

 private:
  static std::string Format(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
  }

  bool Checked(const toml::node& node, const char* key, const std::string& value,
               SyntaxCheck check) {
    if (check == nullptr) return true;
    Status st = check(value);
    if (!st.ok()) Fail(node, key, st.message());
    return st.ok();
  }

  const toml::node* Take(const char* key) {
    taken_.insert(key);
    return table_.get(key);
  }

  const std::string& source_;
  const toml::table& table_;
  std::string prefix_;
  std::set<std::string> taken_;
  Status error_;
};

// A simple bind's name: a DN, or what AD also takes, user@domain or DOMAIN\user.
Status CheckBindName(std::string_view name) {
  if (name.find('=') != std::string_view::npos) return ldap::CheckDn(name);
  for (char separator : {'@', '\\'}) {
    const size_t at = name.find(separator);
    if (at != std::string_view::npos && at > 0 && at + 1 < name.size() &&
        name.size() <= ldap::kMaxDnLength) {
      return Status::Ok();
    }
  }
  return Status::InvalidArgument(
      "must be a DN such as \"CN=svc-syncd,OU=Service Accounts,DC=corp,DC=example,DC=com\", "
      "or user@domain or DOMAIN\\user");
}

// scope.groups and scope.exclude: a DN (it has a "=", scope.cc's rule) or a
// sAMAccountName, which holds none of "/\[]:;|=,+*?<>.
Status CheckDnOrAccountName(std::string_view name) {
  if (name.find('=') != std::string_view::npos) return ldap::CheckDn(name);
  constexpr size_t kMaxAccountName = 256;
  if (!name.empty() && name.size() <= kMaxAccountName &&
      name.find_first_of("\"/\\[]:;|,+*?<>") == std::string_view::npos) {
    return Status::Ok();
  }
  return Status::InvalidArgument("must hold DNs or sAMAccountNames; \"" +
                                 std::string(name.substr(0, 80)) + "\" is neither");
}

// user_filter, group_filter: empty means no extra condition.
Status CheckOptionalFilter(std::string_view filter) {
  return filter.empty() ? Status::Ok() : scope::CheckExtraFilter(filter);
}

// systemd hands the host keytab over as a credential (LoadCredential= in
// conf/syncd.service) when the service user cannot read /etc/krb5.keytab.
std::string DefaultKeytab() {
  if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir != nullptr && *dir != '\0') {
    std::string credential = std::string(dir) + "/krb5.keytab";
    if (access(credential.c_str(), F_OK) == 0) return credential;
  }
  return kDefaultKeytab;
}

Status ReadSource(const std::string& src, const toml::table& table, SourceConfig* out) {
  TableReader r(src, table, "source.");
  std::string auth = "simple";
  std::string feed = ChangeFeedName(out->change_feed);
  r.Strings("uris", &out->uris);
  r.String("domain", &out->domain);
  r.String("site", &out->site);
  r.String("base_dn", &out->base_dn, ldap::CheckDn);
  r.String("auth", &auth);
  r.String("bind_dn", &out->bind_dn, CheckBindName);
  r.String("password_file", &out->password_file);
  if (table.contains("keytab")) {
    r.String("keytab", &out->keytab);
  } else {
    out->keytab = DefaultKeytab();
  }
  r.String("principal", &out->principal);
  r.String("tls_ca_file", &out->tls_ca_file);
  r.Bool("starttls", &out->starttls);
  r.Bool("tls_verify", &out->tls_verify);
  r.Integer("page_size", 1, 1000, &out->page_size);
  r.Integer("range_step", 0, 5000, &out->range_step);
  r.Integer("connect_timeout", 1, 600, &out->connect_timeout);
  r.Integer("timeout", 1, 3600, &out->timeout);
  r.String("change_feed", &feed);
  r.Integer("reconcile_interval_hours", 1, int64_t{24} * 366, &out->reconcile_interval_hours);
  if (feed == "auto") {
    out->change_feed = ChangeFeed::kAuto;
  } else if (feed == "dirsync") {
    out->change_feed = ChangeFeed::kDirSync;
  } else if (feed == "usn") {
    out->change_feed = ChangeFeed::kUsn;
  } else if (const auto* node = table.get("change_feed")) {
    r.Fail(*node, "change_feed", "must be \"auto\", \"dirsync\" or \"usn\", not \"" + feed + "\"");
  }
  if (auth == "simple") {
    out->auth = ldap::AuthMethod::kSimple;
  } else if (auth == "gssapi") {
    out->auth = ldap::AuthMethod::kGssapi;
  } else if (const auto* node = table.get("auth")) {
    r.Fail(*node, "auth", "must be \"simple\" or \"gssapi\", not \"" + auth + "\"");
  }
  Status st = r.Finish();
  if (!st.ok()) return st;

  const std::string where = src + ": [source] ";
  if (out->uris.empty() && out->domain.empty()) {
    return Status::InvalidArgument(where + "uris or domain (for DNS SRV discovery) is required");
  }
  if (!out->site.empty() && out->domain.empty()) {
    return Status::InvalidArgument(where + "site needs domain");
  }
  for (const auto& uri : out->uris) {
    if (uri.rfind("ldap://", 0) != 0 && uri.rfind("ldaps://", 0) != 0) {
      return Status::InvalidArgument(where + "uris: \"" + uri +
                                     "\" must start with ldap:// or ldaps://");
    }
  }
  if (out->base_dn.empty()) return Status::InvalidArgument(where + "base_dn is required");
  if (out->auth == ldap::AuthMethod::kSimple) {
    if (!out->principal.empty()) {
      return Status::InvalidArgument(where + "principal needs auth = \"gssapi\"");
    }
    if (out->bind_dn.empty() || out->password_file.empty()) {
      return Status::InvalidArgument(where + "auth = \"simple\" needs bind_dn and password_file");
    }
    for (const auto& uri : out->uris) {
      if (uri.rfind("ldap://", 0) == 0 && !out->starttls) {
        return Status::InvalidArgument(where +
                                       "a simple bind would send the password in clear "
                                       "text to " +
                                       uri + ": use ldaps:// or starttls = true");
      }
    }
  }
  return Status::Ok();
}

Status ReadMapping(const std::string& src, const toml::table& table, scope::AttributeMapping* out) {
  TableReader r(src, table, "mapping.");
  for (auto kind : {ObjectKind::kUser, ObjectKind::kGroup}) {
    const auto* rules = r.Table(KindName(kind));
    if (rules == nullptr) continue;
    for (const auto& [key, node] : *rules) {
      std::vector<std::string> sources;
      if (auto v = node.value_exact<std::string>()) {
        sources = {*v};
      } else if (const auto* array = node.as_array()) {
        for (const auto& item : *array) {
          if (auto s = item.value_exact<std::string>()) sources.push_back(*s);
        }
        if (sources.size() != array->size()) sources.clear();
      }
      std::string name(key.str());
      Status st = sources.empty() ? Status::InvalidArgument(
                                        "must be an AD attribute name or an "
                                        "array of them")
                                  : out->Set(kind, name, sources);
      if (!st.ok()) {
        r.Fail(node, std::string(KindName(kind)) + "." + name, st.message());
        break;
      }
    }
  }
  return r.Finish();
}

Status ReadAssignments(const std::string& src, const toml::table& table, AssignmentsConfig* out) {
  TableReader r(src, table, "assignments.");
  std::string reapply = out->auto_reapply ? "auto" : "manual";
  std::vector<std::string> match;
  r.String("reapply", &reapply);
  r.Strings("match", &match);
  r.String("applier", &out->applier);
  if (out->applier != "local" && out->applier != "aws") {
    r.Fail(*table.get("applier"), "applier",
           "must be \"local\" or \"aws\", not \"" + out->applier + "\"");
  }
  if (reapply == "auto" || reapply == "manual") {
    out->auto_reapply = reapply == "auto";
  } else if (const auto* node = table.get("reapply")) {
    r.Fail(*node, "reapply", "must be \"auto\" or \"manual\", not \"" + reapply + "\"");
  }
  if (const auto* node = table.get("match")) {
    std::vector<MatchKey> keys;
    for (const auto& name : match) {
      auto key = ParseMatchKey(name);
      if (!key) {
        r.Fail(*node, "match",
               "holds \"" + name +
                   "\"; the keys are objectGUID, sIDHistory, mS-DS-ConsistencyGuid, "
                   "userPrincipalName, mail and sAMAccountName");
      } else if (std::find(keys.begin(), keys.end(), *key) != keys.end()) {
        r.Fail(*node, "match", std::string("names ") + MatchKeyName(*key) + " twice");
      } else {
        keys.push_back(*key);
      }
    }
    if (keys.empty()) r.Fail(*node, "match", "must name at least one key");
    out->match = std::move(keys);
  }
  return r.Finish();
}

Status ReadDaemon(const std::string& src, const toml::table& table, DaemonConfig* out) {
  TableReader r(src, table, "daemon.");
  constexpr int64_t kDay = 86400;
  r.Integer("interval", 1, kDay, &out->interval);
  r.Integer("jitter", 0, kDay, &out->jitter);
  r.Integer("backoff_initial", 1, kDay, &out->backoff_initial);
  r.Integer("backoff_max", 1, kDay, &out->backoff_max);
  r.Integer("run_timeout", 10, kDay, &out->run_timeout);
  r.Integer("shutdown_timeout", 1, 3600, &out->shutdown_timeout);
  r.Bool("notify", &out->notify);
  r.Integer("coalesce_ms", 0, 60000, &out->coalesce_ms);
  r.Integer("notify_containers", 1, 1000, &out->notify_containers);
  r.String("metrics_listen", &out->metrics_listen);
  Status st = r.Finish();
  if (!st.ok()) return st;
  if (!out->metrics_listen.empty()) {
    if (auto parsed = ParseListenAddress(out->metrics_listen, /*allow_non_loopback=*/false);
        !parsed.ok()) {
      return Status::InvalidArgument(Where(src, *table.get("metrics_listen")) +
                                     ": daemon.metrics_listen " + parsed.status().message());
    }
  }
  if (out->backoff_max < out->backoff_initial) {
    return Status::InvalidArgument(src + ": [daemon] backoff_max must be at least backoff_initial");
  }
  return Status::Ok();
}

}  // namespace

namespace {
constexpr std::pair<MatchKey, const char*> kMatchKeyNames[] = {
    {MatchKey::kObjectGuid, "objectGUID"},
    {MatchKey::kSidHistory, "sIDHistory"},
    {MatchKey::kConsistencyGuid, "mS-DS-ConsistencyGuid"},
    {MatchKey::kUserPrincipalName, "userPrincipalName"},
    {MatchKey::kMail, "mail"},
    {MatchKey::kSamAccountName, "sAMAccountName"},
};
}  // namespace

const char* MatchKeyName(MatchKey key) {
  for (const auto& [k, name] : kMatchKeyNames) {
    if (k == key) return name;
  }
  return "?";
}

std::optional<MatchKey> ParseMatchKey(std::string_view name) {
  for (const auto& [k, known] : kMatchKeyNames) {
    if (AsciiLower(name) == AsciiLower(known)) return k;
  }
  return std::nullopt;
}

// [safety.max_change_percent_by_attribute]: store attribute -> percent, for
// attributes the mapping writes.
Status ReadChangeLimits(const std::string& source_name, const toml::table& table,
                        const scope::AttributeMapping& mapping, SafetyConfig* safety) {
  TableReader r(source_name, table, "safety.max_change_percent_by_attribute.");
  for (const auto& [key, node] : table) {
    const std::string attribute(key.str());
    bool mapped = false;
    for (auto kind : {ObjectKind::kUser, ObjectKind::kGroup}) {
      for (const auto& rule : mapping.rules(kind))
        mapped = mapped || rule.store_attribute == attribute;
    }
    if (!mapped) {
      r.Fail(node, attribute, "is not a store attribute of the mapping");
      break;
    }
    double limit = safety->max_change_percent;
    r.Number(attribute.c_str(), 0, 100, &limit);
    safety->max_change_percent_by_attribute[attribute] = limit;
  }
  return r.Finish();
}

// [aws]: IAM Identity Center (AwsConfig).
Status ReadAws(const std::string& src, const toml::table& table, AwsConfig* out) {
  TableReader r(src, table, "aws.");
  out->present = true;
  r.String("region", &out->region);
  r.String("profile", &out->profile);
  r.String("credentials_file", &out->credentials_file);
  r.String("config_file", &out->config_file);
  r.String("instance_arn", &out->instance_arn);
  r.String("endpoint_url", &out->endpoint_url, [](std::string_view url) {
    return http::CheckServiceUrl(url, "https://vpce-0123-abcd.sso.eu-west-1.vpce.amazonaws.com");
  });
  r.String("tls_ca_file", &out->tls_ca_file);
  r.Bool("verify_tls", &out->verify_tls);
  constexpr double kMaxRate = 20;  // AWS's shared limit for these APIs
  r.Number("rate_limit", 0.1, kMaxRate, &out->rate_limit);
  // AWS refuses more than 15 outstanding assignment operations per instance.
  r.Integer("max_outstanding", 1, kAwsMaxOutstanding, &out->max_outstanding);
  r.Bool("capture", &out->capture);
  if (!out->instance_arn.empty() && out->instance_arn.rfind("arn:", 0) != 0) {
    r.Fail(*table.get("instance_arn"), "instance_arn",
           "must be an ARN (arn:aws:sso:::instance/ssoins-...), not \"" + out->instance_arn + "\"");
  }
  return r.Finish();
}

// [store]: the local store's path, or a SCIM target (store/scim).
Status ReadStore(const std::string& src, const toml::table& table, StoreConfig* out) {
  TableReader r(src, table, "store.");
  r.String("kind", &out->kind);
  r.String("path", &out->path);
  r.String("url", &out->url, CheckScimUrl);
  r.String("token_file", &out->token_file);
  r.String("profile", &out->profile);
  r.String("tls_ca_file", &out->tls_ca_file);
  constexpr double kMaxRate = 10000;
  constexpr int64_t kMaxInFlight = 64;
  r.Number("rate_limit", 0, kMaxRate, &out->rate_limit);
  r.Integer("max_in_flight", 1, kMaxInFlight, &out->max_in_flight);
  r.String("nested_groups", &out->nested_groups);
  r.String("adopt", &out->adopt);
  // A value from a list: named with its key and line when it is not one.
  auto one_of = [&](const char* key, const std::string& value,
                    std::initializer_list<std::string_view> allowed) {
    const auto* node = table.get(key);
    if (node == nullptr || std::find(allowed.begin(), allowed.end(), value) != allowed.end()) {
      return;
    }
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "\"" : ", \"") + std::string(a) + "\"";
    r.Fail(*node, key, "must be one of " + list + ", not \"" + value + "\"");
  };
  one_of("kind", out->kind, {"local", "scim"});
  one_of("profile", out->profile, {"aws", "generic"});
  one_of("nested_groups", out->nested_groups, {"flatten", "direct"});
  one_of("adopt", out->adopt, {"externalId", "userName", "none"});
  if (out->profile == "aws" && out->nested_groups == "direct") {
    r.Fail(*table.get("nested_groups"), "nested_groups",
           "cannot be \"direct\" with profile \"aws\": IAM Identity Center has no nested groups");
  }
  Status st = r.Finish();
  if (!st.ok()) return st;
  if (out->kind == "scim") {
    for (const char* key : {"url", "token_file"}) {
      if (table.get(key) == nullptr) {
        return Status::InvalidArgument(Where(src, table) + ": [store] kind = \"scim\" needs " +
                                       "store." + key);
      }
    }
  }
  return Status::Ok();
}

Result<Config> ParseConfig(const std::string& text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& err) {
    return Status::InvalidArgument(source_name + " line " +
                                   std::to_string(err.source().begin.line) + ": " +
                                   std::string(err.description()));
  }
  Config config;
  config.path = source_name;
  TableReader top(source_name, root, "");

  const toml::table* source = top.Table("source");
  if (source == nullptr) {
    Status st = top.Finish();
    return st.ok() ? Status::InvalidArgument(source_name + ": the [source] table is required") : st;
  }
  Status st = ReadSource(source_name, *source, &config.source);
  if (!st.ok()) return st;

  if (const auto* scope = top.Table("scope")) {
    TableReader r(source_name, *scope, "scope.");
    r.Strings("user_bases", &config.scope.user_bases, ldap::CheckDn);
    r.String("user_filter", &config.scope.user_filter, CheckOptionalFilter);
    r.Strings("group_bases", &config.scope.group_bases, ldap::CheckDn);
    r.String("group_filter", &config.scope.group_filter, CheckOptionalFilter);
    r.Strings("groups", &config.scope.groups, CheckDnOrAccountName);
    r.Strings("exclude", &config.scope.exclude, CheckDnOrAccountName);
    st = r.Finish();
    if (!st.ok()) return st;
  }
  if (config.scope.user_bases.empty()) config.scope.user_bases = {config.source.base_dn};
  if (config.scope.group_bases.empty()) config.scope.group_bases = {config.source.base_dn};

  if (const auto* mapping = top.Table("mapping")) {
    st = ReadMapping(source_name, *mapping, &config.mapping);
    if (!st.ok()) return st;
  }
  if (const auto* store = top.Table("store")) {
    st = ReadStore(source_name, *store, &config.store);
    if (!st.ok()) return st;
  }
  if (const auto* state = top.Table("state")) {
    TableReader r(source_name, *state, "state.");
    r.String("path", &config.state_path);
    st = r.Finish();
    if (!st.ok()) return st;
  }
  if (const auto* daemon = top.Table("daemon")) {
    st = ReadDaemon(source_name, *daemon, &config.daemon);
    if (!st.ok()) return st;
  }
  if (const auto* safety = top.Table("safety")) {
    TableReader r(source_name, *safety, "safety.");
    r.Integer("max_deletes", -1, INT32_MAX, &config.safety.max_deletes);
    r.Number("max_delete_percent", 0, 100, &config.safety.max_delete_percent);
    r.Number("max_change_percent", 0, 100, &config.safety.max_change_percent);
    r.Integer("change_budget_floor", 0, INT32_MAX, &config.safety.change_budget_floor);
    if (const auto* by_attribute = r.Table("max_change_percent_by_attribute")) {
      st = ReadChangeLimits(source_name, *by_attribute, config.mapping, &config.safety);
      if (!st.ok()) return st;
    }
    st = r.Finish();
    if (!st.ok()) return st;
  }
  if (const auto* assignments = top.Table("assignments")) {
    st = ReadAssignments(source_name, *assignments, &config.assignments);
    if (!st.ok()) return st;
  }
  if (const auto* aws = top.Table("aws")) {
    st = ReadAws(source_name, *aws, &config.aws);
    if (!st.ok()) return st;
  }
  if (config.assignments.applier == "aws" && !config.aws.present) {
    return Status::InvalidArgument(source_name +
                                   ": [assignments] applier = \"aws\" needs an [aws] table "
                                   "(at least its region, or a profile that names one)");
  }
  st = top.Finish();
  if (!st.ok()) return st;
  if (config.store.path == config.state_path) {
    return Status::InvalidArgument(source_name + ": store.path and state.path must differ");
  }
  return config;
}

Result<Config> LoadConfig(const std::string& path) {
  auto text = ReadInputFile(path, "config file", "a TOML config file");
  if (!text.ok()) return text.status();
  auto config = ParseConfig(*text, path);
  if (!config.ok()) return config;
  // Relative paths are the config file's neighbours, not the current
  // directory's: run from elsewhere, a relative store.path would silently
  // make a second store.
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::absolute(path, ec).parent_path();
  if (ec) return Status::InvalidArgument("config file " + path + ": " + ec.message());
  for (std::string* file :
       {&config->store.path, &config->store.token_file, &config->store.tls_ca_file,
        &config->state_path, &config->source.password_file, &config->source.tls_ca_file,
        &config->source.keytab, &config->aws.credentials_file, &config->aws.config_file,
        &config->aws.tls_ca_file}) {
    if (!file->empty() && std::filesystem::path(*file).is_relative()) {
      *file = (dir / *file).lexically_normal().string();
    }
  }
  if (config->store.path == config->state_path) {
    return Status::InvalidArgument(path + ": store.path and state.path must differ");
  }
  return config;
}

ad::Settings SourceSettings(const Config& config) {
  return {config.source, config.scope, config.mapping};
}

}  // namespace syncd
