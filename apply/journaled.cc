#include "apply/journaled.h"

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <ctime>
#include <unordered_set>

#include "apply/early_apply.h"
#include "core/log.h"

namespace syncd {
namespace asio = boost::asio;

void AddRevisit(const Operation& op, std::vector<std::string>* revisit) {
  revisit->push_back(op.object->guid);
  if (op.member) revisit->push_back(op.member->guid);
}

QuarantineView::QuarantineView(std::vector<QuarantineEntry> entries)
    : entries_(std::move(entries)) {}

const QuarantineEntry* QuarantineView::Holding(const SyncObject& o) const {
  for (const auto& e : entries_) {
    if (e.guid == o.guid && e.fingerprint == Fingerprint(o)) return &e;
  }
  return nullptr;
}

bool QuarantineView::Contains(const std::string& guid) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const QuarantineEntry& e) { return e.guid == guid; });
}

void HoldQuarantined(const QuarantineView& quarantine, Plan* plan) {
  if (quarantine.entries().empty()) return;
  std::unordered_set<std::string> held;  // GUIDs whose create or update waits
  std::vector<Operation> kept;
  kept.reserve(plan->operations.size());
  for (auto& op : plan->operations) {
    const bool membership = IsMembership(op);
    const QuarantineEntry* entry = nullptr;
    if (!membership && op.op != OpType::kDelete) entry = quarantine.Holding(*op.object);
    if (entry != nullptr) {
      held.insert(op.object->guid);
      plan->quarantined.push_back({std::move(op), "quarantined: " + entry->reason});
      continue;
    }
    if (membership &&
        (held.contains(op.object->guid) || (op.member && held.contains(op.member->guid)))) {
      // Built before `op` moves: the name is in it.
      std::string reason = "waits for " +
                           (held.contains(op.object->guid) ? op.object->name : op.member->name) +
                           ", which is quarantined";
      plan->quarantined.push_back({std::move(op), std::move(reason)});
      continue;
    }
    kept.push_back(std::move(op));
  }
  plan->operations = std::move(kept);
}

namespace {

int64_t UnixNow() { return static_cast<int64_t>(std::time(nullptr)); }

JournalStatus ToJournal(ItemStatus status) {
  switch (status) {
    case ItemStatus::kApplied:
      return JournalStatus::kApplied;
    case ItemStatus::kRefused:
      return JournalStatus::kRefused;
    case ItemStatus::kDeferred:
      return JournalStatus::kDeferred;
  }
  return JournalStatus::kPending;
}

// The journal's word for `r`, at its entry `seq`.
JournalMark MarkOf(const ItemResult& r, int64_t seq) {
  const bool applied = r.status == ItemStatus::kApplied;
  return {seq, ToJournal(r.status), applied ? r.detail : "", applied ? "" : r.detail};
}

RecordResults MarkIn(StateDb& state, int64_t run_id) {
  return [&state, run_id](std::span<const ItemResult> results) {
    std::vector<JournalMark> marks;
    marks.reserve(results.size());
    for (const auto& r : results) marks.push_back(MarkOf(r, r.seq));
    return state.MarkJournal(run_id, marks);
  };
}

// What a finished apply (or resume) commits: the operations that landed,
// the references they need kept, the objects refused and released.
struct Settled {
  std::vector<Operation> landed;
  RunOutcomes outcomes;
  ApplyOutcome outcome;
};

// `ops[seq]` with `results`; `refs` holds every reference known after the
// apply.
Settled Settle(const std::vector<Operation>& ops, const std::vector<ItemResult>& results,
               const SinkRefs& refs, const QuarantineView* quarantine) {
  Settled s;
  std::vector<const ItemResult*> by_seq(ops.size(), nullptr);
  for (const auto& r : results) {
    if (r.seq >= 0 && static_cast<size_t>(r.seq) < ops.size()) by_seq[r.seq] = &r;
  }
  const int64_t now = UnixNow();
  std::unordered_set<std::string> quarantined;
  for (size_t i = 0; i < ops.size(); ++i) {
    const Operation& op = ops[i];
    const ItemResult* r = by_seq[i];
    if (r == nullptr) continue;  // stayed pending: not this commit's
    switch (r->status) {
      case ItemStatus::kApplied: {
        s.landed.push_back(op);
        ++s.outcome.applied;
        const bool membership = IsMembership(op);
        if (!membership && op.op != OpType::kDelete) {
          if (auto ref = refs.find(op.object->guid); ref != refs.end() && !ref->second.empty()) {
            s.outcomes.sink_refs.emplace_back(op.object->guid, ref->second);
          }
          if (quarantine != nullptr && quarantine->Contains(op.object->guid)) {
            s.outcomes.released.push_back(op.object->guid);
          }
        }
        break;
      }
      case ItemStatus::kRefused: {
        s.outcome.failed.push_back({op, Status::Conflict(r->detail)});
        const bool membership = IsMembership(op);
        // A refused membership says nothing against the group itself: it
        // is reported and revisited, not quarantined.
        if (!membership && quarantined.insert(op.object->guid).second) {
          QuarantineEntry e;
          e.guid = op.object->guid;
          e.kind = op.object->kind;
          e.name = op.object->name;
          e.external_id = op.object->external_id;
          e.reason = r->detail;
          e.since = now;
          e.fingerprint = Fingerprint(*op.object);
          s.outcomes.quarantined.push_back(std::move(e));
        }
        break;
      }
      case ItemStatus::kDeferred:
        s.outcome.deferred.push_back({op, r->detail});
        break;
    }
  }
  return s;
}

Status CommitSettled(StateDb& state, RunRecord record, const Settled& s,
                     const Watermark* watermark) {
  std::optional<Watermark> advanced;
  if (!s.outcome.failed.empty() || !s.outcome.deferred.empty()) {
    record.outcome = "partial";
    record.counts["failed"] = static_cast<int64_t>(s.outcome.failed.size());
    record.counts["deferred"] = static_cast<int64_t>(s.outcome.deferred.size());
    record.message = !s.outcome.failed.empty() ? s.outcome.failed.front().second.message()
                                               : s.outcome.deferred.front().second;
    if (watermark != nullptr) {
      advanced = *watermark;
      for (const auto& [op, why] : s.outcome.failed) AddRevisit(op, &advanced->revisit);
      for (const auto& [op, why] : s.outcome.deferred) AddRevisit(op, &advanced->revisit);
      watermark = &*advanced;
    }
  }
  return state.CommitRun(record, s.landed, watermark, &s.outcomes);
}

// The results of what `early` applied (PlanHasAll's `taken`), for the slow
// path: a first sync's are most of its operations, so the fast path does
// without them.
void AppendEarlyResults(const EarlyApply& early, const std::vector<Operation>& ops,
                        const std::vector<bool>& taken, std::vector<ItemResult>* results) {
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!taken[i]) continue;
    results->push_back(
        {static_cast<int64_t>(i), ItemStatus::kApplied,
         ops[i].op == OpType::kCreate ? early.RefOf(ops[i].object.get()) : std::string()});
  }
}

std::string Stopped(const ApplyReport& report, size_t total) {
  const size_t left = total - std::min(total, report.results.size());
  return "stopped with " + std::to_string(left) +
         " operations still journaled; the next run resumes them";
}

}  // namespace

asio::awaitable<Result<ApplyOutcome>> ApplyPlan(
    StateDb& state, Sink& sink, const std::vector<Operation>& ops, RunRecord record,
    asio::thread_pool& workers, const ApplyOptions& options, const Watermark* watermark,
    const QuarantineView* quarantine, const SinkRefs* known_refs, EarlyApply* early) {
  const bool atomic = sink.capabilities().atomic_batches;
  Status st;
  // An atomic sink's batch lands whole or not at all: nothing to resume
  // operation by operation. What a crash between its commit and the
  // state's leaves is the run's record, still "running", and the next run
  // reconciles in full (StateDb::UnfinishedRun).
  if (!atomic) st = state.WriteOutbox(record.id, ops);
  if (!st.ok()) co_return st;
  record.finished_at = UnixNow();
  auto refs = state.LoadSinkRefs();
  if (!refs.ok()) co_return refs.status();
  if (known_refs != nullptr) refs->insert(known_refs->begin(), known_refs->end());
  // Creates sent while the read ran: already in the batch and the stage.
  std::vector<bool> taken;
  size_t taken_count = 0;
  bool continue_early = false;  // the batch and the stage are open already
  if (early != nullptr && atomic && !early->settled()) {
    early->Abandon();
    co_return Status::Internal("the writes made during the read were not settled on the plan");
  }
  if (early != nullptr && atomic && early->usable()) {
    // Settle found the plan whole: only a plan changed since (a caller's
    // bug) fails here, before anything is committed, as it holds twins of
    // what was created early, not images to send again.
    continue_early = early->PlanHasAll(ops, &taken);
    if (!continue_early) {
      early->Abandon();
      co_return Status::Internal(
          "the plan no longer has everything applied during the read; nothing was committed, "
          "and the next run reconciles in full");
    }
    early->HandOver();
    taken_count = early->created().size() + early->added().size();
    Log(LogLevel::kDebug, std::to_string(early->created().size()) + " creates and " +
                              std::to_string(early->added().size()) +
                              " memberships were applied during the read; applying the other " +
                              std::to_string(ops.size() - taken_count) + " operations");
    // What the walk sends next names the objects created early by their refs.
    for (const auto& [object, ref] : early->refs()) (*refs)[object->guid] = ref;
  }
  std::vector<ApplyItem> items;
  items.reserve(ops.size() - taken_count);
  for (size_t i = 0; i < ops.size(); ++i) {
    if (continue_early && taken[i]) continue;
    items.push_back({static_cast<int64_t>(i), &ops[i]});
  }

  ApplyReport report;
  bool staged = false;
  std::vector<Operation> restored;  // ops with images for twins, when the run is recorded from them
  if (atomic) {
    // The store's batch and the state's update of the cache, side by side
    // on two workers (two SQLite files); the state commits only after the
    // batch.
    RunOutcomes assumed;  // as if everything lands
    if (quarantine != nullptr) {
      for (const auto& op : ops) {
        if (quarantine->Contains(op.object->guid)) assumed.released.push_back(op.object->guid);
      }
    }
    RecordResults after_commit = [](std::span<const ItemResult>) { return Status::Ok(); };
    ApplyOptions batch_options = options;
    batch_options.batch_open = continue_early;
    auto store_batch = asio::co_spawn(
        workers,
        [&]() -> asio::awaitable<ApplyReport> {
          co_return co_await ApplyItems(sink, items, *refs, batch_options, after_commit);
        },
        asio::deferred);
    auto state_stage = asio::co_spawn(
        workers,
        [&]() -> asio::awaitable<Status> {
          co_return state.StageRun(record, ops, watermark, &assumed,
                                   continue_early ? &taken : nullptr);
        },
        asio::deferred);
    auto [order, store_error, applied, state_error, stage] =
        co_await asio::experimental::make_parallel_group(std::move(store_batch),
                                                         std::move(state_stage))
            // Not cancellable: a batch once started lands (or rolls back)
            // whole, and cancelling the workers' coroutines would throw out
            // of them.
            .async_wait(
                asio::experimental::wait_for_all(),
                asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
    if (store_error || state_error) {
      state.RollbackStaged();
      co_return Status::Internal("unexpected exception while applying the plan");
    }
    report = std::move(applied);
    if (continue_early) report.requests += early->requests();
    if (!stage.ok() && !report.fatal && !report.stopped) {
      // The batch committed and the state cannot say so. The run's record
      // stays "running": the next run compares the store with AD in full.
      co_return stage.WithContext(sink.Describe() + " committed run " + std::to_string(record.id) +
                                  " but the state could not record it; the next run "
                                  "reconciles in full");
    }
    staged = stage.ok();
    if (!stage.ok() && !report.fatal) report.fatal = stage;
    const bool all_landed =
        !report.fatal && !report.stopped &&
        std::all_of(report.results.begin(), report.results.end(),
                    [](const ItemResult& r) { return r.status == ItemStatus::kApplied; });
    // The staged update assumed no references: a store that returned some
    // has them recorded by the slower path below.
    const bool refs_returned =
        (continue_early && early->ReturnedRefs()) ||
        std::any_of(report.results.begin(), report.results.end(), [](const ItemResult& r) {
          return r.status == ItemStatus::kApplied && !r.detail.empty();
        });
    if (all_landed && staged && !refs_returned) {
      // The store batch is durable: the state may say so.
      st = state.CommitStaged();
      if (!st.ok()) co_return st;
      ApplyOutcome outcome;
      outcome.applied = ops.size();
      outcome.requests = report.requests;
      co_return outcome;
    }
    if (staged && continue_early) {
      // The run is recorded from the plan below, whose objects created
      // early are twins: their images come from the stage first.
      restored = ops;
      if (Status images = early->RestoreFromStage(&restored); !images.ok()) {
        state.RollbackStaged();
        co_return images.WithContext(sink.Describe() + " committed run " +
                                     std::to_string(record.id) +
                                     " but the state could not record it; the next run "
                                     "reconciles in full");
      }
    }
    if (staged) state.RollbackStaged();
    if (continue_early && !report.fatal && !report.stopped) {
      AppendEarlyResults(*early, ops, taken, &report.results);
    }
  } else {
    report = co_await ApplyItems(sink, items, *refs, options, MarkIn(state, record.id));
  }

  if (report.fatal || report.stopped) {
    record.outcome = "failed";
    if (atomic) {
      // The batch rolled back: nothing of it landed, and the next run
      // plans afresh.
      record.message =
          report.fatal ? report.fatal->message() : "stopped before the batch committed";
      if (Status cleared = state.CommitRun(record, {}); !cleared.ok()) co_return cleared;
      co_return report.fatal ? *report.fatal : Status::Unavailable(record.message);
    }
    // Some of it may have landed: the journal says what, and the next run
    // resumes the rest.
    record.message = report.fatal ? report.fatal->message() : Stopped(report, ops.size());
    if (Status finished = state.FinishRun(record); !finished.ok()) co_return finished;
    co_return report.fatal
        ? report.fatal->WithContext(sink.Describe() + "; the next run resumes the journal")
        : Status::Unavailable(record.message);
  }
  Settled settled = Settle(restored.empty() ? ops : restored, report.results, *refs, quarantine);
  settled.outcome.requests = report.requests;
  settled.outcome.retries = report.retries;
  settled.outcome.throttled = report.throttled;
  st = CommitSettled(state, record, settled, watermark);
  if (!st.ok()) co_return st;
  co_return std::move(settled.outcome);
}

asio::awaitable<Result<ResumeOutcome>> ResumeJournal(StateDb& state, Sink& sink,
                                                     const ApplyOptions& options) {
  ResumeOutcome resumed;
  auto journal = state.LoadJournal(&resumed.run_id);
  if (!journal.ok()) co_return journal.status();
  if (journal->empty()) co_return resumed;
  const int64_t run_id = resumed.run_id;
  std::vector<Operation> ops;
  std::vector<ItemResult> results;
  std::vector<ApplyItem> items;
  ops.reserve(journal->size());
  for (auto& entry : *journal) ops.push_back(std::move(entry.op));
  for (size_t i = 0; i < journal->size(); ++i) {
    const JournalEntry& entry = (*journal)[i];
    switch (entry.status) {
      case JournalStatus::kPending:
        items.push_back({static_cast<int64_t>(i), &ops[i]});
        break;
      case JournalStatus::kApplied:
        results.push_back({static_cast<int64_t>(i), ItemStatus::kApplied, entry.sink_ref});
        break;
      case JournalStatus::kRefused:
        results.push_back({static_cast<int64_t>(i), ItemStatus::kRefused, entry.reason});
        break;
      case JournalStatus::kDeferred:
        results.push_back({static_cast<int64_t>(i), ItemStatus::kDeferred, entry.reason});
        break;
    }
  }
  // Journal seqs are the run's plan positions; entries map to ops by index.
  std::vector<int64_t> seq_of(journal->size());
  for (size_t i = 0; i < journal->size(); ++i) seq_of[i] = (*journal)[i].seq;
  auto refs = state.LoadSinkRefs();
  if (!refs.ok()) co_return refs.status();
  for (const auto& r : results) {
    if (r.status == ItemStatus::kApplied && !r.detail.empty())
      (*refs)[ops[r.seq].object->guid] = r.detail;
  }
  RecordResults record = [&state, run_id, &seq_of](std::span<const ItemResult> landed) {
    std::vector<JournalMark> marks;
    for (const auto& r : landed) marks.push_back(MarkOf(r, seq_of[r.seq]));
    return state.MarkJournal(run_id, marks);
  };
  ApplyReport report;
  if (!items.empty()) report = co_await ApplyItems(sink, items, *refs, options, record);
  if (report.fatal) co_return report.fatal->WithContext("resuming run " + std::to_string(run_id));
  if (report.stopped)
    co_return Status::Unavailable("resuming run " + std::to_string(run_id) + ": " +
                                  Stopped(report, items.size()));
  results.insert(results.end(), report.results.begin(), report.results.end());
  auto quarantine = state.LoadQuarantine();
  if (!quarantine.ok()) co_return quarantine.status();
  QuarantineView view(std::move(*quarantine));
  Settled settled = Settle(ops, results, *refs, &view);
  RunRecord finished{run_id,
                     "full",
                     0,
                     UnixNow(),
                     "ok",
                     {{"resumed", static_cast<int64_t>(report.results.size())}},
                     "resumed after an interruption",
                     ""};
  Status st = CommitSettled(state, finished, settled, nullptr);
  if (!st.ok()) co_return st;
  resumed.pending = items.size();
  resumed.applied = static_cast<size_t>(
      std::count_if(report.results.begin(), report.results.end(),
                    [](const ItemResult& r) { return r.status == ItemStatus::kApplied; }));
  resumed.outcome = std::move(settled.outcome);
  co_return resumed;
}

}  // namespace syncd
