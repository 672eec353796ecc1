// Creates, and the memberships among the objects created, applied while a
// full read still runs, for a store with atomic batches. An object new to
// both the store and the state's cache can only be created, whatever the
// rest of the read says; an edge between two such objects can only be
// added. So each goes into the store's open batch, then into the state's
// open cache update, as soon as the scope knows it (scope::Evaluator's
// InScope). Most of a first sync's writing then overlaps the directory's
// answers instead of following them.
//
// Nothing is committed here: ApplyPlan applies the rest of the plan to the
// same batch and transaction, and commits both, in the order it always does
// (the store, then the state). It first checks that the plan has every
// operation sent early, on the very objects (they share them); if not, both
// are rolled back and the plan is applied from the start. Updates,
// deletions and membership removals never go early: they depend on the
// complete read and on the budgets.
#ifndef SYNCD_APPLY_EARLY_APPLY_H_
#define SYNCD_APPLY_EARLY_APPLY_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "apply/journaled.h"
#include "core/model.h"
#include "core/status.h"
#include "state/state_db.h"
#include "store/sink.h"

namespace syncd {

class EarlyApply {
 public:
  // Opens `sink`'s batch and `state`'s stage (StateDb::BeginStage).
  // Preconditions: the sink has atomic batches; what the plan diffs
  // against (the store's contents, the cache) is loaded already, since the
  // state's connection then sees the staged rows. `known`: the raw GUIDs,
  // sorted, of every object the store or the cache holds. `state`, `sink`,
  // `workers` and `quarantine` must outlive this object.
  static Result<std::unique_ptr<EarlyApply>> Begin(StateDb& state, Sink& sink,
                                                   boost::asio::thread_pool& workers,
                                                   std::vector<std::string> known,
                                                   const QuarantineView& quarantine);
  EarlyApply(const EarlyApply&) = delete;
  EarlyApply& operator=(const EarlyApply&) = delete;
  // Waits for the chunks in flight, then rolls back what was not handed on
  // to ApplyPlan (Abandon).
  ~EarlyApply();

  // From one thread, the read's, as the scope knows each object in scope:
  // queues its create when neither the store nor the cache holds it and the
  // quarantine does not hold this image of it. Sent in chunks.
  void Offer(const ObjectRef& object);
  // Likewise for a direct membership, after both ends were offered: queued
  // when both ends were.
  void OfferMember(const ObjectRef& group, const ObjectRef& member);

  // After the last Offer: sends what is queued and waits until everything
  // offered was answered and staged. Then the sink and the state are free.
  boost::asio::awaitable<void> Drain();

  using Edge = std::pair<const SyncObject*, const SyncObject*>;  // group, member
  // After Drain: what the store applied and the state staged, sorted and
  // unique. What the store refused or asked to retry is not here: the
  // plan's walk sends it again, as it would have.
  const std::vector<const SyncObject*>& created() const { return created_; }
  const std::vector<Edge>& added() const { return added_; }
  bool Created(const SyncObject* object) const {
    return std::binary_search(created_.begin(), created_.end(), object);
  }
  bool Added(const SyncObject* group, const SyncObject* member) const {
    return std::binary_search(added_.begin(), added_.end(), Edge(group, member));
  }
  bool ReturnedRefs() const { return !refs_.empty(); }
  const std::unordered_map<const SyncObject*, std::string>& refs() const { return refs_; }
  // After Drain: the requests the store answered.
  int64_t requests() const { return requests_; }
  // The reference the store returned for a create; usually none.
  std::string RefOf(const SyncObject* object) const {
    auto it = refs_.find(object);
    return it == refs_.end() ? std::string() : it->second;
  }
  // After Drain: why what was sent early cannot be used (a fatal answer,
  // the state failing); empty when it can.
  const std::string& failure() const { return failure_; }

  // Rolls back the store's batch and the state's stage: nothing sent early
  // lands. Idempotent.
  void Abandon();
  // ApplyPlan took the batch and the stage over; Abandon does nothing.
  void HandOver() { open_ = false; }

 private:
  EarlyApply(StateDb& state, Sink& sink, boost::asio::thread_pool& workers,
             std::vector<std::string> known, const QuarantineView& quarantine);
  // Neither the store nor the cache holds it, nor the quarantine this image.
  bool New(const SyncObject& object) const;
  void Queue(Operation op);
  void SendQueued();
  boost::asio::awaitable<void> SendInOrder();
  // `op` for the sink, with the references creates sent early returned.
  SinkOp Request(const Operation& op) const;
  // On the store's strand: the chunk's operations (a create each, up to
  // members_per_request adds of one group together); returns those that
  // landed, for the state's strand to stage.
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
  std::mutex to_send_mutex_;
  std::deque<std::shared_ptr<std::vector<Operation>>> to_send_;  // chunks, in order
  bool sending_ = false;                                         // SendInOrder runs
  std::atomic<int> in_flight_{0};                                // chunks sent and not yet staged
  std::atomic<bool> failed_{false};
  std::mutex failure_mutex_;
  std::string failure_;
  // Written on the store's strand; read after Drain. Pointers, not map
  // entries: a first sync sends every object and edge early.
  std::vector<const SyncObject*> created_;
  std::vector<Edge> added_;
  std::unordered_map<const SyncObject*, std::string> refs_;  // the non-empty ones
  int64_t requests_ = 0;
  bool open_ = true;
};

}  // namespace syncd

#endif  // SYNCD_APPLY_EARLY_APPLY_H_
