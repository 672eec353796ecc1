#include "syncd/quarantine.h"

#include <boost/json.hpp>

#include "core/strings.h"
#include "state/state_db.h"
#include "syncd/engine.h"

namespace syncd {

Result<int> QuarantineListCommand(const Config& config, bool json, std::ostream& out) {
  auto state = StateDb::Open(config.state_path, /*read_only=*/true);
  if (!state.ok()) return state.status();
  auto entries = (*state)->LoadQuarantine();
  if (!entries.ok()) return entries.status();
  if (json) {
    boost::json::array list;
    for (const auto& e : *entries) {
      list.emplace_back(boost::json::object{{"kind", KindName(e.kind)},
                                            {"name", e.name},
                                            {"externalId", e.external_id},
                                            {"since", UtcTimestamp(e.since)},
                                            {"reason", e.reason}});
    }
    out << boost::json::serialize(list) << "\n";
    return 0;
  }
  for (const auto& e : *entries) {
    out << KindName(e.kind) << "  " << TerminalSafe(e.name) << "  " << e.external_id << "  since "
        << UtcTimestamp(e.since) << "\n    " << TerminalSafe(e.reason) << "\n";
  }
  if (entries->empty()) out << "nothing is quarantined\n";
  return 0;
}

Result<int> QuarantineRetryCommand(const Config& config, const std::string& name,
                                   std::ostream& out) {
  RunLock lock;
  if (Status st = lock.Acquire(config.state_path + ".lock"); !st.ok()) return st;
  auto state = StateDb::Open(config.state_path);
  if (!state.ok()) return state.status();
  auto released = (*state)->ReleaseQuarantine(name);
  if (!released.ok()) return released.status();
  for (const auto& e : *released) {
    out << "released " << KindName(e.kind) << " " << TerminalSafe(e.name)
        << " from quarantine; the next run sends it to the store again\n";
  }
  return 0;
}

}  // namespace syncd
