#include "source/ad/dc.h"

#include <algorithm>
#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <utility>

#include "core/input_file.h"
#include "core/log.h"
#include "core/strings.h"
#include "ldap/dc_discovery.h"

namespace syncd::ad {

namespace {

// "ldaps://dc1.corp.example.com:636" -> "dc1.corp.example.com".
std::string UriHost(const std::string& uri) {
  const auto scheme = uri.find("://");
  std::string host = uri.substr(scheme == std::string::npos ? 0 : scheme + 3);
  return AsciiLower(host.substr(0, host.find_first_of(":/")));
}

}  // namespace

Result<std::unique_ptr<ldap::KerberosCredentials>> AcquireKerberos(const SourceConfig& source) {
  if (source.auth != ldap::AuthMethod::kGssapi || source.keytab.empty()) {
    return std::unique_ptr<ldap::KerberosCredentials>();
  }
  ldap::KerberosOptions options;
  options.keytab = source.keytab;
  options.principal = source.principal;
  auto credentials = ldap::KerberosCredentials::Acquire(options);
  if (!credentials.ok()) return credentials.status();
  Log(LogLevel::kInfo,
      "Kerberos: credentials for " + (*credentials)->principal() + " from " + source.keytab);
  return std::move(*credentials);
}

std::function<void(const std::string& uri, const Status& why)> OnDcFailover(DcFailures* failures) {
  return [failures](const std::string& uri, const Status& why) {
    Log(LogLevel::kWarning, why.message() + "; trying the next DC");
    if (failures != nullptr) (*failures)[UriHost(uri)] = std::chrono::system_clock::now();
  };
}

Result<std::vector<std::string>> SourceUris(const SourceConfig& source,
                                            const DcFailures* failures) {
  if (source.domain.empty() || !source.uris.empty()) return source.uris;
  ldap::DiscoveryOptions discovery;
  discovery.domain = source.domain;
  discovery.site = source.site;
  discovery.on_warning = [](const std::string& why) { Log(LogLevel::kWarning, why); };
  auto found = ldap::DiscoverDcs(discovery);
  if (!found.ok()) return found.status().WithContext("[source] domain: DC discovery");
  std::vector<ldap::DcCandidate> candidates = std::move(*found);
  if (failures != nullptr && !failures->empty()) {
    candidates = ldap::PreferredOrder(candidates, *failures, std::chrono::system_clock::now(),
                                      kRetryPreferredDcAfter);
  }
  const bool ldaps = source.auth == ldap::AuthMethod::kSimple && !source.starttls;
  auto uris = ldap::CandidateUris(candidates, ldaps);
  std::string listed;
  for (const auto& uri : uris) listed += (listed.empty() ? "" : ", ") + uri;
  Log(LogLevel::kDebug, "DCs of " + source.domain + ": " + listed);
  return uris;
}

Result<ldap::ConnectOptions> ConnectOptionsFor(const SourceConfig& source,
                                               std::vector<std::string> uris,
                                               const std::string& pinned_host) {
  ldap::ConnectOptions options;
  options.uris = std::move(uris);
  // Stay with the DC the watermark belongs to while it answers: another DC
  // means a full reconciliation for uSNChanged, replays for DirSync.
  if (!pinned_host.empty()) {
    std::stable_partition(options.uris.begin(), options.uris.end(), [&](const std::string& uri) {
      return AsciiLower(uri).find("//" + AsciiLower(pinned_host)) != std::string::npos;
    });
  }
  options.auth = source.auth;
  options.bind_dn = source.bind_dn;
  if (options.auth == ldap::AuthMethod::kSimple) {
    auto password = ReadSecretFile(source.password_file, "source.password_file");
    if (!password.ok()) return password.status();
    options.password = std::move(*password);
  }
  options.tls_ca_file = source.tls_ca_file;
  options.starttls = source.starttls;
  options.tls_verify = source.tls_verify;
  if (!options.tls_verify) {
    Log(LogLevel::kWarning,
        "TLS certificate verification is off (source.tls_verify = false): anyone on the path "
        "can impersonate the DC");
  }
  options.connect_timeout = std::chrono::seconds(source.connect_timeout);
  options.operation_timeout = std::chrono::seconds(source.timeout);
  return options;
}

boost::asio::awaitable<Result<std::unique_ptr<ldap::Connection>>> ConnectToDc(
    const SourceConfig& source, boost::asio::thread_pool& workers, const std::string& pinned_host,
    DcFailures* failures) {
  auto uris = SourceUris(source, failures);
  if (!uris.ok()) co_return uris.status();
  auto options = ConnectOptionsFor(source, std::move(*uris), pinned_host);
  if (!options.ok()) co_return options.status();
  auto executor = co_await boost::asio::this_coro::executor;
  auto connection =
      co_await ldap::Connection::Open(executor, workers, *options, OnDcFailover(failures));
  co_return connection;
}

}  // namespace syncd::ad
