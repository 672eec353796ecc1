// syncd as a service: incremental runs on a schedule (syncd/schedule.h),
// woken early by AD change notifications, with sd_notify, SIGHUP reload and
// a bounded SIGTERM shutdown, all on one Boost.Asio event loop.
#ifndef SYNCD_SYNCD_DAEMON_H_
#define SYNCD_SYNCD_DAEMON_H_

#include <string>

#include "syncd/config.h"

namespace syncd {

// Runs until SIGTERM or SIGINT and returns the process exit status: 0 after
// a clean shutdown (the run in flight finished, or was abandoned at
// [daemon] shutdown_timeout with its journal left for the next start), 1 when
// the daemon cannot start. `config` was loaded from `config_path`, which
// SIGHUP reads again.
int RunDaemon(const std::string& config_path, Config config);

}  // namespace syncd

#endif  // SYNCD_SYNCD_DAEMON_H_
