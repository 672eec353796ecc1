// [store]: which identity store syncd writes to, and how to reach it.
#ifndef SYNCD_STORE_STORE_CONFIG_H_
#define SYNCD_STORE_STORE_CONFIG_H_

#include <string>

namespace syncd {

struct StoreConfig {
  std::string kind = "local";  // "local" or "scim"
  // kind = "local": the SQLite file.
  std::string path = "/var/lib/syncd/store.db";

  // kind = "scim" (and later remote kinds).
  std::string url;                  // the SCIM base URL; https, or http to a loopback host
  std::string token_file;           // the bearer token; re-read on SIGHUP, never logged
  std::string profile = "generic";  // "aws" (IAM Identity Center's limits) or "generic"
  std::string tls_ca_file;          // "" : the system's CA store
  // Apply pacing; 0 takes the sink's default (its capabilities).
  double rate_limit = 0;  // requests/s
  int max_in_flight = 0;
  // "flatten": groups get their effective user members; "direct": nested
  // groups as members. "" takes the profile's default.
  std::string nested_groups;
  // Which existing target object a create that meets a conflict may take
  // over: "externalId" (one syncd made), "userName", or "none".
  std::string adopt = "externalId";
};

}  // namespace syncd

#endif  // SYNCD_STORE_STORE_CONFIG_H_
