// Creates written while a full read still runs, for a store with atomic
// batches: an object new to both the store and the state's cache can only
// be created, whatever the rest of the read says, so it goes into the
// store's open batch, then into the state's open cache update, as soon as
// the source maps it. Most of a first sync's writing then overlaps the
// directory's answers instead of following them.
//
// Nothing is committed here: ApplyPlan applies the rest of the plan to the
// same batch and transaction, and commits both, in the order it always does
// (the store, then the state). It first checks that the plan creates every
// object sent early, the very object (they share it); if not, both are
// rolled back and the plan is applied from the start. Deletions and
// membership changes never go early: they wait for the complete read.
#ifndef SYNCD_APPLY_EARLY_CREATES_H_
#define SYNCD_APPLY_EARLY_CREATES_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "apply/journaled.h"
#include "core/model.h"
#include "core/status.h"
#include "state/state_db.h"
#include "store/sink.h"

namespace syncd {

class EarlyCreates {
 public:
  // Opens `sink`'s batch and `state`'s stage (StateDb::BeginStage).
  // Preconditions: the sink has atomic batches; what the plan diffs
  // against (the store's contents, the cache) is loaded already, since the
  // state's connection then sees the staged rows. `known`: the raw GUIDs,
  // sorted, of every object the store or the cache holds. `state`, `sink`,
  // `workers` and `quarantine` must outlive this object.
  static Result<std::unique_ptr<EarlyCreates>> Begin(StateDb& state, Sink& sink,
                                                     boost::asio::thread_pool& workers,
                                                     std::vector<std::string> known,
                                                     const QuarantineView& quarantine);
  EarlyCreates(const EarlyCreates&) = delete;
  EarlyCreates& operator=(const EarlyCreates&) = delete;
  // Rolls back what was not handed on to ApplyPlan (Abandon).
  ~EarlyCreates();

  // From one thread, the read's, with each object in scope as soon as it
  // is mapped: queues its create when neither the store nor the cache holds
  // it and the quarantine does not hold this image of it. Sent in chunks.
  void Offer(const ObjectRef& object);

  // After the last Offer: sends what is queued and waits until every create
  // offered was answered and staged. Then the sink and the state are free.
  boost::asio::awaitable<void> Drain();

  // After Drain: the objects whose create the store applied and the state
  // staged, sorted. Creates the store refused or asked to retry are not
  // here: the plan's walk sends them again, as it would have.
  const std::vector<const SyncObject*>& applied() const { return applied_; }
  bool Applied(const SyncObject* object) const {
    return std::binary_search(applied_.begin(), applied_.end(), object);
  }
  // The reference the store returned for an applied create; usually none.
  std::string RefOf(const SyncObject* object) const {
    auto it = refs_.find(object);
    return it == refs_.end() ? std::string() : it->second;
  }
  // After Drain: why the early creates cannot be used (a fatal answer, the
  // state failing); empty when they can.
  const std::string& failure() const { return failure_; }

  // Rolls back the store's batch and the state's stage: nothing sent early
  // lands. Idempotent.
  void Abandon();
  // ApplyPlan took the batch and the stage over; Abandon does nothing.
  void HandOver() { open_ = false; }

 private:
  EarlyCreates(StateDb& state, Sink& sink, boost::asio::thread_pool& workers,
               std::vector<std::string> known, const QuarantineView& quarantine);
  void SendQueued();
  // On the store's strand: the chunk's creates, one request each; returns
  // those that landed, for the state's strand to stage.
  boost::asio::awaitable<std::vector<Operation>> Send(
      std::shared_ptr<std::vector<Operation>> chunk);
  void Fail(std::string why);

  StateDb& state_;
  Sink& sink_;
  boost::asio::strand<boost::asio::thread_pool::executor_type> store_strand_;
  boost::asio::strand<boost::asio::thread_pool::executor_type> state_strand_;
  const std::vector<std::string> known_;
  const QuarantineView& quarantine_;
  std::vector<Operation> queued_;  // the read's thread only
  std::atomic<int> in_flight_{0};  // chunks sent and not yet staged
  std::atomic<bool> failed_{false};
  std::mutex failure_mutex_;
  std::string failure_;
  // Written on the store's strand; read after Drain. A pointer each, not a
  // map entry: a first sync sends every object early.
  std::vector<const SyncObject*> applied_;
  std::unordered_map<const SyncObject*, std::string> refs_;  // the non-empty ones
  bool open_ = true;
};

}  // namespace syncd

#endif  // SYNCD_APPLY_EARLY_CREATES_H_
