// A connection to one domain controller, driven from a Boost.Asio event loop.
//
// Bring-up (TCP, TLS, bind) blocks inside libldap, so it runs on a worker
// pool; afterwards every operation is started on the loop and its results are
// drained from the handle's socket with zero-timeout ldap_result() calls. One
// operation is in flight per connection at a time.
#ifndef SYNCD_LDAP_CONNECTION_H_
#define SYNCD_LDAP_CONNECTION_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "core/status.h"
#include "ldap/directory.h"
#include "ldap/entry.h"

namespace syncd::ldap {

enum class AuthMethod { kSimple, kGssapi };

// AD's default MaxNotificationPerConn policy.
inline constexpr size_t kMaxNotificationsPerConnection = 5;

struct ConnectOptions {
  std::vector<std::string> uris;  // tried in order; the first that binds wins
  AuthMethod auth = AuthMethod::kSimple;
  std::string bind_dn;   // simple bind
  std::string password;  // simple bind; read from a file by the caller, never logged
  std::string tls_ca_file;
  bool starttls = false;   // for ldap:// URIs
  bool tls_verify = true;  // off only when the config says so explicitly
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds operation_timeout{120};  // per response message
};

class Connection final : public Directory {
 public:
  // Connects and binds to the first URI in `options.uris` that works; failed
  // URIs are reported through `on_failover` (the URI, and why) and skipped.
  // Authentication failures stop at once: another DC will say the same.
  static boost::asio::awaitable<Result<std::unique_ptr<Connection>>> Open(
      boost::asio::any_io_executor loop, boost::asio::thread_pool& workers,
      const ConnectOptions& options,
      const std::function<void(const std::string& uri, const Status& why)>& on_failover);

  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  boost::asio::awaitable<Result<SearchOutcome>> PagedSearch(const SearchRequest& request,
                                                            const EntryHandler& on_entry) override;
  boost::asio::awaitable<Result<std::vector<Entry>>> Search(const SearchRequest& request) override;
  boost::asio::awaitable<Result<DirSyncPage>> DirSync(const DirSyncRequest& request,
                                                      const EntryHandler& on_entry) override;
  const std::string& uri() const override { return uri_; }

  // Registers one change-notification search (1.2.840.113556.1.4.528) per
  // request and hands `on_change` each entry the DC reports as changed. The
  // DC sends the object after each change to it (base scope) or to one of its
  // children (one-level scope). Runs until the connection fails, a search
  // ends, or the caller cancels; returns why (always an error Status).
  // A wake-up signal only: changes made while not registered are not replayed.
  // Preconditions: at most kMaxNotificationsPerConnection requests, and no
  // other operation on this connection meanwhile.
  // A non-ok Status from `on_change` ends the watch and is returned.
  boost::asio::awaitable<Status> WatchChanges(const std::vector<SearchRequest>& requests,
                                              const EntryHandler& on_change);

  // The negotiated SASL security strength factor (0 for simple binds over TLS).
  int sasl_ssf() const { return sasl_ssf_; }

 private:
  struct Impl;
  Connection(std::unique_ptr<Impl> impl, std::string uri, int ssf);
  std::unique_ptr<Impl> impl_;
  std::string uri_;
  int sasl_ssf_ = 0;
};

}  // namespace syncd::ldap

#endif  // SYNCD_LDAP_CONNECTION_H_
