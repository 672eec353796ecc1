#include "ldap/dc_discovery.h"

#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <cerrno>
#include <random>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include "core/strings.h"

namespace syncd::ldap {
namespace {

// Priority, weight and port come before the target name in SRV data; the
// shortest target is the root name, one byte.
constexpr size_t kSrvFixedBytes = 6;
constexpr uint16_t kLdapsPort = 636;

std::string RcodeName(int rcode) {
  static constexpr std::string_view kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                                "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                                "NXRRSET", "NOTAUTH", "NOTZONE"};
  if (rcode >= 0 && static_cast<size_t>(rcode) < std::size(kNames)) {
    return std::string(kNames[rcode]);
  }
  return "rcode " + std::to_string(rcode);
}

Result<SrvRecord> ParseSrvData(const ns_msg& message, const ns_rr& rr) {
  const uint8_t* data = ns_rr_rdata(rr);
  const size_t length = ns_rr_rdlen(rr);
  if (length < kSrvFixedBytes + 1) {
    return Status::DataLoss("SRV record data is " + std::to_string(length) +
                            " bytes; it needs at least 7");
  }
  SrvRecord record;
  record.priority = static_cast<uint16_t>(ns_get16(data));
  record.weight = static_cast<uint16_t>(ns_get16(data + 2));
  record.port = static_cast<uint16_t>(ns_get16(data + 4));
  record.ttl = ns_rr_ttl(rr);
  // The target may be compressed: pointers reach back into the whole packet,
  // so the name is read against the message bounds, then checked against the
  // record's own length.
  char name[NS_MAXDNAME];
  const int used = ns_name_uncompress(ns_msg_base(message), ns_msg_end(message),
                                      data + kSrvFixedBytes, name, sizeof(name));
  if (used < 0) {
    return Status::DataLoss("SRV target name is malformed (bad label or compression pointer)");
  }
  const size_t name_bytes = length - kSrvFixedBytes;
  if (static_cast<size_t>(used) != name_bytes) {
    return Status::DataLoss("SRV target name takes " + std::to_string(used) +
                            " bytes but the record leaves " + std::to_string(name_bytes));
  }
  record.target = name;
  return record;
}

uint32_t DefaultRandom(uint32_t bound) {
  thread_local std::mt19937 generator{std::random_device{}()};
  return std::uniform_int_distribution<uint32_t>(0, bound - 1)(generator);
}

// Draws one index of `group` the RFC 2782 way; `group` is non-empty with its
// weight 0 records first, so that a draw of 0 can pick them.
size_t DrawWeighted(const std::vector<SrvRecord>& group, const UniformRandom& random) {
  uint32_t total = 0;  // fits: a 64 KiB packet holds under 4,000 records of weight <= 65,535
  for (const SrvRecord& r : group) total += r.weight;
  if (total == 0) {
    return std::min<size_t>(random(static_cast<uint32_t>(group.size())), group.size() - 1);
  }
  const uint32_t draw = std::min(random(total + 1), total);
  uint32_t running = 0;
  for (size_t i = 0; i < group.size(); ++i) {
    running += group[i].weight;
    if (running >= draw) return i;
  }
  return group.size() - 1;  // unreachable: running ends at total >= draw
}

std::string HostPortKey(const std::string& host, uint16_t port) {
  return AsciiLower(host) + ":" + std::to_string(port);
}

// A Status with `code` (not ok) and `message`.
Status WithCode(Status::Code code, std::string message) {
  switch (code) {
    case Status::Code::kInvalidArgument:
      return Status::InvalidArgument(std::move(message));
    case Status::Code::kNotFound:
      return Status::NotFound(std::move(message));
    case Status::Code::kUnavailable:
      return Status::Unavailable(std::move(message));
    case Status::Code::kPermissionDenied:
      return Status::PermissionDenied(std::move(message));
    case Status::Code::kDataLoss:
      return Status::DataLoss(std::move(message));
    case Status::Code::kConflict:
      return Status::Conflict(std::move(message));
    case Status::Code::kOk:
    case Status::Code::kInternal:
      break;
  }
  return Status::Internal(std::move(message));
}

}  // namespace

Result<std::vector<SrvRecord>> ParseSrvAnswer(const uint8_t* packet, size_t size) {
  const std::string what = "DNS response of " + std::to_string(size) + " bytes";
  if (packet == nullptr || size < NS_HFIXEDSZ) {
    return Status::DataLoss(what + " is shorter than a DNS header (12 bytes)");
  }
  if (size > NS_MAXMSG) {
    return Status::DataLoss(what + " is longer than a DNS message can be");
  }
  ns_msg message;
  if (ns_initparse(packet, static_cast<int>(size), &message) < 0) {
    return Status::DataLoss(what +
                            " is malformed: its records run past the end or leave bytes over");
  }
  if (ns_msg_getflag(message, ns_f_qr) == 0) {
    return Status::DataLoss(what + " is a query, not a response");
  }
  const int rcode = ns_msg_getflag(message, ns_f_rcode);
  // NXDOMAIN is an answer: the name does not exist, so neither do its DCs.
  if (rcode == ns_r_nxdomain) return std::vector<SrvRecord>{};
  if (rcode != ns_r_noerror) {
    return Status::Unavailable("the DNS server answered " + RcodeName(rcode));
  }
  std::vector<SrvRecord> records;
  const int answers = ns_msg_count(message, ns_s_an);
  for (int i = 0; i < answers; ++i) {
    ns_rr rr;
    if (ns_parserr(&message, ns_s_an, i, &rr) < 0) {
      return Status::DataLoss(what + ": answer record " + std::to_string(i) + " is malformed");
    }
    if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in) continue;
    Result<SrvRecord> record = ParseSrvData(message, rr);
    if (!record.ok()) {
      return record.status().WithContext(what + ": answer record " + std::to_string(i));
    }
    records.push_back(std::move(record).value());
  }
  return records;
}

std::vector<SrvRecord> OrderSrvRecords(std::vector<SrvRecord> records,
                                       const UniformRandom& random) {
  std::stable_sort(records.begin(), records.end(),
                   [](const SrvRecord& a, const SrvRecord& b) { return a.priority < b.priority; });
  std::vector<SrvRecord> ordered;
  ordered.reserve(records.size());
  auto group_begin = records.begin();
  while (group_begin != records.end()) {
    auto group_end = std::find_if(group_begin, records.end(), [&](const SrvRecord& r) {
      return r.priority != group_begin->priority;
    });
    std::vector<SrvRecord> group(std::make_move_iterator(group_begin),
                                 std::make_move_iterator(group_end));
    std::stable_partition(group.begin(), group.end(),
                          [](const SrvRecord& r) { return r.weight == 0; });
    while (!group.empty()) {
      const size_t chosen = DrawWeighted(group, random);
      ordered.push_back(std::move(group[chosen]));
      group.erase(group.begin() + static_cast<std::ptrdiff_t>(chosen));
    }
    group_begin = group_end;
  }
  return ordered;
}

SrvResolver SystemSrvResolver(std::chrono::seconds timeout, int attempts) {
  return [timeout, attempts](const std::string& qname) -> Result<std::vector<uint8_t>> {
    // A private state per call: the global _res is shared by every thread.
    struct __res_state state {};
    if (res_ninit(&state) != 0) {
      return Status::Unavailable("cannot load the resolver configuration (/etc/resolv.conf)");
    }
    state.retrans = static_cast<int>(std::max<int64_t>(1, timeout.count()));
    state.retry = std::max(1, attempts);
    std::vector<uint8_t> answer(NS_MAXMSG);
    const int length = res_nquery(&state, qname.c_str(), ns_c_in, ns_t_srv, answer.data(),
                                  static_cast<int>(answer.size()));
    const int saved_errno = errno;
    const int error = state.res_h_errno;
    res_nclose(&state);
    if (length >= 0) {
      // res_nquery may report the full length of an answer that did not fit.
      answer.resize(std::min(answer.size(), static_cast<size_t>(length)));
      return answer;
    }
    const std::string text = hstrerror(error);
    switch (error) {
      case HOST_NOT_FOUND:
        return Status::NotFound("no such name (NXDOMAIN)");
      case NO_DATA:
        return Status::NotFound("no SRV records (NODATA)");
      case TRY_AGAIN:
        return Status::Unavailable("no answer from the name servers, or SERVFAIL (TRY_AGAIN): " +
                                   text);
      case NETDB_INTERNAL:
        return Status::Unavailable("resolver error: " + text + ": " +
                                   std::error_code(saved_errno, std::generic_category()).message());
      default:
        return Status::Unavailable("DNS query failed (h_errno " + std::to_string(error) +
                                   "): " + text);
    }
  };
}

Result<std::vector<DcCandidate>> DiscoverDcs(const DiscoveryOptions& options) {
  std::string domain = options.domain;
  if (!domain.empty() && domain.back() == '.') domain.pop_back();
  if (domain.empty() || domain.front() == '.') {
    return Status::InvalidArgument("DC discovery needs the domain's DNS name, got \"" +
                                   options.domain + "\"");
  }
  // A dot would turn the site into extra labels of a different name.
  if (options.site.find('.') != std::string::npos) {
    return Status::InvalidArgument("AD site name \"" + options.site + "\" contains a dot");
  }
  struct Query {
    std::string qname;
    bool site;
  };
  std::vector<Query> queries;
  if (!options.site.empty()) {
    queries.push_back({"_ldap._tcp." + options.site + "._sites.dc._msdcs." + domain, true});
  }
  queries.push_back({"_ldap._tcp.dc._msdcs." + domain, false});

  const SrvResolver resolver = options.resolver ? options.resolver : SystemSrvResolver();
  const UniformRandom random = options.random ? options.random : UniformRandom(DefaultRandom);

  std::vector<DcCandidate> candidates;
  std::set<std::string> seen;
  std::vector<Status> failures;
  std::vector<std::string> outcomes;  // one per name, for the error when nothing is found
  for (const Query& query : queries) {
    // The resolver's NotFound (NXDOMAIN, NODATA) is an answer without DCs,
    // like an NXDOMAIN packet; its words are kept for the error message.
    std::string without_dcs = "no SRV records";
    std::vector<SrvRecord> records;
    Result<std::vector<uint8_t>> packet = resolver(query.qname);
    if (!packet.ok() && packet.status().code() == Status::Code::kNotFound) {
      without_dcs = packet.status().message();
    } else {
      Result<std::vector<SrvRecord>> parsed = packet.ok()
                                                  ? ParseSrvAnswer(packet->data(), packet->size())
                                                  : Result<std::vector<SrvRecord>>(packet.status());
      if (!parsed.ok()) {
        failures.push_back(parsed.status().WithContext(query.qname));
        outcomes.push_back(failures.back().message());
        continue;
      }
      records = std::move(parsed).value();
    }
    bool declared_unavailable = false;
    for (SrvRecord& record : OrderSrvRecords(std::move(records), random)) {
      if (record.target == ".") {
        declared_unavailable = true;
        continue;
      }
      if (!seen.insert(HostPortKey(record.target, record.port)).second) continue;
      candidates.push_back(
          {std::move(record.target), record.port, record.priority, record.weight, query.site});
    }
    outcomes.push_back(
        query.qname + ": " +
        (declared_unavailable ? "service declared unavailable (target \".\")" : without_dcs));
  }

  if (!candidates.empty()) {
    if (options.on_warning) {
      for (const Status& failure : failures) options.on_warning(failure.message());
    }
    return candidates;
  }
  std::string message = "no domain controller for " + domain + " in DNS: ";
  for (size_t i = 0; i < outcomes.size(); ++i) {
    message += (i > 0 ? "; " : "") + outcomes[i];
  }
  // The most actionable code wins: a failed query may work on retry, a
  // malformed answer points at the DNS server, no records at configuration.
  for (Status::Code code : {Status::Code::kUnavailable, Status::Code::kDataLoss}) {
    if (std::any_of(failures.begin(), failures.end(),
                    [code](const Status& failure) { return failure.code() == code; })) {
      return WithCode(code, message);
    }
  }
  return WithCode(failures.empty() ? Status::Code::kNotFound : failures.front().code(), message);
}

std::vector<std::string> CandidateUris(const std::vector<DcCandidate>& candidates, bool ldaps) {
  std::vector<std::string> uris;
  std::set<std::string> seen;
  for (const DcCandidate& candidate : candidates) {
    const uint16_t port = ldaps ? kLdapsPort : candidate.port;
    if (!seen.insert(HostPortKey(candidate.host, port)).second) continue;
    uris.push_back((ldaps ? "ldaps://" : "ldap://") + candidate.host + ":" + std::to_string(port));
  }
  return uris;
}

std::vector<DcCandidate> PreferredOrder(
    const std::vector<DcCandidate>& candidates,
    const std::map<std::string, std::chrono::system_clock::time_point>& failed_at,
    std::chrono::system_clock::time_point now, std::chrono::seconds retry_preferred_after) {
  std::map<std::string, std::chrono::system_clock::time_point> last_failure;
  for (const auto& [host, when] : failed_at) {
    auto& slot = last_failure[AsciiLower(host)];
    slot = std::max(slot, when);
  }
  // A failure time after `now` (clock stepped back) counts as recent.
  auto preferred = [&](const DcCandidate& candidate) {
    auto it = last_failure.find(AsciiLower(candidate.host));
    return it == last_failure.end() || now - it->second >= retry_preferred_after;
  };
  std::vector<DcCandidate> ordered = candidates;
  std::stable_partition(ordered.begin(), ordered.end(), preferred);
  return ordered;
}

}  // namespace syncd::ldap
