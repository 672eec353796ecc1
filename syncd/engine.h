// One sync run: read -> scope -> diff against state -> plan -> safety ->
// apply through the store, journaled so that a crash at any point leaves the
// store and the state either as before or as after, and a rerun converges.
#ifndef SYNCD_SYNCD_ENGINE_H_
#define SYNCD_SYNCD_ENGINE_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "core/model.h"
#include "core/status.h"
#include "syncd/config.h"

namespace syncd {

struct RunResult {
  Plan plan;           // what was (or, in a dry run, would be) applied
  int resumed = 0;     // operations re-applied from an interrupted run
  std::string dc_uri;  // the DC that answered
};

// dry_run: computes the plan and changes nothing, neither store nor state.
// Otherwise applies it. Errors (config, auth, no DC reachable, store
// failures) leave store and state as they were.
boost::asio::awaitable<Result<RunResult>> RunOnce(const Config& config,
                                                  boost::asio::thread_pool& workers, bool dry_run);

}  // namespace syncd

#endif  // SYNCD_SYNCD_ENGINE_H_
