// Reads the configured scope from AD: paged searches under every base, then
// range retrieval for groups whose `member` came back in windows.
#ifndef SYNCD_SOURCE_AD_READER_H_
#define SYNCD_SOURCE_AD_READER_H_

#include <functional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "core/status.h"
#include "ldap/change_feed.h"
#include "ldap/directory.h"
#include "source/ad/config.h"
#include "source/source.h"

namespace syncd::ad {

// A failed search leaves the snapshot incomplete (with the reason) rather
// than failing: what was read is still good for creates and updates.
// `in_scope` sees each object as soon as the scope knows it is in
// (scope::Evaluator).
boost::asio::awaitable<Result<ReadSnapshot>> ReadDirectory(
    ldap::Directory& directory, const Settings& settings, ReadStats* stats,
    const scope::Evaluator::InScope& in_scope = {});

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
    ldap::Directory& directory, const Settings& settings, const std::string& naming_context,
    const ldap::ChangeSet& changes, bool full_member_lists,
    const std::function<bool(const std::string&)>& is_cached, ReadStats* stats);

}  // namespace syncd::ad

#endif  // SYNCD_SOURCE_AD_READER_H_
