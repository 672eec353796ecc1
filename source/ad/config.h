// What the Active Directory source is configured with: the [source] section
// (which DCs, how to bind, the change feed), and the settings it reads with.
#ifndef SYNCD_SOURCE_AD_CONFIG_H_
#define SYNCD_SOURCE_AD_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ldap/connection.h"
#include "scope/scope.h"

namespace syncd {

// Where incremental runs learn what changed. auto: DirSync, and uSNChanged
// polling when the DC refuses DirSync to the account.
enum class ChangeFeed { kAuto, kDirSync, kUsn };
const char* ChangeFeedName(ChangeFeed feed);  // "auto", "dirsync", "usn"

inline constexpr char kDefaultKeytab[] = "/etc/krb5.keytab";

struct SourceConfig {
  // Either explicit URIs (tried in order), or `domain` (and optionally `site`)
  // for DNS SRV discovery of its DCs.
  std::vector<std::string> uris;
  std::string domain;
  std::string site;
  std::string base_dn;
  ldap::AuthMethod auth = ldap::AuthMethod::kSimple;
  std::string bind_dn;
  std::string password_file;
  // auth = "gssapi": credentials from this keytab for `principal` (default:
  // the host's machine account, HOST$). Unset: the systemd credential
  // $CREDENTIALS_DIRECTORY/krb5.keytab when present, else /etc/krb5.keytab.
  // Set to "": the caller's own credential cache (after kinit).
  std::string keytab = kDefaultKeytab;
  std::string principal;
  std::string tls_ca_file;
  bool starttls = false;
  bool tls_verify = true;
  int page_size = 500;
  uint32_t range_step = 0;  // 0: let the server choose the window size
  int connect_timeout = 10;
  int timeout = 120;
  ChangeFeed change_feed = ChangeFeed::kAuto;
  // A full reconciliation at least this often, whatever the feed says.
  int reconcile_interval_hours = 168;
};

namespace ad {

// Everything the AD source reads by: [source], [scope] and [mapping].
struct Settings {
  SourceConfig source;
  scope::ScopeConfig scope;
  scope::AttributeMapping mapping = scope::AttributeMapping::Defaults();
};

}  // namespace ad
}  // namespace syncd

#endif  // SYNCD_SOURCE_AD_CONFIG_H_
