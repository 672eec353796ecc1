// Walking a run's journaled operations through a sink: concurrency, a rate,
// Retry-After, backoff with jitter, the order that matters, a deadline and
// cancellation between operations.
#ifndef SYNCD_APPLY_APPLY_H_
#define SYNCD_APPLY_APPLY_H_

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/model.h"
#include "core/status.h"
#include "store/sink.h"

namespace syncd {

// One journaled operation to apply.
struct ApplyItem {
  int64_t seq = 0;                // its place in the journal
  const Operation* op = nullptr;  // not owned; outlives the apply
};

enum class ItemStatus : uint8_t { kApplied, kRefused, kDeferred };

// What became of one item. Items that end neither applied, refused nor
// deferred (the apply stopped first) have no result: they stay pending.
// An atomic sink's results wait for its commit, one per operation of a full
// sync: one string, not a reference and a reason that is always empty.
struct ItemResult {
  int64_t seq = 0;
  ItemStatus status = ItemStatus::kApplied;
  // applied: the sink's reference for the object, if any; refused,
  // deferred: why, as a person reads it
  std::string detail;
};

struct ApplyOptions {
  int max_in_flight = 1;  // requests at once (at least 1)
  double rate_limit = 0;  // requests/s; 0: none
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_cap{30000};
  // Tries of one request before its operations are deferred to the next run.
  int max_attempts = 8;
  // Past it, no request starts: the requests in flight finish, what is left
  // is deferred (the watermark may advance; the revisit list brings the
  // objects back). Its owner may move it, from any thread, while the apply
  // runs (SIGTERM brings it to the shutdown deadline); seen within 200 ms.
  // Null: none.
  const std::atomic<std::chrono::steady_clock::time_point>* deadline = nullptr;
  // Jitter: returns a number in [0, 1). Default: a seeded engine.
  std::function<double()> random;
  // Sinks with atomic batches: the batch is open already (EarlyApply
  // wrote into it); the walk continues it instead of beginning one.
  bool batch_open = false;
};

struct ApplyReport {
  std::vector<ItemResult> results;  // in the order they were recorded
  int64_t requests = 0;             // Apply calls made, retries included
  int64_t retries = 0;
  int64_t throttled = 0;        // retries the store asked to wait for (Retry-After)
  std::optional<Status> fatal;  // the sink (or the recorder) stopped the run
  bool stopped = false;         // cancelled: some items stay pending
};

// Records results as they land, durably before it returns (the state's
// journal). Called on the apply's executor. An error stops the apply like a
// fatal outcome.
using RecordResults = std::function<Status(std::span<const ItemResult>)>;

// raw objectGUID -> the sink's reference for the object.
using SinkRefs = std::unordered_map<std::string, std::string>;

// Applies `items` (in plan order) through `sink`, recording each result with
// `record`. Order kept where it matters: everything touching an object waits
// for its create; its update and delete wait for everything before them
// touching it (so members leave a group before the group goes); one group's
// membership requests go one at a time. Consecutive add (or remove)
// memberships of one group travel together, up to the sink's
// members_per_request. A membership whose group or member was not created
// (refused, deferred) is deferred with it. Refused items get one more try
// at the end, in plan order (a name freed later in the run).
//
// Sinks with atomic batches: the whole walk sits between BeginBatch and
// CommitBatch, and results are recorded once, after the commit; a failed
// commit is fatal and records nothing.
//
// `refs` supplies the references operations need and receives those that
// creates return. Cancellation of the awaiting coroutine cancels the
// requests in flight and starts no other: what has no result stays pending,
// for the next run to resume.
boost::asio::awaitable<ApplyReport> ApplyItems(Sink& sink, std::span<const ApplyItem> items,
                                               SinkRefs& refs, const ApplyOptions& options,
                                               const RecordResults& record);

}  // namespace syncd

#endif  // SYNCD_APPLY_APPLY_H_
