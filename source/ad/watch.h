// AD change notifications (LDAP_SERVER_NOTIFICATION_OID) for the daemon: a
// wake-up only, since a notification says that something changed, not what
// the run will make of it.
#ifndef SYNCD_SOURCE_AD_WATCH_H_
#define SYNCD_SOURCE_AD_WATCH_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <functional>
#include <string>

#include "source/ad/config.h"
#include "source/ad/dc.h"
#include "source/source.h"

namespace syncd::ad {

struct WatchOptions {
  size_t max_containers = 50;      // [daemon] notify_containers
  DcFailures* failures = nullptr;  // DCs that failed go last; this adds to it
  // A change was notified; `what` names it for logs ("change in <dn>").
  std::function<void(const std::string& what)> on_change;
  // Every notification is registered: changes from now on are seen.
  std::function<void()> on_registered;
};

// One registration: connections to one DC with up to four notifications
// each (one under AD's limit, which Samba counts its own re-run search
// against), on the scope's bases and the containers below them (at most
// max_containers; a one-level notification sees only direct children), and
// on Deleted Objects (a deletion moves the object out of its container).
// Returns when one connection fails (WatchEnd::why), or when a container
// changed (WatchEnd::rewatch: a new one is not watched yet). Cancellable.
boost::asio::awaitable<WatchEnd> Watch(const Settings& settings, boost::asio::thread_pool& workers,
                                       const WatchOptions& watch);

}  // namespace syncd::ad

#endif  // SYNCD_SOURCE_AD_WATCH_H_
