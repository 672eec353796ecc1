#include "tests/integration/fault_proxy.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string_view>

namespace syncd::testing {
namespace {

constexpr int kPollMs = 50;  // how soon a relay notices the proxy stopping

// send() with MSG_NOSIGNAL: a peer gone must not raise SIGPIPE in the test.
bool SendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// An abortive close: the peer gets an RST, and its next read or write fails
// with ECONNRESET or EPIPE.
void Reset(int fd) {
  linger abort{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  close(fd);
}

// Renames the StartTLS OID in a request to one the DC does not know. Same
// length, so the BER lengths stay right; the DC says it has no such extended
// operation.
void RenameStartTlsOid(char* data, size_t size) {
  constexpr std::string_view kStartTlsOid = "1.3.6.1.4.1.1466.20037";
  const size_t at = std::string_view(data, size).find(kStartTlsOid);
  if (at != std::string_view::npos) data[at + kStartTlsOid.size() - 1] = '8';
}

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

}  // namespace

FaultProxy::FaultProxy(int upstream_port, Fault fault, size_t bytes)
    : upstream_port_(upstream_port), fault_(fault), bytes_(bytes) {
  listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr = Loopback(0);
  if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener_, 16) != 0) {
    close(listener_);
    throw std::runtime_error("fault proxy: cannot listen on loopback");
  }
  socklen_t len = sizeof addr;
  getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { Accept(); });
}

FaultProxy::~FaultProxy() {
  stop_ = true;
  acceptor_.join();
  close(listener_);
  std::lock_guard lock(relays_mutex_);
  for (auto& relay : relays_) relay.join();
}

void FaultProxy::SetFault(Fault fault, size_t bytes) {
  std::lock_guard lock(fault_mutex_);
  fault_ = fault;
  bytes_ = bytes;
}

void FaultProxy::Accept() {
  while (!stop_) {
    pollfd ready{listener_, POLLIN, 0};
    if (poll(&ready, 1, kPollMs) <= 0) continue;
    const int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    Fault fault;
    size_t bytes;
    {
      std::lock_guard lock(fault_mutex_);
      fault = fault_;
      bytes = bytes_;
    }
    std::lock_guard lock(relays_mutex_);
    relays_.emplace_back([this, client, fault, bytes] { Relay(client, fault, bytes); });
  }
}

void FaultProxy::Relay(int client, Fault fault, size_t bytes) {
  const int upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(upstream_port_);
  if (connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(upstream);
    Reset(client);
    return;
  }
  // How many bytes from the DC pass before the cut; dropping at the first
  // reply is hanging up after none.
  size_t cut_after = SIZE_MAX;
  if (fault == Fault::kResetAfter || fault == Fault::kHangUpAfter) cut_after = bytes;
  if (fault == Fault::kDropAtFirstReply) cut_after = 0;
  size_t passed = 0;
  char buffer[16384];
  pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
  bool open = true;
  while (open && !stop_) {
    if (poll(fds, 2, kPollMs) < 0) break;
    for (int i = 0; i < 2 && open; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        open = false;
        break;
      }
      size_t size = static_cast<size_t>(n);
      const bool from_dc = i == 1;
      if (from_dc && fault == Fault::kSwallowReplies) continue;
      if (!from_dc && fault == Fault::kRefuseStartTls) RenameStartTlsOid(buffer, size);
      if (from_dc) size = std::min(size, cut_after - passed);
      if (!SendAll(fds[1 - i].fd, buffer, size)) open = false;
      if (from_dc) {
        passed += size;
        bytes_to_client_ += size;
        if (passed == cut_after) {
          ++cuts_;
          if (fault == Fault::kResetAfter) {
            Reset(client);
            Reset(upstream);
            return;
          }
          open = false;  // a hang-up: both sides closed below, each gets a FIN
        }
      }
    }
  }
  close(client);
  close(upstream);
}

}  // namespace syncd::testing
