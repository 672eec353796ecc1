#include "store/factory.h"

#include "store/local/local_store.h"
#include "store/scim/scim_sink.h"

namespace syncd {

Result<OpenedStore> OpenStore(boost::asio::any_io_executor executor, const StoreConfig& config,
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
  if (config.kind == "scim") {
    // A remote store has nothing to create or migrate; read_only is the
    // caller's promise not to Apply (dry run).
    auto sink = ScimSink::Create(std::move(executor), config);
    if (!sink.ok()) return sink.status();
    OpenedStore opened;
    opened.sink = std::move(*sink);
    return opened;
  }
  return Status::InvalidArgument("[store] kind = \"" + config.kind + "\" is not a known store");
}

boost::asio::awaitable<Result<std::optional<StoreIdentity>>> PeekStore(
    boost::asio::any_io_executor executor, const StoreConfig& config) {
  if (config.kind == "local") {
    co_return LocalStore::Peek(config.path);
  }
  if (config.kind == "scim") {
    // A SCIM target always exists; asking who it is creates nothing.
    auto sink = ScimSink::Create(std::move(executor), config);
    if (!sink.ok()) co_return sink.status();
    auto identity = co_await (*sink)->Identify();
    if (!identity.ok()) co_return identity.status();
    co_return std::optional(*identity);
  }
  co_return Status::InvalidArgument("[store] kind = \"" + config.kind + "\" is not a known store");
}

bool FlattensGroups(const StoreConfig& config) {
  if (!config.nested_groups.empty()) return config.nested_groups == "flatten";
  return config.kind == "scim" && config.profile == "aws";
}

}  // namespace syncd
