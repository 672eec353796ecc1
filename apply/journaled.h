// A run's plan through a sink, journaled in the state: every operation is
// written to the journal before the sink sees it, its outcome is recorded as
// it lands, and the state's cache and cursor advance only with what landed.
// A run that stops anywhere (crash, SIGTERM, run_timeout) is finished by the
// next one from the journal, never repeating what was recorded as applied.
#ifndef SYNCD_APPLY_JOURNALED_H_
#define SYNCD_APPLY_JOURNALED_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <string>
#include <utility>
#include <vector>

#include "apply/apply.h"
#include "core/model.h"
#include "core/status.h"
#include "state/state_db.h"
#include "store/sink.h"

namespace syncd {

class EarlyApply;

struct ApplyOutcome {
  size_t applied = 0;
  // Refused for their object (bad data, a conflict with an object syncd
  // does not own): quarantined; the rest applied.
  std::vector<std::pair<Operation, Status>> failed;
  // Throttled or failing past their tries, or past the run's time: the
  // revisit list brings them back.
  std::vector<std::pair<Operation, std::string>> deferred;
  int64_t requests = 0;
  int64_t retries = 0;
  int64_t throttled = 0;
};

// The quarantine as a run sees it: refusals not tried again until the
// object changes in AD or `syncd quarantine retry` releases it.
class QuarantineView {
 public:
  QuarantineView() = default;
  explicit QuarantineView(std::vector<QuarantineEntry> entries);

  // The entry that keeps `o` out of the store: one for its GUID with the
  // same fingerprint (an object AD changed since is tried again).
  const QuarantineEntry* Holding(const SyncObject& o) const;
  bool Contains(const std::string& guid) const;
  const std::vector<QuarantineEntry>& entries() const { return entries_; }

 private:
  std::vector<QuarantineEntry> entries_;
};

// Moves the operations on quarantined objects, and memberships naming one
// that the store does not hold, from plan.operations to plan.quarantined.
void HoldQuarantined(const QuarantineView& quarantine, Plan* plan);

// Journals `ops` for run `record.id`, applies them through `sink`, then in
// one state transaction records what landed in the cache, the sink's
// references, the refused objects' quarantine (and releases the objects that
// now landed), finishes the run with `record` and stores `watermark` (when
// given; deferred and refused objects join its revisit list).
//
// A fatal outcome or a stop leaves the journal for ResumeJournal and
// returns an error saying so; nothing else is committed. Atomic sinks apply
// the batch on `workers` while the state stages its update alongside.
// `known_refs`: references the caller learned from the store (a full
// reconciliation's ReadOwned), on top of the state's. `early`: creates an
// atomic sink's batch and the state's stage already hold, drained and
// settled on `ops` (EarlyApply::Settle): the walk continues both when
// Settle found them usable, and applies the plan from the start when it
// abandoned them.
boost::asio::awaitable<Result<ApplyOutcome>> ApplyPlan(
    StateDb& state, Sink& sink, const std::vector<Operation>& ops, RunRecord record,
    boost::asio::thread_pool& workers, const ApplyOptions& options,
    const Watermark* watermark = nullptr, const QuarantineView* quarantine = nullptr,
    const SinkRefs* known_refs = nullptr, EarlyApply* early = nullptr);

struct ResumeOutcome {
  int64_t run_id = 0;    // the interrupted run; 0: there was none
  size_t pending = 0;    // its operations still pending
  size_t applied = 0;    // of those, applied now
  ApplyOutcome outcome;  // the whole run's, as committed
};

// Finishes an interrupted run from its journal: applies its pending
// operations, then commits everything the journal records as applied (and
// quarantines what it records as refused).
boost::asio::awaitable<Result<ResumeOutcome>> ResumeJournal(StateDb& state, Sink& sink,
                                                            const ApplyOptions& options);

// The objects an operation is about: the next incremental run re-reads them
// when the operation did not land.
void AddRevisit(const Operation& op, std::vector<std::string>* revisit);

}  // namespace syncd

#endif  // SYNCD_APPLY_JOURNALED_H_
