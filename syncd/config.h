// syncd's configuration: a TOML file (default /etc/syncd/syncd.conf).
// conf/syncd.conf documents every key with its default.
#ifndef SYNCD_SYNCD_CONFIG_H_
#define SYNCD_SYNCD_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "scope/scope.h"
#include "source/ad/config.h"
#include "store/store_config.h"

namespace syncd {

inline constexpr char kDefaultConfigPath[] = "/etc/syncd/syncd.conf";

struct SafetyConfig {
  int64_t max_deletes = 500;       // per object type; -1 disables the count check
  double max_delete_percent = 50;  // of that type's objects in the store; 100 disables
  // The change budget: updates that change or clear one attribute on more
  // than this percentage of a type's objects are held (100 disables) ...
  double max_change_percent = 20;
  // ... or more than this attribute's own percentage, where one is set ...
  std::map<std::string, double> max_change_percent_by_attribute;
  // ... unless they touch at most this many objects.
  int64_t change_budget_floor = 10;
};

// The daemon's schedule (syncd/schedule.h) and its services. Seconds unless
// the name says otherwise.
struct DaemonConfig {
  int interval = 300;          // between incremental runs
  int jitter = 30;             // up to this much added, so hosts do not align
  int backoff_initial = 5;     // after the first failed run
  int backoff_max = 300;       // the backoff doubles up to this
  int run_timeout = 3600;      // a run taking longer is abandoned
  int shutdown_timeout = 30;   // SIGTERM: how long a run in flight may finish
  bool notify = true;          // AD change notifications wake the loop early
  int coalesce_ms = 300;       // notifications within this window make one run
  int notify_containers = 50;  // containers watched (5 per connection)
  std::string metrics_listen;  // "127.0.0.1:9469" serves /metrics; empty: off
};

// The identity keys that find an assignment's principal again after a source
// switch (syncd/assignments.h), in their configured order.
enum class MatchKey {
  kObjectGuid,         // the same object (moves within a forest keep it)
  kSidHistory,         // the old objectSid in the new principal's sIDHistory (ADMT), or
                       // the new objectSid in the old one's (a migration rolled back)
  kConsistencyGuid,    // the same source anchor: mS-DS-ConsistencyGuid, else objectGUID
  kUserPrincipalName,  // these three compare case-insensitively
  kMail,
  kSamAccountName,  // the last: PrincipalIndex sizes its tables by it
};
// "objectGUID", "sIDHistory", "mS-DS-ConsistencyGuid", "userPrincipalName",
// "mail", "sAMAccountName"; parsing ignores case.
const char* MatchKeyName(MatchKey key);
std::optional<MatchKey> ParseMatchKey(std::string_view name);

// [aws]: IAM Identity Center, where `[assignments] applier = "aws"` puts the
// ledger's assignments (syncd/aws_assignments.h) and `capture` reads them
// from. Credentials come from the chain of aws/credentials.h, never from
// this file.
struct AwsConfig {
  bool present = false;          // the file has an [aws] table
  std::string region;            // "" = the profile's (AWS_REGION, config file)
  std::string profile;           // "" = AWS_PROFILE, else "default"
  std::string credentials_file;  // "" = AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials
  std::string config_file;       // "" = AWS_CONFIG_FILE, else ~/.aws/config
  std::string instance_arn;      // "" = the one ListInstances returns (it must be one)
  std::string endpoint_url;      // "" = AWS's public endpoints; else a VPC endpoint, a peer
  std::string tls_ca_file;       // "" = the system store
  bool verify_tls = true;
  double rate_limit = 10;    // SSO Admin and Identity Store calls per second (AWS allows 20)
  int max_outstanding = 10;  // assignment operations in flight; AWS allows 15
  bool capture = false;      // every run reads the instance's assignments into the ledger
};
inline constexpr int kAwsMaxOutstanding = 15;

struct AssignmentsConfig {
  // Where assignments are in force: "local" (the embedded store) or "aws"
  // (IAM Identity Center, [aws]).
  std::string applier = "local";
  // After a source switch, reapply the ledger by itself (auto), or leave it
  // to `syncd assignments reapply` once its --dry-run plan was reviewed.
  bool auto_reapply = false;
  std::vector<MatchKey> match = {
      MatchKey::kObjectGuid,        MatchKey::kSidHistory, MatchKey::kConsistencyGuid,
      MatchKey::kUserPrincipalName, MatchKey::kMail,       MatchKey::kSamAccountName};
};

struct Config {
  std::string path;  // where it was read from
  SourceConfig source;
  DaemonConfig daemon;
  scope::ScopeConfig scope;
  scope::AttributeMapping mapping = scope::AttributeMapping::Defaults();
  StoreConfig store;
  std::string state_path = "/var/lib/syncd/state.db";
  SafetyConfig safety;
  AssignmentsConfig assignments;
  AwsConfig aws;
};

// Parses and validates. Errors name the file, the key and its line.
Result<Config> LoadConfig(const std::string& path);
Result<Config> ParseConfig(const std::string& text, const std::string& source_name);

// The part of `config` the AD source reads by.
ad::Settings SourceSettings(const Config& config);

}  // namespace syncd

#endif  // SYNCD_SYNCD_CONFIG_H_
