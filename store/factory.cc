#include "store/factory.h"

#include "store/local/local_store.h"

namespace syncd {

Result<OpenedStore> OpenStore(boost::asio::any_io_executor /*executor*/, const StoreConfig& config,
                              bool read_only) {
  if (config.kind == "local") {
    auto store = LocalStore::Open(config.path, read_only);
    if (!store.ok()) {
      return store.status();
    }
    OpenedStore opened;
    opened.assignments = store->get();
    opened.sink = std::move(*store);
    return opened;
  }
  return Status::InvalidArgument("[store] kind = \"" + config.kind + "\" is not a known store");
}

boost::asio::awaitable<Result<std::optional<StoreIdentity>>> PeekStore(
    boost::asio::any_io_executor /*executor*/, const StoreConfig& config) {
  if (config.kind == "local") {
    co_return LocalStore::Peek(config.path);
  }
  co_return Status::InvalidArgument("[store] kind = \"" + config.kind + "\" is not a known store");
}

bool FlattensGroups(const StoreConfig& config) {
  if (!config.nested_groups.empty()) return config.nested_groups == "flatten";
  return config.kind == "scim" && config.profile == "aws";
}

}  // namespace syncd
