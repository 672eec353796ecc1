#include "syncd/systemd.h"

#include <systemd/sd-daemon.h>

#include <ctime>

#include "core/log.h"
#include "core/strings.h"

namespace syncd {

void ServiceManager::Send(const std::string& message) const {
  // 0: not under systemd; negative: the socket is gone. Neither stops the daemon.
  if (int rc = sd_notify(0, message.c_str()); rc < 0) {
    Log(LogLevel::kDebug, "sd_notify failed: error " + std::to_string(-rc));
  }
}

// The notify protocol is one assignment per line: a status carrying a line
// break from directory text (a DC's message, a DN) must not add assignments.
void ServiceManager::Ready(const std::string& status) const {
  Send("READY=1\nSTATUS=" + TerminalSafe(status));
}

void ServiceManager::Status(const std::string& status) const {
  Send("STATUS=" + TerminalSafe(status));
}

void ServiceManager::Reloading() const {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const long long usec = static_cast<long long>(now.tv_sec) * 1'000'000 + now.tv_nsec / 1000;
  Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=reloading");
}

void ServiceManager::Stopping() const { Send("STOPPING=1\nSTATUS=stopping"); }

void ServiceManager::Watchdog() const { Send("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> ServiceManager::WatchdogPeriod() const {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec / 2);
}

}  // namespace syncd
