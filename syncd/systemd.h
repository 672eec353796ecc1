// The daemon's side of the systemd service protocol: sd_notify(3) messages
// for Type=notify units, and the watchdog interval systemd asks for. Outside
// systemd (no $NOTIFY_SOCKET) every call is a no-op.
#ifndef SYNCD_SYNCD_SYSTEMD_H_
#define SYNCD_SYNCD_SYSTEMD_H_

#include <chrono>
#include <optional>
#include <string>

namespace syncd {

class ServiceManager {
 public:
  // READY=1 with a status line: configuration loaded, state open.
  void Ready(const std::string& status) const;
  // STATUS=: shown by `systemctl status`, e.g. the last run's outcome; made
  // TerminalSafe, so it stays one line of the protocol.
  void Status(const std::string& status) const;
  // RELOADING=1 (with MONOTONIC_USEC); Ready() ends the reload.
  void Reloading() const;
  void Stopping() const;
  void Watchdog() const;
  // How often WATCHDOG=1 must be sent: half of WatchdogSec=, or nothing when
  // the unit has no watchdog.
  std::optional<std::chrono::microseconds> WatchdogPeriod() const;

 private:
  void Send(const std::string& message) const;
};

}  // namespace syncd

#endif  // SYNCD_SYNCD_SYSTEMD_H_
