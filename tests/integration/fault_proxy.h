// A loopback TCP relay in front of one of the test DC's ports that injects a
// fault into each connection, as a flaky link, a DC going away or a meddling
// middlebox would. TLS stays end to end, so syncd verifies the DC's
// certificate as usual when pointed at <scheme>://<DC host name>:port().
#ifndef SYNCD_TESTS_INTEGRATION_FAULT_PROXY_H_
#define SYNCD_TESTS_INTEGRATION_FAULT_PROXY_H_

#include <atomic>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace syncd::testing {

class FaultProxy {
 public:
  enum class Fault {
    kNone,              // relays both ways untouched
    kResetAfter,        // passes `bytes` from the DC, then resets both sides
                        // (SO_LINGER 0, then close: an RST, not a FIN)
    kHangUpAfter,       // passes `bytes` from the DC, then closes both sides (a FIN)
    kDropAtFirstReply,  // closes both sides when the DC first answers, passing
                        // none of it (mid-handshake)
    kRefuseStartTls,    // renames the StartTLS request, which the DC then refuses
    kSwallowReplies,    // passes requests on, never an answer: a DC that hangs
  };

  // Listens on 127.0.0.1 (an ephemeral port) and relays each connection to
  // 127.0.0.1:upstream_port with `fault`; `bytes` is read only by kResetAfter
  // and kHangUpAfter. Throws std::runtime_error if it cannot listen.
  FaultProxy(int upstream_port, Fault fault, size_t bytes = 0);
  // Stops accepting and ends every open relay.
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  // For connections accepted from now on; open ones keep the fault they had.
  void SetFault(Fault fault, size_t bytes = 0);
  // Bytes passed from the DC to clients, over every connection so far.
  size_t BytesToClient() const { return bytes_to_client_; }
  // Connections the fault cut (reset, hung up or dropped) so far.
  int Cuts() const { return cuts_; }

 private:
  void Accept();
  void Relay(int client, Fault fault, size_t bytes);

  const int upstream_port_;
  int listener_ = -1;
  int port_ = 0;
  std::mutex fault_mutex_;  // fault_ and bytes_ change together
  Fault fault_;
  size_t bytes_;
  std::atomic<size_t> bytes_to_client_{0};
  std::atomic<int> cuts_{0};
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex relays_mutex_;
  std::vector<std::thread> relays_;
};

}  // namespace syncd::testing

#endif  // SYNCD_TESTS_INTEGRATION_FAULT_PROXY_H_
