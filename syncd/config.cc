#include "syncd/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/strings.h"
#include "syncd/log.h"
#include "syncd/metrics.h"

namespace syncd {
namespace {

std::string Where(const std::string& source, const toml::node& node) {
  const auto& begin = node.source().begin;
  return source + " line " + std::to_string(begin.line);
}

// Walks one table, checking that every key is known and every value has the
// right type. Errors collect in `error_` (the first one wins).
class TableReader {
 public:
  TableReader(const std::string& source, const toml::table& table, std::string prefix)
      : source_(source), table_(table), prefix_(std::move(prefix)) {}

  void String(const char* key, std::string* out) {
    if (const auto* node = Take(key)) {
      if (auto v = node->value<std::string>()) {
        *out = *v;
      } else {
        Fail(*node, key, "must be a string");
      }
    }
  }

  void Bool(const char* key, bool* out) {
    if (const auto* node = Take(key)) {
      if (auto v = node->value<bool>()) {
        *out = *v;
      } else {
        Fail(*node, key, "must be true or false");
      }
    }
  }

  void Integer(const char* key, int64_t min, int64_t max, int64_t* out) {
    if (const auto* node = Take(key)) {
      auto v = node->value<int64_t>();
      if (!v || !node->is_integer()) {
        Fail(*node, key, "must be an integer");
      } else if (*v < min || *v > max) {
        Fail(*node, key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
      } else {
        *out = *v;
      }
    }
  }

  void Number(const char* key, double min, double max, double* out) {
    if (const auto* node = Take(key)) {
      auto v = node->value<double>();
      if (!v || !(node->is_integer() || node->is_floating_point())) {
        Fail(*node, key, "must be a number");
      } else if (*v < min || *v > max) {
        Fail(*node, key, "must be between " + Format(min) + " and " + Format(max));
      } else {
        *out = *v;
      }
    }
  }

  // A string or an array of strings.
  void Strings(const char* key, std::vector<std::string>* out) {
    const auto* node = Take(key);
    if (node == nullptr) return;
    if (auto v = node->value<std::string>()) {
      *out = {*v};
      return;
    }
    const auto* array = node->as_array();
    if (array == nullptr) {
      Fail(*node, key, "must be a string or an array of strings");
      return;
    }
    out->clear();
    for (const auto& item : *array) {
      auto v = item.value<std::string>();
      if (!v) {
        Fail(item, key, "must hold only strings");
        return;
      }
      out->push_back(*v);
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
  int64_t reconcile = out->reconcile_interval_hours;
  int64_t page_size = out->page_size, range_step = out->range_step;
  int64_t connect_timeout = out->connect_timeout, timeout = out->timeout;
  r.Strings("uris", &out->uris);
  r.String("domain", &out->domain);
  r.String("site", &out->site);
  r.String("base_dn", &out->base_dn);
  r.String("auth", &auth);
  r.String("bind_dn", &out->bind_dn);
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
  r.Integer("page_size", 1, 1000, &page_size);
  r.Integer("range_step", 0, 5000, &range_step);
  r.Integer("connect_timeout", 1, 600, &connect_timeout);
  r.Integer("timeout", 1, 3600, &timeout);
  r.String("change_feed", &feed);
  r.Integer("reconcile_interval_hours", 1, int64_t{24} * 366, &reconcile);
  if (feed == "auto") {
    out->change_feed = ChangeFeed::kAuto;
  } else if (feed == "dirsync") {
    out->change_feed = ChangeFeed::kDirSync;
  } else if (feed == "usn") {
    out->change_feed = ChangeFeed::kUsn;
  } else if (const auto* node = table.get("change_feed")) {
    r.Fail(*node, "change_feed", "must be \"auto\", \"dirsync\" or \"usn\", not \"" + feed + "\"");
  }
  out->reconcile_interval_hours = static_cast<int>(reconcile);
  if (auth == "simple") {
    out->auth = ldap::AuthMethod::kSimple;
  } else if (auth == "gssapi") {
    out->auth = ldap::AuthMethod::kGssapi;
  } else if (const auto* node = table.get("auth")) {
    r.Fail(*node, "auth", "must be \"simple\" or \"gssapi\", not \"" + auth + "\"");
  }
  out->page_size = static_cast<int>(page_size);
  out->range_step = static_cast<uint32_t>(range_step);
  out->connect_timeout = static_cast<int>(connect_timeout);
  out->timeout = static_cast<int>(timeout);
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
      if (auto v = node.value<std::string>()) {
        sources = {*v};
      } else if (const auto* array = node.as_array()) {
        for (const auto& item : *array) {
          if (auto s = item.value<std::string>()) sources.push_back(*s);
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
  int64_t interval = out->interval, jitter = out->jitter, backoff_initial = out->backoff_initial,
          backoff_max = out->backoff_max, run_timeout = out->run_timeout,
          shutdown_timeout = out->shutdown_timeout, coalesce_ms = out->coalesce_ms,
          notify_containers = out->notify_containers;
  r.Integer("interval", 1, kDay, &interval);
  r.Integer("jitter", 0, kDay, &jitter);
  r.Integer("backoff_initial", 1, kDay, &backoff_initial);
  r.Integer("backoff_max", 1, kDay, &backoff_max);
  r.Integer("run_timeout", 10, kDay, &run_timeout);
  r.Integer("shutdown_timeout", 1, 3600, &shutdown_timeout);
  r.Bool("notify", &out->notify);
  r.Integer("coalesce_ms", 0, 60000, &coalesce_ms);
  r.Integer("notify_containers", 1, 1000, &notify_containers);
  r.String("metrics_listen", &out->metrics_listen);
  Status st = r.Finish();
  if (!st.ok()) return st;
  out->interval = static_cast<int>(interval);
  out->jitter = static_cast<int>(jitter);
  out->backoff_initial = static_cast<int>(backoff_initial);
  out->backoff_max = static_cast<int>(backoff_max);
  out->run_timeout = static_cast<int>(run_timeout);
  out->shutdown_timeout = static_cast<int>(shutdown_timeout);
  out->coalesce_ms = static_cast<int>(coalesce_ms);
  out->notify_containers = static_cast<int>(notify_containers);
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

const char* ChangeFeedName(ChangeFeed feed) {
  switch (feed) {
    case ChangeFeed::kAuto:
      return "auto";
    case ChangeFeed::kDirSync:
      return "dirsync";
    case ChangeFeed::kUsn:
      return "usn";
  }
  return "auto";
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
    r.Strings("user_bases", &config.scope.user_bases);
    r.String("user_filter", &config.scope.user_filter);
    r.Strings("group_bases", &config.scope.group_bases);
    r.String("group_filter", &config.scope.group_filter);
    r.Strings("groups", &config.scope.groups);
    r.Strings("exclude", &config.scope.exclude);
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
    TableReader r(source_name, *store, "store.");
    r.String("kind", &config.store.kind);
    r.String("path", &config.store.path);
    st = r.Finish();
    if (!st.ok()) return st;
    if (config.store.kind != "local") {
      return Status::InvalidArgument(Where(source_name, *store->get("kind")) +
                                     ": store.kind must be \"local\"");
    }
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
  st = top.Finish();
  if (!st.ok()) return st;
  if (config.store.path == config.state_path) {
    return Status::InvalidArgument(source_name + ": store.path and state.path must differ");
  }
  return config;
}

Result<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read config file " + path);
  std::stringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), path);
}

Result<std::string> ReadSecretFile(const std::string& path, const std::string& key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(key + ": cannot read " + path);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return Status::InvalidArgument(key + ": " + path + " is empty");
  struct stat info {};
  if (stat(path.c_str(), &info) == 0 && (info.st_mode & S_IROTH) != 0) {
    Log(LogLevel::kWarning, key + ": " + path + " is readable by every user; make it mode 0600");
  }
  return line;
}

}  // namespace syncd
