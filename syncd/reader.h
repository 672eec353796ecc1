// Reads the configured scope from AD: paged searches under every base, then
// range retrieval for groups whose `member` came back in windows.
#ifndef SYNCD_SYNCD_READER_H_
#define SYNCD_SYNCD_READER_H_

#include <functional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "core/status.h"
#include "ldap/change_feed.h"
#include "ldap/directory.h"
#include "syncd/config.h"
#include "syncd/planner.h"

namespace syncd {

struct ReadStats {
  size_t entries = 0;
  int pages = 0;
  int range_reads = 0;
};

// A failed search leaves the snapshot incomplete (with the reason) rather
// than failing: what was read is still good for creates and updates.
boost::asio::awaitable<Result<ReadSnapshot>> ReadDirectory(ldap::Directory& directory,
                                                           const Config& config, ReadStats* stats);

// The current state of the objects a change feed named, evaluated against
// the scope one object at a time (group-based scope needs a full read).
//
// Each named GUID is re-read under the configured bases with the configured
// filters; one found is present (or skipped, when unmappable), one not found
// or excluded is absent. A renamed or moved container (DirSync does not report the
// children of a moved or renamed container) brings in every user and group
// below it. Cached groups (`is_cached`) with usable deltas in
// `changes.members` keep them; every other present group (all of them when
// `full_member_lists`, as for uSNChanged) has its whole member list read,
// ranges and primary-group members included.
boost::asio::awaitable<Result<IncrementalRead>> ReadChangedObjects(
    ldap::Directory& directory, const Config& config, const std::string& naming_context,
    const ldap::ChangeSet& changes, bool full_member_lists,
    const std::function<bool(const std::string&)>& is_cached, ReadStats* stats);

}  // namespace syncd

#endif  // SYNCD_SYNCD_READER_H_
