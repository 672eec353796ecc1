#include "source/ad/watch.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <set>
#include <utility>

#include "core/log.h"
#include "core/strings.h"
#include "ldap/change_feed.h"

namespace syncd::ad {
namespace asio = boost::asio;
namespace {

// Where change notifications are registered: the scope's bases, then the
// containers below them (a one-level notification sees only direct
// children), at most `limit` in all.
asio::awaitable<Result<std::vector<std::string>>> ContainersToWatch(ldap::Directory& directory,
                                                                    const Settings& config,
                                                                    size_t limit) {
  std::vector<std::string> bases;
  std::set<std::string> seen;
  auto add = [&](const std::string& dn, std::vector<std::string>* into) {
    if (seen.insert(AsciiLower(dn)).second) into->push_back(dn);
  };
  for (const auto& base : config.scope.user_bases) add(base, &bases);
  for (const auto& base : config.scope.group_bases) add(base, &bases);
  std::vector<std::string> containers = bases;
  for (const auto& base : bases) {
    ldap::SearchRequest request;
    request.base = base;
    request.filter = "(|(objectClass=organizationalUnit)(objectClass=container))";
    request.attributes = {"1.1"};
    request.extended_dn = false;
    request.page_size = config.source.page_size;
    auto searched = co_await directory.PagedSearch(request, [&](ldap::Entry&& entry) {
      add(entry.dn, &containers);
      return Status::Ok();
    });
    if (!searched.ok()) co_return searched.status();
  }
  if (containers.size() > limit) {
    Log(LogLevel::kWarning,
        "change notifications cover " + std::to_string(limit) + " of " +
            std::to_string(containers.size()) +
            " containers in scope ([daemon] notify_containers); changes in the others are "
            "picked up by the scheduled runs");
    containers.resize(limit);
  }
  co_return containers;
}

// One under AD's MaxNotificationPerConn: Samba counts the search it is
// re-running against the limit (adminLimitExceeded every 5 s at five).
constexpr size_t kNotificationsPerConnection = ldap::kMaxNotificationsPerConnection - 1;

bool IsContainer(const ldap::Entry& entry) {
  const auto* classes = entry.Find("objectclass");
  if (classes == nullptr) return false;
  for (const auto& value : *classes) {
    const std::string lower = AsciiLower(value);
    if (lower == "organizationalunit" || lower == "container") return true;
  }
  return false;
}

// One connection's notifications; the first to end cancels the others.
asio::awaitable<Status> GuardedWatch(ldap::Connection& connection,
                                     const std::vector<ldap::SearchRequest>& requests,
                                     const ldap::Directory::EntryHandler& on_change) {
  Status status;
  try {
    status = co_await connection.WatchChanges(requests, on_change);
  } catch (const std::exception& e) {
    status = Status::Unavailable(std::string("change notification: ") + e.what());
  }
  co_await asio::this_coro::reset_cancellation_state();
  co_return status;
}

}  // namespace

asio::awaitable<WatchEnd> Watch(const Settings& settings, asio::thread_pool& workers,
                                const WatchOptions& watch) {
  auto uris = SourceUris(settings.source, watch.failures);
  if (!uris.ok()) co_return WatchEnd{uris.status()};
  auto options = ConnectOptionsFor(settings.source, std::move(*uris), "");
  if (!options.ok()) co_return WatchEnd{options.status()};
  auto executor = co_await asio::this_coro::executor;
  auto opened =
      co_await ldap::Connection::Open(executor, workers, *options, OnDcFailover(watch.failures));
  if (!opened.ok()) co_return WatchEnd{opened.status()};
  auto dc = co_await ldap::ReadDcIdentity(**opened);
  if (!dc.ok()) co_return WatchEnd{dc.status()};
  auto containers = co_await ContainersToWatch(**opened, settings, watch.max_containers);
  if (!containers.ok()) co_return WatchEnd{containers.status()};

  std::vector<ldap::SearchRequest> requests;
  for (const auto& dn : *containers) {
    ldap::SearchRequest request;
    request.base = dn;
    request.scope = ldap::Scope::kOneLevel;
    request.attributes = {"objectClass"};
    request.extended_dn = false;
    requests.push_back(std::move(request));
  }
  ldap::SearchRequest deleted;
  deleted.base = "CN=Deleted Objects," + dc->naming_context;
  deleted.scope = ldap::Scope::kOneLevel;
  deleted.attributes = {"objectClass"};
  deleted.extended_dn = false;
  deleted.show_deleted = true;
  requests.push_back(std::move(deleted));

  std::vector<std::unique_ptr<ldap::Connection>> connections;
  connections.push_back(std::move(*opened));
  const size_t per = kNotificationsPerConnection;
  while (connections.size() * per < requests.size()) {
    options->uris = {connections.front()->uri()};  // one DC for the whole session
    auto more =
        co_await ldap::Connection::Open(executor, workers, *options, OnDcFailover(watch.failures));
    if (!more.ok()) co_return WatchEnd{more.status()};
    connections.push_back(std::move(*more));
  }
  std::vector<std::vector<ldap::SearchRequest>> batches(connections.size());
  for (size_t i = 0; i < requests.size(); ++i) batches[i / per].push_back(requests[i]);

  // Outlives the watches: they hold a reference to it.
  bool containers_changed = false;
  const ldap::Directory::EntryHandler on_change = [&watch,
                                                   &containers_changed](ldap::Entry&& entry) {
    Log(LogLevel::kDebug, "change notification: " + entry.dn);
    if (watch.on_change) watch.on_change("change in " + entry.dn);
    // A new or renamed container is not watched yet: register again.
    if (IsContainer(entry)) {
      containers_changed = true;
      return Status::Unavailable("container " + entry.dn + " changed");
    }
    return Status::Ok();
  };
  using Guarded =
      decltype(asio::co_spawn(executor, std::declval<asio::awaitable<Status>>(), asio::deferred));
  std::vector<Guarded> watches;
  for (size_t i = 0; i < connections.size(); ++i) {
    watches.push_back(asio::co_spawn(executor, GuardedWatch(*connections[i], batches[i], on_change),
                                     asio::deferred));
  }
  Log(LogLevel::kInfo, "change notifications registered on " + std::to_string(requests.size()) +
                           " containers of " + connections.front()->uri() + " over " +
                           std::to_string(connections.size()) + " connections");
  if (watch.on_registered) watch.on_registered();
  auto [order, exceptions, statuses] =
      co_await asio::experimental::make_parallel_group(std::move(watches))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  // GuardedWatch throws nothing.
  co_return WatchEnd{statuses[order.front()], containers_changed};
}

}  // namespace syncd::ad
