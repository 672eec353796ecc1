#include "apply/early_creates.h"

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

// Creates per chunk: large enough that a chunk's two hops cost nothing
// beside its writes, small enough that the last one, sent when the read
// ends, is quick.
constexpr size_t kChunk = 512;

}  // namespace

Result<std::unique_ptr<EarlyCreates>> EarlyCreates::Begin(StateDb& state, Sink& sink,
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
  return std::unique_ptr<EarlyCreates>(
      new EarlyCreates(state, sink, workers, std::move(known), quarantine));
}

EarlyCreates::EarlyCreates(StateDb& state, Sink& sink, asio::thread_pool& workers,
                           std::vector<std::string> known, const QuarantineView& quarantine)
    : state_(state),
      sink_(sink),
      store_strand_(asio::make_strand(workers.get_executor())),
      state_strand_(asio::make_strand(workers.get_executor())),
      known_(std::move(known)),
      quarantine_(quarantine) {
  queued_.reserve(kChunk);
}

EarlyCreates::~EarlyCreates() {
  // A caller that stopped early (a failed read) may not have drained: the
  // chunks in flight use this object until they are done, in milliseconds.
  while (in_flight_.load(std::memory_order_acquire) > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Abandon();
}

void EarlyCreates::Offer(const ObjectRef& object) {
  if (failed_.load(std::memory_order_relaxed)) return;
  if (std::binary_search(known_.begin(), known_.end(), object->guid)) return;
  if (quarantine_.Holding(*object) != nullptr) return;
  queued_.push_back({OpType::kCreate, object->kind, object, {}, nullptr});
  if (queued_.size() >= kChunk) SendQueued();
}

void EarlyCreates::SendQueued() {
  if (queued_.empty()) return;
  auto chunk = std::make_shared<std::vector<Operation>>(std::move(queued_));
  queued_ = {};
  queued_.reserve(kChunk);
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  // The store's strand answers the chunk, then the state's strand stages
  // what landed: the next chunk reaches the store meanwhile.
  asio::co_spawn(store_strand_, Send(std::move(chunk)),
                 [this](const std::exception_ptr& thrown, std::vector<Operation> landed) {
                   if (thrown) Fail("unexpected exception while creating early");
                   asio::post(state_strand_, [this, landed = std::move(landed)] {
                     if (!landed.empty() && !failed_.load(std::memory_order_relaxed)) {
                       if (Status st = state_.StageCreates(landed); !st.ok()) Fail(st.message());
                     }
                     in_flight_.fetch_sub(1, std::memory_order_release);
                   });
                 });
}

asio::awaitable<std::vector<Operation>> EarlyCreates::Send(
    std::shared_ptr<std::vector<Operation>> chunk) {
  std::vector<Operation> landed;
  if (failed_.load(std::memory_order_relaxed)) co_return landed;
  landed.reserve(chunk->size());
  for (Operation& op : *chunk) {
    const SinkOp request{&op, {}, {}};
    std::vector<OpOutcome> outcomes = co_await sink_.Apply(std::span<const SinkOp>(&request, 1));
    if (outcomes.size() != 1) {
      Fail(sink_.Describe() + " answered one create with " + std::to_string(outcomes.size()) +
           " outcomes");
      co_return landed;
    }
    switch (outcomes.front().kind) {
      case OpOutcome::Kind::kApplied:
        applied_.push_back(op.object.get());
        if (!outcomes.front().ref.empty()) {
          refs_.emplace(op.object.get(), std::move(outcomes.front().ref));
        }
        landed.push_back(std::move(op));
        break;
      case OpOutcome::Kind::kRefused:
      case OpOutcome::Kind::kRetry:
        break;  // the plan's walk sends it again, with its retries
      case OpOutcome::Kind::kFatal:
        Fail(outcomes.front().reason);
        co_return landed;
    }
  }
  co_return landed;
}

asio::awaitable<void> EarlyCreates::Drain() {
  SendQueued();
  asio::steady_timer poll(co_await asio::this_coro::executor);
  while (in_flight_.load(std::memory_order_acquire) > 0) {
    poll.expires_after(std::chrono::milliseconds(2));
    co_await poll.async_wait(asio::use_awaitable);
  }
  std::sort(applied_.begin(), applied_.end());
}

void EarlyCreates::Fail(std::string why) {
  std::lock_guard lock(failure_mutex_);
  if (failure_.empty()) failure_ = std::move(why);
  failed_.store(true, std::memory_order_relaxed);
}

void EarlyCreates::Abandon() {
  if (!open_) return;
  open_ = false;
  sink_.AbortBatch();
  state_.RollbackStaged();
}

}  // namespace syncd
