// The Source port (source/source.h) on Active Directory over LDAP.
//
// Change feeds: DirSync (with OBJECT_SECURITY when the account lacks the
// replication right) is preferred, uSNChanged polling pinned to one DC is
// the fallback ([source] change_feed chooses or lets the DC decide). The
// cursor is the watermark's AD fields: the DC's identity (host,
// dsServiceName, invocationId, highestCommittedUSN read before any change
// query), the domain (naming context and SID), the feed and its cookie.
#ifndef SYNCD_SOURCE_AD_AD_SOURCE_H_
#define SYNCD_SOURCE_AD_AD_SOURCE_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>

#include "core/status.h"
#include "source/ad/config.h"
#include "source/ad/dc.h"
#include "source/source.h"
#include "state/state_db.h"

namespace syncd::ad {

// Connects and binds to a DC (the one `stored` belongs to first, when it
// answers; failover through the others, remembered in `failures` when
// given), and reads who answered. Errors: no DC reachable, the bind failed,
// the DC's identity cannot be read.
boost::asio::awaitable<Result<std::unique_ptr<Source>>> OpenSource(
    Settings settings, boost::asio::thread_pool& workers, const Watermark* stored,
    DcFailures* failures);

}  // namespace syncd::ad

#endif  // SYNCD_SOURCE_AD_AD_SOURCE_H_
