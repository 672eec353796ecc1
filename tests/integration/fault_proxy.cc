#include "tests/integration/fault_proxy.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

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

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

}  // namespace

ResettingProxy::ResettingProxy(int upstream_port, size_t reset_after)
    : reset_after_(reset_after), upstream_port_(upstream_port) {
  listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr = Loopback(0);
  if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener_, 16) != 0) {
    close(listener_);
    throw std::runtime_error("resetting proxy: cannot listen on loopback");
  }
  socklen_t len = sizeof addr;
  getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { Accept(); });
}

ResettingProxy::~ResettingProxy() {
  stop_ = true;
  acceptor_.join();
  close(listener_);
  std::lock_guard lock(relays_mutex_);
  for (auto& relay : relays_) relay.join();
}

void ResettingProxy::Accept() {
  while (!stop_) {
    pollfd ready{listener_, POLLIN, 0};
    if (poll(&ready, 1, kPollMs) <= 0) continue;
    const int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    std::lock_guard lock(relays_mutex_);
    relays_.emplace_back([this, client, limit = reset_after_.load()] { Relay(client, limit); });
  }
}

void ResettingProxy::Relay(int client, size_t reset_after) {
  const int upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(upstream_port_);
  if (connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(upstream);
    Reset(client);
    return;
  }
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
      const bool from_server = i == 1;
      if (from_server) size = std::min(size, reset_after - passed);
      if (!SendAll(fds[1 - i].fd, buffer, size)) open = false;
      if (from_server) {
        passed += size;
        bytes_to_client_ += size;
        if (passed == reset_after) {
          ++resets_;
          Reset(client);
          Reset(upstream);
          return;
        }
      }
    }
  }
  close(client);
  close(upstream);
}

}  // namespace syncd::testing
