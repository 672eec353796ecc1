// Kerberos initiator credentials for the daemon, from a host keytab.
//
// syncd binds to AD with SASL GSSAPI as a principal whose keys are in a
// keytab (by default the machine account, HOST$@REALM, in /etc/krb5.keytab).
// KerberosCredentials gets a TGT for it from the KDC, keeps it in a private
// in-memory credential cache (never the user's default cache) and points
// GSSAPI at that cache through KRB5CCNAME, so that libldap's GSSAPI binds
// (Cyrus SASL, MIT krb5) use it. The daemon calls RenewIfNeeded() before each
// run so that a long-lived process never binds with an expired ticket.
#ifndef SYNCD_LDAP_KERBEROS_H_
#define SYNCD_LDAP_KERBEROS_H_

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace syncd::ldap {

struct KerberosOptions {
  std::string keytab = "/etc/krb5.keytab";  // a path (a "FILE:" prefix is accepted)
  // Empty: the host's machine account, DefaultMachinePrincipal(short host
  // name, default realm). Without a realm ("svc-sync"), the default realm
  // from krb5.conf is appended.
  std::string principal;
  // Where the credentials live; a private MEMORY cache (empty: the default).
  std::string ccache_name = "MEMORY:syncd";
};

// The machine account principal of a host: "SYNC01$@CORP.EXAMPLE.COM" for
// hostname "sync01.corp.example.com" (or "sync01") and realm
// "CORP.EXAMPLE.COM": the host name up to its first dot, upper-cased, then
// "$@" and the realm. Empty if hostname or realm is empty.
std::string DefaultMachinePrincipal(std::string_view hostname, std::string_view realm);

// Initial credentials for one principal, acquired from a keytab and held in a
// private credential cache. Not thread-safe: use one object from one thread
// (the event loop). GSSAPI binds on worker threads may run while
// RenewIfNeeded() replaces the cache: the replacement is atomic.
class KerberosCredentials {
 public:
  // Checks that the keytab can be read and holds a key for the principal,
  // gets a TGT from the KDC with that key, stores it in the private cache and
  // sets KRB5CCNAME to the cache's name.
  //
  // Precondition (setenv): call from the loop thread before any worker thread
  // runs an LDAP bind or otherwise reads the environment; KRB5CCNAME is set
  // only on success. Errors:
  //   InvalidArgument   the keytab is missing, unreadable or not a keytab; it
  //                     holds no key for the principal (the message lists the
  //                     principals it does hold); no default realm
  //   PermissionDenied  the KDC refused the key (preauthentication failed:
  //                     the keytab is stale, e.g. the password changed; an
  //                     unknown or disabled principal; no usable key type)
  //   Unavailable       the KDC could not be reached, or clock skew
  // Messages carry krb5's own error text.
  static Result<std::unique_ptr<KerberosCredentials>> Acquire(const KerberosOptions& options);

  // Destroys the private cache (binds after this fail): keep the object for
  // the daemon's life, and one object per cache name.
  ~KerberosCredentials();
  KerberosCredentials(const KerberosCredentials&) = delete;
  KerberosCredentials& operator=(const KerberosCredentials&) = delete;

  // Re-acquires from the keytab when the cache holds no TGT for the
  // principal or it ends within `margin`. Otherwise only reads the cache
  // (in memory; no KDC round trip). Errors as for Acquire(); a failure leaves
  // the cache as it was.
  Status RenewIfNeeded(std::chrono::seconds margin = std::chrono::minutes(5));

  // When the TGT in the cache ends.
  std::chrono::system_clock::time_point expires() const { return expires_; }
  // The client principal, unparsed with its realm ("SYNC01$@CORP.EXAMPLE.COM").
  const std::string& principal() const { return principal_; }
  // The credential cache's full name ("MEMORY:syncd"), as set in KRB5CCNAME.
  const std::string& ccache_name() const { return ccache_name_; }

 private:
  struct Krb5;
  KerberosCredentials(std::unique_ptr<Krb5> krb5, std::string keytab, std::string principal,
                      std::string ccache_name);
  Status GetInitialCredentials();

  std::unique_ptr<Krb5> krb5_;
  std::string keytab_;  // the path, for messages
  std::string principal_;
  std::string ccache_name_;
  std::chrono::system_clock::time_point expires_;
};

}  // namespace syncd::ldap

#endif  // SYNCD_LDAP_KERBEROS_H_
