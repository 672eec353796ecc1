// A loopback TCP forwarder in front of the test DC that resets connections,
// as a flaky link or a proxy would: after passing a set number of bytes from
// the server to the client on a connection, it resets both sides (SO_LINGER 0,
// then close: an RST, not a FIN). TLS stays end to end, so syncd verifies the
// DC's certificate as usual when pointed at ldaps://<DC host name>:port().
#ifndef SYNCD_TESTS_INTEGRATION_FAULT_PROXY_H_
#define SYNCD_TESTS_INTEGRATION_FAULT_PROXY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace syncd::testing {

class ResettingProxy {
 public:
  static constexpr size_t kNever = SIZE_MAX;

  // Listens on 127.0.0.1 (an ephemeral port) and forwards each connection to
  // 127.0.0.1:upstream_port, resetting it after `reset_after` bytes from the
  // server (kNever: a plain forwarder). Throws if it cannot listen.
  ResettingProxy(int upstream_port, size_t reset_after);
  ~ResettingProxy();
  ResettingProxy(const ResettingProxy&) = delete;
  ResettingProxy& operator=(const ResettingProxy&) = delete;

  int port() const { return port_; }
  // For connections accepted from now on.
  void SetResetAfter(size_t bytes) { reset_after_ = bytes; }
  // Server-to-client bytes passed, over every connection so far.
  size_t BytesToClient() const { return bytes_to_client_; }
  int Resets() const { return resets_; }

 private:
  void Accept();
  void Relay(int client, size_t reset_after);

  int listener_ = -1;
  int port_ = 0;
  std::atomic<size_t> reset_after_;
  std::atomic<size_t> bytes_to_client_{0};
  std::atomic<int> resets_{0};
  std::atomic<bool> stop_{false};
  int upstream_port_;
  std::thread acceptor_;
  std::mutex relays_mutex_;
  std::vector<std::thread> relays_;
};

}  // namespace syncd::testing

#endif  // SYNCD_TESTS_INTEGRATION_FAULT_PROXY_H_
