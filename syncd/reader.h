// Reads the configured scope from AD: paged searches under every base, then
// range retrieval for groups whose `member` came back in windows.
#ifndef SYNCD_SYNCD_READER_H_
#define SYNCD_SYNCD_READER_H_

#include <boost/asio/awaitable.hpp>

#include "core/status.h"
#include "ldap/connection.h"
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
boost::asio::awaitable<Result<ReadSnapshot>> ReadDirectory(ldap::Connection& connection,
                                                           const Config& config, ReadStats* stats);

}  // namespace syncd

#endif  // SYNCD_SYNCD_READER_H_
