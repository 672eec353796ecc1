// Finding a domain's DCs the way AD's DC locator does: DNS SRV records
// (RFC 2782) under _msdcs, the client's site first.
//
// Three layers, each usable alone: ParseSrvAnswer reads one DNS response
// packet (pure; no I/O); OrderSrvRecords applies RFC 2782's priority and
// weighted-random order; DiscoverDcs asks a resolver for the site and domain
// names and merges the answers. PreferredOrder and CandidateUris turn the
// result into the URI list a ConnectOptions tries in order.
#ifndef SYNCD_LDAP_DC_DISCOVERY_H_
#define SYNCD_LDAP_DC_DISCOVERY_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace syncd::ldap {

// One SRV resource record from an answer section.
struct SrvRecord {
  std::string target;  // host name without the trailing dot; "." means "no service here"
  uint16_t port = 0;
  uint16_t priority = 0;  // lower is tried first
  uint16_t weight = 0;    // share of the draws within a priority
  uint32_t ttl = 0;       // seconds
};

// The SRV records in the answer section of `packet`, a DNS response in wire
// format (RFC 1035), in the order they appear; records of other types or
// classes are skipped. Compressed names are followed. An NXDOMAIN answer or
// one without SRV records is ok and empty; a truncated (TC) answer yields the
// records it holds. Reads `size` bytes at `packet` and keeps no pointer.
// Errors: DataLoss for a packet that is not a well-formed DNS response (cut
// short, a bad name or record length); Unavailable when the server answered
// with an error code (SERVFAIL, REFUSED, ...).
Result<std::vector<SrvRecord>> ParseSrvAnswer(const uint8_t* packet, size_t size);

// A uniformly distributed number in [0, bound); bound >= 1.
using UniformRandom = std::function<uint32_t(uint32_t bound)>;

// `records` in the order RFC 2782 says to try them: ascending priority, and
// within a priority a weighted random draw without replacement (weight 0
// records keep a small chance of coming first; a priority whose weights are
// all 0 is drawn uniformly, so that clients spread their load). Targets of
// "." are kept; callers drop them.
std::vector<SrvRecord> OrderSrvRecords(std::vector<SrvRecord> records, const UniformRandom& random);

// Sends an SRV query for `qname` (a fully qualified name) and returns the raw
// response packet. NotFound when the name or its SRV records do not exist;
// any other error when the query itself failed. Messages describe the failure;
// the caller adds the name.
using SrvResolver = std::function<Result<std::vector<uint8_t>>(const std::string& qname)>;

// A resolver over the system's DNS configuration (/etc/resolv.conf) through
// res_nquery with a private resolver state per call, so it is safe to use
// from several threads. `timeout` is per attempt and per name server.
SrvResolver SystemSrvResolver(std::chrono::seconds timeout = std::chrono::seconds(5),
                              int attempts = 2);

struct DcCandidate {
  std::string host;  // the SRV target, as DNS gave it
  uint16_t port = 0;
  uint16_t priority = 0;
  uint16_t weight = 0;
  bool from_site = false;  // listed under the configured site
};

struct DiscoveryOptions {
  std::string domain;    // the AD domain's DNS name, "corp.example.com"
  std::string site;      // the client's AD site; empty: domain-wide only
  SrvResolver resolver;  // empty: SystemSrvResolver()
  UniformRandom random;  // empty: a generator seeded from std::random_device
  // Told about a query that failed while the other still found DCs
  // ("_ldap._tcp.Paris._sites...: the DNS server answered SERVFAIL"); may be
  // empty.
  std::function<void(const std::string&)> on_warning;
};

// The DCs of `options.domain`: those registered for `options.site` under
// _ldap._tcp.<site>._sites.dc._msdcs.<domain> first, then the remaining ones
// from _ldap._tcp.dc._msdcs.<domain>, each list in RFC 2782 order and without
// repeating a host:port (host compared case-insensitively). A failing site
// query does not stop the domain-wide one.
// Errors: InvalidArgument for an empty domain or a site with a dot; when no DC is found,
// Unavailable if a query failed (retrying may help), DataLoss if an answer
// was malformed, NotFound otherwise; the message names every queried name.
Result<std::vector<DcCandidate>> DiscoverDcs(const DiscoveryOptions& options);

// LDAP URIs for `candidates`, in order and without repeats: "ldap://host:port"
// with the SRV port, or, with `ldaps`, "ldaps://host:636" (SRV records
// advertise the plain LDAP port only).
std::vector<std::string> CandidateUris(const std::vector<DcCandidate>& candidates, bool ldaps);

// `candidates` with the hosts that failed less than `retry_preferred_after`
// before `now` moved to the end; both groups keep their relative order.
// `failed_at` maps host names (compared case-insensitively) to the time of
// their last failure. Wall-clock time, so that a failure can outlive one
// `--once` process in the state database.
std::vector<DcCandidate> PreferredOrder(
    const std::vector<DcCandidate>& candidates,
    const std::map<std::string, std::chrono::system_clock::time_point>& failed_at,
    std::chrono::system_clock::time_point now, std::chrono::seconds retry_preferred_after);

}  // namespace syncd::ldap

#endif  // SYNCD_LDAP_DC_DISCOVERY_H_
