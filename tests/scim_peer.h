// The SCIM test peer (tests/scim-peer, Node + SCIMMY) for the unit and integration tests:
// one process per profile, started on first use and stopped when the test
// binary ends, and a client for its /_control/ API.
#ifndef SYNCD_TESTS_SCIM_PEER_H_
#define SYNCD_TESTS_SCIM_PEER_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <string>

#include "core/model.h"
#include "store/store_config.h"

namespace syncd::testing {

// Runs `awaitable` on `loop` until it completes. The loop keeps running
// other work (kept-alive connections) only while the call is in progress.
template <typename T>
T RunOn(boost::asio::io_context& loop, boost::asio::awaitable<T> awaitable) {
  auto future = boost::asio::co_spawn(loop, std::move(awaitable), boost::asio::use_future);
  loop.restart();
  while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    loop.run_one_for(std::chrono::milliseconds(100));
  }
  return future.get();
}

class ScimPeer {
 public:
  // The peer of `profile` ("rfc" or "aws"); starts it on first use (fails
  // the test and returns a peer with an empty url() when it cannot start).
  static ScimPeer& Get(const std::string& profile);
  // Stops every peer started (the global test environment's TearDown).
  static void StopAll();

  const std::string& url() const { return url_; }      // the SCIM base URL
  const std::string& token() const { return token_; }  // the bearer token it accepts
  const std::string& profile() const { return profile_; }

  // A [store] for this peer with `token_file` holding the token (mode 0600).
  StoreConfig Config(const std::string& token_file) const;

  // The control API (loopback, no token). Fails the test on an error
  // status; returns the parsed JSON body (null when empty).
  boost::json::value Control(const std::string& method, const std::string& path,
                             const std::string& body = "");
  void Reset() { Control("POST", "/reset"); }
  void ResetStats() { Control("POST", "/reset-stats"); }
  void SetFaults(const std::string& json) { Control("POST", "/faults", json); }
  boost::json::object Stats();
  boost::json::object Dump();
  // stats.by_route[route] ("PATCH /Groups"), 0 when absent.
  int64_t Requests(const std::string& route);

 private:
  std::string profile_;
  std::string url_;
  std::string token_;
  std::string outfile_;
};

// Objects as the sink tests write them: a GUID-shaped externalId made from
// `n`, and a user with every attribute IAM Identity Center requires.
std::string TestGuid(int n);
SyncObject TestUser(int n, const std::string& name);
SyncObject TestGroup(int n, const std::string& name);

}  // namespace syncd::testing

#endif  // SYNCD_TESTS_SCIM_PEER_H_
