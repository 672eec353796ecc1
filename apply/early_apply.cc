#include "apply/early_apply.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <thread>

#include "core/log.h"

namespace syncd {
namespace asio = boost::asio;
namespace {

// Operations per chunk: large enough that a chunk's two hops cost nothing
// beside its writes, small enough that the last one, sent when the read
// ends, is quick.
constexpr size_t kChunk = 512;

}  // namespace

Result<std::unique_ptr<EarlyApply>> EarlyApply::Begin(StateDb& state, Sink& sink,
                                                      asio::thread_pool& workers,
                                                      std::vector<std::string> known,
                                                      const QuarantineView& quarantine, Keep keep) {
  if (!sink.capabilities().atomic_batches) {
    return Status::Internal(sink.Describe() + " has no atomic batches to create into early");
  }
  if (Status st = sink.BeginBatch(); !st.ok()) return st;
  if (Status st = state.BeginStage(); !st.ok()) {
    sink.AbortBatch();
    return st;
  }
  return std::unique_ptr<EarlyApply>(
      new EarlyApply(state, sink, workers, std::move(known), quarantine, std::move(keep)));
}

EarlyApply::EarlyApply(StateDb& state, Sink& sink, asio::thread_pool& workers,
                       std::vector<std::string> known, const QuarantineView& quarantine, Keep keep)
    : state_(state),
      sink_(sink),
      store_strand_(asio::make_strand(workers.get_executor())),
      state_strand_(asio::make_strand(workers.get_executor())),
      new_(std::move(known), quarantine),
      keep_(keep ? std::move(keep) : [](const ObjectRef& o) { return TwinOf(*o); }) {
  queued_.ops.reserve(kChunk);
  queued_.kept.reserve(kChunk);
}

EarlyApply::~EarlyApply() {
  // A caller that stopped early (a failed read) may not have drained: the
  // chunks in flight use this object until they are done, in milliseconds.
  while (in_flight_.load(std::memory_order_acquire) > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Abandon();
}

bool OnlyCreatable::operator()(const SyncObject& object) const {
  return !std::binary_search(known_.begin(), known_.end(), object.guid) &&
         quarantine_.Holding(object) == nullptr;
}

ObjectRef EarlyApply::Offer(ObjectRef object) {
  if (failed_.load(std::memory_order_relaxed) || !new_(*object)) return object;
  ObjectRef kept = keep_(object);
  const ObjectKind kind = object->kind;
  Queue({OpType::kCreate, kind, std::move(object), {}, nullptr}, kept);
  return kept;
}

void EarlyApply::OfferMember(const ObjectRef& group, const ObjectRef& member) {
  // Both ends were offered before (the scope reports objects first), and
  // queued if they are new; a twin is as new as its image.
  if (failed_.load(std::memory_order_relaxed) || !new_(*group) || !new_(*member)) return;
  Queue({OpType::kAddMember, ObjectKind::kGroup, group, {}, member}, group);
}

void EarlyApply::Queue(Operation op, ObjectRef kept) {
  queued_.ops.push_back(std::move(op));
  queued_.kept.push_back(std::move(kept));
  if (queued_.ops.size() >= kChunk) SendQueued();
}

void EarlyApply::SendQueued() {
  if (queued_.ops.empty()) return;
  auto chunk = std::make_shared<Chunk>(std::move(queued_));
  queued_ = {};
  queued_.ops.reserve(kChunk);
  queued_.kept.reserve(kChunk);
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  bool start = false;
  {
    std::lock_guard lock(to_send_mutex_);
    to_send_.push_back(std::move(chunk));
    start = !sending_;
    sending_ = true;
  }
  if (!start) return;
  // The sender counts as in flight until it has returned: it still takes
  // the queue's lock after its last chunk was staged, and Drain (then the
  // destructor) must not end before it has.
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  asio::co_spawn(store_strand_, SendInOrder(), [this](const std::exception_ptr& thrown) {
    if (thrown) Fail("unexpected exception while applying early");
    in_flight_.fetch_sub(1, std::memory_order_release);  // last: `this` may go at 0
  });
}

// One chunk after the other, whether or not the sink suspends (a group's
// create must reach it before the group's members): the store answers a
// chunk, then the state's strand stages what landed while the store takes
// the next.
asio::awaitable<void> EarlyApply::SendInOrder() {
  for (;;) {
    std::shared_ptr<Chunk> chunk;
    {
      std::lock_guard lock(to_send_mutex_);
      if (to_send_.empty()) {
        sending_ = false;
        co_return;
      }
      chunk = std::move(to_send_.front());
      to_send_.pop_front();
    }
    Chunk landed;
    try {
      landed = co_await Send(std::move(chunk));
    } catch (const std::exception& e) {
      Fail(std::string("unexpected exception while applying early: ") + e.what());
    }
    asio::post(state_strand_, [this, landed = std::move(landed)] {
      if (!landed.ops.empty() && !failed_.load(std::memory_order_relaxed)) {
        if (Status st = state_.StageEarly(landed.ops); !st.ok()) Fail(st.message());
      }
      // Not staged, or staged by a run that cannot use it: the images stay.
      if (failed_.load(std::memory_order_relaxed)) {
        for (size_t i = 0; i < landed.ops.size(); ++i) {
          if (landed.ops[i].op == OpType::kCreate) KeepWhole(landed.kept[i], landed.ops[i].object);
        }
      }
      in_flight_.fetch_sub(1, std::memory_order_release);
    });
  }
}

asio::awaitable<EarlyApply::Chunk> EarlyApply::Send(std::shared_ptr<Chunk> chunk) {
  Chunk landed;
  std::vector<Operation>& ops = chunk->ops;
  landed.ops.reserve(ops.size());
  landed.kept.reserve(ops.size());
  const size_t per_request = std::max<size_t>(1, sink_.capabilities().members_per_request);
  std::vector<SinkOp> request;
  size_t i = 0;
  while (i < ops.size() && !failed_.load(std::memory_order_relaxed)) {
    // A create alone; adds to one group together, as the walk sends them.
    request.clear();
    request.push_back(Request(ops[i], chunk->kept[i]));
    const Operation& first = ops[i];
    for (size_t j = i + 1;
         first.op == OpType::kAddMember && j < ops.size() && request.size() < per_request &&
         ops[j].op == OpType::kAddMember && ops[j].object == first.object;
         ++j) {
      request.push_back(Request(ops[j], chunk->kept[j]));
    }
    std::vector<OpOutcome> outcomes = co_await sink_.Apply(request);
    ++requests_;
    if (outcomes.size() != request.size()) {
      Fail(sink_.Describe() + " answered " + std::to_string(request.size()) + " operations with " +
           std::to_string(outcomes.size()) + " outcomes");
      break;
    }
    for (size_t k = 0; k < request.size(); ++k, ++i) {
      Operation& op = ops[i];
      const ObjectRef& kept = chunk->kept[i];
      if (failed_.load(std::memory_order_relaxed)) {
        // After a fatal answer nothing sent early is used.
        if (op.op == OpType::kCreate) KeepWhole(kept, op.object);
        continue;
      }
      switch (outcomes[k].kind) {
        case OpOutcome::Kind::kApplied:
          if (op.op == OpType::kCreate) {
            created_.push_back(kept);
            if (!outcomes[k].ref.empty()) refs_.emplace(kept.get(), std::move(outcomes[k].ref));
          } else {
            added_.emplace_back(op.object.get(), op.member.get());
          }
          landed.ops.push_back(std::move(op));
          landed.kept.push_back(kept);
          break;
        case OpOutcome::Kind::kRefused:
        case OpOutcome::Kind::kRetry:
          // The plan's walk sends it again, with its retries.
          if (op.op == OpType::kCreate) KeepWhole(kept, op.object);
          break;
        case OpOutcome::Kind::kFatal:
          Fail(outcomes[k].reason);
          if (op.op == OpType::kCreate) KeepWhole(kept, op.object);
          break;
      }
    }
  }
  // What was not sent: the plan is applied from the start.
  for (; i < ops.size(); ++i) {
    if (ops[i].op == OpType::kCreate) KeepWhole(chunk->kept[i], ops[i].object);
  }
  co_return landed;
}

SinkOp EarlyApply::Request(const Operation& op, const ObjectRef& kept) const {
  auto ref = [this](const SyncObject* o) {
    auto it = refs_.find(o);
    return it == refs_.end() ? std::string() : it->second;
  };
  return {&op, ref(kept.get()), op.member ? ref(op.member.get()) : std::string()};
}

void EarlyApply::KeepWhole(const ObjectRef& kept, const ObjectRef& image) {
  if (kept == image) return;  // the scope kept the image itself
  std::lock_guard lock(whole_mutex_);
  whole_.emplace(kept.get(), image);
}

bool EarlyApply::PlanHasAll(const std::vector<Operation>& ops, std::vector<bool>* taken) const {
  if (taken != nullptr) taken->assign(ops.size(), false);
  size_t created = 0;
  size_t added = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    const Operation& op = ops[i];
    if (op.op == OpType::kCreate && Created(op.object.get())) {
      ++created;
    } else if (op.op == OpType::kAddMember && Added(op.object.get(), op.member.get())) {
      ++added;
    } else {
      continue;
    }
    if (taken != nullptr) (*taken)[i] = true;
  }
  return created == created_.size() && added == added_.size();
}

void EarlyApply::Restore(const std::unordered_map<const SyncObject*, ObjectRef>& images,
                         std::vector<Operation>* ops) {
  auto restore = [&images](ObjectRef& o) {
    if (!o) return;
    auto found = images.find(o.get());
    if (found != images.end()) o = found->second;
  };
  for (Operation& op : *ops) {
    restore(op.object);
    restore(op.member);
  }
}

Status EarlyApply::RestoreFromStage(std::vector<Operation>* ops) const {
  std::vector<std::string> guids;
  std::unordered_map<std::string_view, const SyncObject*> twin_of;
  for (const ObjectRef& twin : created_) {
    if (whole_.contains(twin.get())) continue;  // landed, not staged: Settle has its image
    guids.push_back(twin->guid);
    twin_of.emplace(twin->guid, twin.get());
  }
  if (guids.empty()) return Status::Ok();
  auto staged = state_.LoadObjects(guids);
  if (!staged.ok()) {
    return staged.status().WithContext("the images of the objects created during the read");
  }
  std::unordered_map<const SyncObject*, ObjectRef> images;
  for (SyncObject& image : *staged) {
    auto twin = twin_of.find(image.guid);
    if (twin != twin_of.end()) images.emplace(twin->second, MakeObjectRef(std::move(image)));
  }
  if (images.size() < twin_of.size()) {
    return Status::Internal(std::to_string(twin_of.size() - images.size()) +
                            " objects created during the read are not in the state's stage");
  }
  Restore(images, ops);
  return Status::Ok();
}

Status EarlyApply::Settle(std::vector<Operation>* ops) {
  settled_ = true;
  if (!open_) return Status::Ok();
  // What the walk sends again, or what no stage holds, is sent whole.
  Restore(whole_, ops);
  if (failure_.empty() && PlanHasAll(*ops)) return Status::Ok();
  if (Status st = RestoreFromStage(ops); !st.ok()) return st;
  Log(LogLevel::kWarning,
      "what was applied during the read is rolled back and the plan applied from the start: " +
          (failure_.empty() ? std::string("the plan does not have all of it") : failure_));
  Abandon();
  return Status::Ok();
}

asio::awaitable<void> EarlyApply::Drain() {
  SendQueued();
  asio::steady_timer poll(co_await asio::this_coro::executor);
  while (in_flight_.load(std::memory_order_acquire) > 0) {
    poll.expires_after(std::chrono::milliseconds(2));
    co_await poll.async_wait(asio::use_awaitable);
  }
  std::sort(created_.begin(), created_.end(),
            [](const ObjectRef& a, const ObjectRef& b) { return a.get() < b.get(); });
  std::sort(added_.begin(), added_.end());
  added_.erase(std::unique(added_.begin(), added_.end()), added_.end());
}

void EarlyApply::Fail(std::string why) {
  std::lock_guard lock(failure_mutex_);
  if (failure_.empty()) failure_ = std::move(why);
  failed_.store(true, std::memory_order_relaxed);
}

void EarlyApply::Abandon() {
  if (!open_) return;
  open_ = false;
  sink_.AbortBatch();
  state_.RollbackStaged();
}

}  // namespace syncd
