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
//
// The scope keeps only an identity of what it hands over for an early
// create (a twin: guid, kind, externalId and name): the image itself is
// dropped once the store and the state have it, so a first sync does not
// hold the directory's images until its plan. Settle gives the plan the
// images back where something still needs them.
#ifndef SYNCD_APPLY_EARLY_APPLY_H_
#define SYNCD_APPLY_EARLY_APPLY_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <functional>
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

// What only a create can follow in a full read: an object that neither the
// store nor the state's cache holds (`known`: their raw GUIDs, sorted), and
// whose image the quarantine does not hold. `quarantine` must outlive it.
class OnlyCreatable {
 public:
  OnlyCreatable(std::vector<std::string> known, const QuarantineView& quarantine)
      : known_(std::move(known)), quarantine_(quarantine) {}
  bool operator()(const SyncObject& object) const;

 private:
  std::vector<std::string> known_;
  const QuarantineView& quarantine_;
};

class EarlyApply {
 public:
  // Opens `sink`'s batch and `state`'s stage (StateDb::BeginStage).
  // Preconditions: the sink has atomic batches; what the plan diffs
  // against (the store's contents, the cache) is loaded already, since the
  // state's connection then sees the staged rows. `known`: the raw GUIDs,
  // sorted, of every object the store or the cache holds. `state`, `sink`,
  // `workers` and `quarantine` must outlive this object. `keep`: what the
  // scope keeps of an object whose create goes early, called from the
  // read's thread: a twin (the default, TwinOf), or the object itself to
  // keep it whole.
  using Keep = std::function<ObjectRef(ObjectRef)>;
  static Result<std::unique_ptr<EarlyApply>> Begin(StateDb& state, Sink& sink,
                                                   boost::asio::thread_pool& workers,
                                                   std::vector<std::string> known,
                                                   const QuarantineView& quarantine,
                                                   Keep keep = {});
  EarlyApply(const EarlyApply&) = delete;
  EarlyApply& operator=(const EarlyApply&) = delete;
  // Waits for the chunks in flight, then rolls back what was not handed on
  // to ApplyPlan (Abandon).
  ~EarlyApply();

  // From one thread, the read's, as the scope knows each object in scope:
  // queues its create when neither the store nor the cache holds it and the
  // quarantine does not hold this image of it. Sent in chunks. Returns what
  // the scope keeps of the object: a twin when its create was queued (the
  // plan then holds the twin), else the object itself.
  ObjectRef Offer(ObjectRef object);
  // Likewise for a direct membership, after both ends were offered (with
  // what Offer returned): queued when both ends were.
  void OfferMember(const ObjectRef& group, const ObjectRef& member);

  // After the last Offer: sends what is queued and waits until everything
  // offered was answered and staged. Then the sink and the state are free.
  boost::asio::awaitable<void> Drain();

  using Edge = std::pair<const SyncObject*, const SyncObject*>;  // group, member
  // After Drain: what the store applied and the state staged, sorted and
  // unique. What the store refused or asked to retry is not here: the
  // plan's walk sends it again, as it would have.
  // Held, not pointed to: a twin the plan lacks stays alive (its address
  // cannot be taken by another object) until Settle has its guid.
  const std::vector<ObjectRef>& created() const { return created_; }
  const std::vector<Edge>& added() const { return added_; }
  bool Created(const SyncObject* object) const {
    auto at = std::lower_bound(created_.begin(), created_.end(), object,
                               [](const ObjectRef& o, const SyncObject* p) { return o.get() < p; });
    return at != created_.end() && at->get() == object;
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

  // After Drain, on the operations planned from the read (the plan's own
  // vector, before anything else reads it): puts the full images back in
  // place of the twins that something other than this early apply needs.
  // When the plan has everything sent early, those are the creates the
  // store refused or asked to retry: the walk sends them again. When it
  // does not, or the early writes failed, it is every twin: the images come
  // back from the state's stage, both the stage and the batch are rolled
  // back (Abandon), and the plan is applied from the start. An error when
  // an image cannot be had back; the run must then stop.
  Status Settle(std::vector<Operation>* ops);
  // Puts back in `ops` the images of the twins whose creates the state's
  // stage holds. Before the stage is rolled back: for a caller that records
  // the run from the plan instead of the stage.
  Status RestoreFromStage(std::vector<Operation>* ops) const;
  // After Drain: whether `ops` has every operation that landed early; when
  // `taken` is given, it flags those operations (sized as `ops`).
  bool PlanHasAll(const std::vector<Operation>& ops, std::vector<bool>* taken = nullptr) const;
  bool settled() const { return settled_; }
  // After Settle: whether the plan continues what was sent early (Settle
  // did not abandon it).
  bool usable() const { return open_; }

  // Rolls back the store's batch and the state's stage: nothing sent early
  // lands. Idempotent.
  void Abandon();
  // ApplyPlan took the batch and the stage over; Abandon does nothing.
  void HandOver() { open_ = false; }

 private:
  EarlyApply(StateDb& state, Sink& sink, boost::asio::thread_pool& workers,
             std::vector<std::string> known, const QuarantineView& quarantine, Keep keep);
  // Replaces in `ops` each object `images` has (by the twin's address).
  static void Restore(const std::unordered_map<const SyncObject*, ObjectRef>& images,
                      std::vector<Operation>* ops);
  // `kept`: what the scope kept of the operation's object (a create's twin).
  void Queue(Operation op, ObjectRef kept);
  void SendQueued();
  boost::asio::awaitable<void> SendInOrder();
  // `op` for the sink, with the references creates sent early returned.
  SinkOp Request(const Operation& op, const ObjectRef& kept) const;
  // On the store's strand: the chunk's operations (a create each, up to
  // members_per_request adds of one group together); returns those that
  // landed, for the state's strand to stage.
  // Up to kChunk operations, each with what the scope kept of its object.
  struct Chunk {
    std::vector<Operation> ops;
    std::vector<ObjectRef> kept;
  };
  // Sends `chunk`; returns what landed.
  boost::asio::awaitable<Chunk> Send(std::shared_ptr<Chunk> chunk);
  // Keeps `image` for Settle, when the scope kept a twin of it.
  void KeepWhole(const ObjectRef& kept, const ObjectRef& image);
  void Fail(std::string why);

  StateDb& state_;
  Sink& sink_;
  boost::asio::strand<boost::asio::thread_pool::executor_type> store_strand_;
  boost::asio::strand<boost::asio::thread_pool::executor_type> state_strand_;
  const OnlyCreatable new_;
  const Keep keep_;
  Chunk queued_;  // the read's thread only
  std::mutex to_send_mutex_;
  std::deque<std::shared_ptr<Chunk>> to_send_;  // in order
  bool sending_ = false;                        // SendInOrder runs
  std::atomic<int> in_flight_{0};  // chunks sent and not yet staged, and the running sender
  std::atomic<bool> failed_{false};
  std::mutex failure_mutex_;
  std::string failure_;
  // Written on the store's strand; read after Drain. Pointers (to what the
  // scope kept), not map entries: a first sync sends every object and edge
  // early.
  std::vector<ObjectRef> created_;  // sorted by address after Drain
  std::vector<Edge> added_;
  std::unordered_map<const SyncObject*, std::string> refs_;  // the non-empty ones
  // Twin -> image, of the creates the plan's walk sends again (the store
  // refused them or asked to retry), or that no stage holds (the early
  // writes failed). From both strands.
  std::mutex whole_mutex_;
  std::unordered_map<const SyncObject*, ObjectRef> whole_;
  int64_t requests_ = 0;
  bool open_ = true;
  bool settled_ = false;
};

}  // namespace syncd

#endif  // SYNCD_APPLY_EARLY_APPLY_H_
