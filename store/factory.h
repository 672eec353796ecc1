// Opens the identity store that [store] kind names, behind the sink port.
#ifndef SYNCD_STORE_FACTORY_H_
#define SYNCD_STORE_FACTORY_H_

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <memory>
#include <optional>

#include "core/status.h"
#include "store/sink.h"
#include "store/store_config.h"

namespace syncd {

struct OpenedStore {
  std::unique_ptr<Sink> sink;
  // The same store's assignments, when it holds them (into *sink); null for
  // stores whose assignments live elsewhere.
  AssignmentSink* assignments = nullptr;
};

// Opens (and, unless read_only, creates or migrates) the store `config`
// names. read_only: nothing is written; a store that does not exist is an
// error. The sink's awaitables run on `executor`.
Result<OpenedStore> OpenStore(boost::asio::any_io_executor executor, const StoreConfig& config,
                              bool read_only);

// Who the configured store is, without creating anything: nullopt when it
// does not exist yet (a local store file not made).
boost::asio::awaitable<Result<std::optional<StoreIdentity>>> PeekStore(
    boost::asio::any_io_executor executor, const StoreConfig& config);

// Whether the configured store gets groups flattened to their effective
// user members: [store] nested_groups, or the store kind's default (IAM
// Identity Center has no nested groups).
bool FlattensGroups(const StoreConfig& config);

}  // namespace syncd

#endif  // SYNCD_STORE_FACTORY_H_
