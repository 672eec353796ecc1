// Finding, reaching and staying with a domain controller: the DC list (as
// configured or from DNS SRV records), failover with a memory of the DCs
// that failed, the pinning of a run to the DC its cursor belongs to, and
// the Kerberos credentials GSSAPI binds use.
#ifndef SYNCD_SOURCE_AD_DC_H_
#define SYNCD_SOURCE_AD_DC_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "ldap/connection.h"
#include "ldap/kerberos.h"
#include "source/ad/config.h"

namespace syncd::ad {

// Hosts (lower case) -> when a connection to them last failed.
using DcFailures = std::map<std::string, std::chrono::system_clock::time_point>;
// How long a DC that failed is tried after the others.
inline constexpr std::chrono::minutes kRetryPreferredDcAfter{10};

// For auth = "gssapi" with a keytab: credentials for [source] principal
// (default the machine account) from [source] keytab, in a private cache
// that KRB5CCNAME then names. Null when not needed (simple binds; keytab = ""
// for the caller's own cache). Call from the loop thread before any bind.
Result<std::unique_ptr<ldap::KerberosCredentials>> AcquireKerberos(const SourceConfig& source);

// The DCs to try, in order: [source] uris as written, or the DCs DNS SRV
// records name for [source] domain (site first, RFC 2782 order; ldap:// for
// GSSAPI and StartTLS, ldaps:// otherwise). Hosts in `failures` that failed
// within kRetryPreferredDcAfter go last.
Result<std::vector<std::string>> SourceUris(const SourceConfig& source,
                                            const DcFailures* failures = nullptr);

// What to do when a DC fails and the next one is tried (Connection::Open's
// on_failover): log it, and remember it in `failures` when given.
std::function<void(const std::string& uri, const Status& why)> OnDcFailover(DcFailures* failures);

// How to reach the DCs in `uris` with the configured credentials (the
// password file read now), with `pinned_host` (the DC a stored cursor
// belongs to; empty: none) first when it is there.
Result<ldap::ConnectOptions> ConnectOptionsFor(const SourceConfig& source,
                                               std::vector<std::string> uris,
                                               const std::string& pinned_host);

// Connects and binds to the first DC of SourceUris that answers, trying
// `pinned_host` first; failed DCs are logged and remembered in `failures`
// (when given).
boost::asio::awaitable<Result<std::unique_ptr<ldap::Connection>>> ConnectToDc(
    const SourceConfig& source, boost::asio::thread_pool& workers, const std::string& pinned_host,
    DcFailures* failures);

}  // namespace syncd::ad

#endif  // SYNCD_SOURCE_AD_DC_H_
