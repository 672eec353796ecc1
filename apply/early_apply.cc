#include "apply/early_apply.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <thread>

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
                                                      const QuarantineView& quarantine) {
  if (!sink.capabilities().atomic_batches) {
    return Status::Internal(sink.Describe() + " has no atomic batches to create into early");
  }
  if (Status st = sink.BeginBatch(); !st.ok()) return st;
  if (Status st = state.BeginStage(); !st.ok()) {
    sink.AbortBatch();
    return st;
  }
  return std::unique_ptr<EarlyApply>(
      new EarlyApply(state, sink, workers, std::move(known), quarantine));
}

EarlyApply::EarlyApply(StateDb& state, Sink& sink, asio::thread_pool& workers,
                       std::vector<std::string> known, const QuarantineView& quarantine)
    : state_(state),
      sink_(sink),
      store_strand_(asio::make_strand(workers.get_executor())),
      state_strand_(asio::make_strand(workers.get_executor())),
      known_(std::move(known)),
      quarantine_(quarantine) {
  queued_.reserve(kChunk);
}

EarlyApply::~EarlyApply() {
  // A caller that stopped early (a failed read) may not have drained: the
  // chunks in flight use this object until they are done, in milliseconds.
  while (in_flight_.load(std::memory_order_acquire) > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Abandon();
}

bool EarlyApply::New(const SyncObject& object) const {
  return !std::binary_search(known_.begin(), known_.end(), object.guid) &&
         quarantine_.Holding(object) == nullptr;
}

void EarlyApply::Offer(const ObjectRef& object) {
  if (failed_.load(std::memory_order_relaxed) || !New(*object)) return;
  Queue({OpType::kCreate, object->kind, object, {}, nullptr});
}

void EarlyApply::OfferMember(const ObjectRef& group, const ObjectRef& member) {
  // Both ends were offered before (the scope reports objects first), and
  // queued if they are new.
  if (failed_.load(std::memory_order_relaxed) || !New(*group) || !New(*member)) return;
  Queue({OpType::kAddMember, ObjectKind::kGroup, group, {}, member});
}

void EarlyApply::Queue(Operation op) {
  queued_.push_back(std::move(op));
  if (queued_.size() >= kChunk) SendQueued();
}

void EarlyApply::SendQueued() {
  if (queued_.empty()) return;
  auto chunk = std::make_shared<std::vector<Operation>>(std::move(queued_));
  queued_ = {};
  queued_.reserve(kChunk);
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  bool start = false;
  {
    std::lock_guard lock(to_send_mutex_);
    to_send_.push_back(std::move(chunk));
    start = !sending_;
    sending_ = true;
  }
  if (!start) return;
  asio::co_spawn(store_strand_, SendInOrder(), [this](const std::exception_ptr& thrown) {
    if (thrown) Fail("unexpected exception while applying early");
  });
}

// One chunk after the other, whether or not the sink suspends (a group's
// create must reach it before the group's members): the store answers a
// chunk, then the state's strand stages what landed while the store takes
// the next.
asio::awaitable<void> EarlyApply::SendInOrder() {
  for (;;) {
    std::shared_ptr<std::vector<Operation>> chunk;
    {
      std::lock_guard lock(to_send_mutex_);
      if (to_send_.empty()) {
        sending_ = false;
        co_return;
      }
      chunk = std::move(to_send_.front());
      to_send_.pop_front();
    }
    std::vector<Operation> landed;
    try {
      landed = co_await Send(std::move(chunk));
    } catch (const std::exception& e) {
      Fail(std::string("unexpected exception while applying early: ") + e.what());
    }
    asio::post(state_strand_, [this, landed = std::move(landed)] {
      if (!landed.empty() && !failed_.load(std::memory_order_relaxed)) {
        if (Status st = state_.StageEarly(landed); !st.ok()) Fail(st.message());
      }
      in_flight_.fetch_sub(1, std::memory_order_release);
    });
  }
}

asio::awaitable<std::vector<Operation>> EarlyApply::Send(
    std::shared_ptr<std::vector<Operation>> chunk) {
  std::vector<Operation> landed;
  if (failed_.load(std::memory_order_relaxed)) co_return landed;
  landed.reserve(chunk->size());
  const size_t per_request = std::max<size_t>(1, sink_.capabilities().members_per_request);
  std::vector<SinkOp> request;
  for (size_t i = 0; i < chunk->size();) {
    // A create alone; adds to one group together, as the walk sends them.
    request.clear();
    request.push_back(Request((*chunk)[i]));
    const Operation& first = (*chunk)[i];
    for (size_t j = i + 1;
         first.op == OpType::kAddMember && j < chunk->size() && request.size() < per_request &&
         (*chunk)[j].op == OpType::kAddMember && (*chunk)[j].object == first.object;
         ++j) {
      request.push_back(Request((*chunk)[j]));
    }
    std::vector<OpOutcome> outcomes = co_await sink_.Apply(request);
    ++requests_;
    if (outcomes.size() != request.size()) {
      Fail(sink_.Describe() + " answered " + std::to_string(request.size()) + " operations with " +
           std::to_string(outcomes.size()) + " outcomes");
      co_return landed;
    }
    for (size_t k = 0; k < request.size(); ++k, ++i) {
      Operation& op = (*chunk)[i];
      switch (outcomes[k].kind) {
        case OpOutcome::Kind::kApplied:
          if (op.op == OpType::kCreate) {
            created_.push_back(op.object.get());
            if (!outcomes[k].ref.empty()) {
              refs_.emplace(op.object.get(), std::move(outcomes[k].ref));
            }
          } else {
            added_.emplace_back(op.object.get(), op.member.get());
          }
          landed.push_back(std::move(op));
          break;
        case OpOutcome::Kind::kRefused:
        case OpOutcome::Kind::kRetry:
          break;  // the plan's walk sends it again, with its retries
        case OpOutcome::Kind::kFatal:
          Fail(outcomes[k].reason);
          co_return landed;
      }
    }
  }
  co_return landed;
}

SinkOp EarlyApply::Request(const Operation& op) const {
  auto ref = [this](const ObjectRef& o) {
    auto it = refs_.find(o.get());
    return it == refs_.end() ? std::string() : it->second;
  };
  return {&op, ref(op.object), op.member ? ref(op.member) : std::string()};
}

asio::awaitable<void> EarlyApply::Drain() {
  SendQueued();
  asio::steady_timer poll(co_await asio::this_coro::executor);
  while (in_flight_.load(std::memory_order_acquire) > 0) {
    poll.expires_after(std::chrono::milliseconds(2));
    co_await poll.async_wait(asio::use_awaitable);
  }
  std::sort(created_.begin(), created_.end());
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
