#include "apply/apply.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <exception>
#include <memory>
#include <queue>
#include <random>
#include <unordered_map>

#include "apply/pacing.h"

namespace syncd {
namespace asio = boost::asio;
namespace {

using Clock = std::chrono::steady_clock;

// "create user alice", "add-member group staff member alice".
std::string Describe(const Operation& op) {
  std::string what = std::string(OpName(op.op)) + " " + KindName(op.kind) + " " + op.object->name;
  if (op.member) {
    what += " member " + op.member->name;
  }
  return what;
}

// One request's worth of items, and what it waits for. A full sync has a
// unit for most of its operations: what a unit's items still need is kept
// per item by the walk (Walk::settled_), and the creates they wait for are
// looked up (Walk::FailedCreate), not stored here.
struct Unit {
  // Its items: consecutive in the walk's items, [first_item, end_item).
  size_t first_item = 0;
  size_t end_item = 0;
  std::vector<size_t> dependents;  // units waiting for this one
  size_t waiting_for = 0;          // dependencies not done yet
  int attempts = 0;
  bool done = false;
};

// Splits the plan into units and links the order that matters (see
// ApplyItems).
std::vector<Unit> BuildUnits(std::span<const ApplyItem> items, size_t members_per_request) {
  std::vector<Unit> units;
  struct Touch {
    std::optional<size_t> structural;  // the last create/update/delete of the object
    std::vector<size_t> memberships;   // membership units since `structural`
    std::optional<size_t> last_of_group;
  };
  std::unordered_map<std::string_view, Touch> touched;  // by raw GUID, the operations' own
  auto depend = [&units](size_t unit, size_t on) {
    if (on == unit) {
      return;
    }
    auto& deps = units[on].dependents;
    if (!deps.empty() && deps.back() == unit) {
      return;
    }
    deps.push_back(unit);
    ++units[unit].waiting_for;
  };
  const size_t chunk = std::max<size_t>(1, members_per_request);
  for (size_t i = 0; i < items.size(); ++i) {
    const Operation& op = *items[i].op;
    if (IsMembership(op) && !units.empty()) {
      Unit& last = units.back();
      const Operation& prev = *items[last.end_item - 1].op;
      if (prev.op == op.op && prev.object->guid == op.object->guid &&
          last.end_item - last.first_item < chunk) {
        // Same group, same direction: the same request.
        last.end_item = i + 1;
        if (op.member) {
          Touch& member = touched[op.member->guid];
          if (member.structural) depend(units.size() - 1, *member.structural);
          member.memberships.push_back(units.size() - 1);
        }
        continue;
      }
    }
    const size_t u = units.size();
    units.push_back({});
    units[u].first_item = i;
    units[u].end_item = i + 1;
    if (IsMembership(op)) {
      for (const SyncObject* side : {op.object.get(), op.member.get()}) {
        if (side == nullptr) continue;
        Touch& t = touched[side->guid];
        if (t.structural) depend(u, *t.structural);
        t.memberships.push_back(u);
      }
      Touch& group = touched[op.object->guid];
      if (group.last_of_group) depend(u, *group.last_of_group);
      group.last_of_group = u;
    } else {
      Touch& t = touched[op.object->guid];
      if (t.structural) depend(u, *t.structural);
      for (size_t m : t.memberships) depend(u, m);
      t.memberships.clear();
      t.structural = u;
    }
  }
  return units;
}

constexpr char kOutOfTime[] = "the run's time ran out before it was sent; deferred to the next run";

// A fifth of a second's worth of requests, at least one. Recording each
// result durably blocks the walk's thread; with a burst of one, every token
// that fell due meanwhile was lost (19 requests/s at a rate of 25). Any
// window of T seconds still carries at most rate * (T + 0.2) requests.
double BurstFor(double rate) { return std::max(1.0, rate * 0.2); }

class Walk {
 public:
  Walk(Sink& sink, std::span<const ApplyItem> items, SinkRefs& refs, const ApplyOptions& options,
       const RecordResults& record, const asio::any_io_executor& executor)
      : sink_(sink),
        items_(items),
        refs_(refs),
        options_(options),
        record_(record),
        atomic_(sink.capabilities().atomic_batches),
        max_in_flight_(static_cast<size_t>(std::max(1, options.max_in_flight))),
        bucket_(options.rate_limit, BurstFor(options.rate_limit), Clock::now()),
        timer_(executor),
        units_(BuildUnits(items, sink.capabilities().members_per_request)),
        applied_(items.size(), false),
        settled_(items.size(), false) {
    // An atomic sink's results wait for its commit: all of them at once.
    if (atomic_) pending_.reserve(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].op->op == OpType::kCreate) create_of_.emplace(items[i].op->object->guid, i);
    }
    if (options_.random) {
      random_ = options_.random;
    } else {
      random_ = [engine = std::make_shared<std::mt19937_64>(std::random_device{}())]() {
        return std::uniform_real_distribution<>(0, 1)(*engine);
      };
    }
  }

  asio::awaitable<ApplyReport> Run() {
    co_await asio::this_coro::throw_if_cancelled(false);
    if (atomic_ && !options_.batch_open) {
      if (Status st = sink_.BeginBatch(); !st.ok()) {
        report_.fatal = st;
        co_return std::move(report_);
      }
    }
    for (size_t u = 0; u < units_.size(); ++u) {
      if (units_[u].waiting_for == 0) ready_.push(u);
    }
    co_await MainPass();
    if (!Stopping()) co_await SecondPass();
    Finish();
    co_return std::move(report_);
  }

 private:
  struct Completion {
    size_t unit;
    std::vector<OpOutcome> outcomes;
  };

  bool Stopping() const { return stopped_ || report_.fatal.has_value(); }

  asio::awaitable<void> MainPass() {
    while (true) {
      if (Stopping()) {
        report_.stopped = report_.stopped || !report_.fatal;
      } else {
        Dispatch();
        if (max_in_flight_ == 1 && inline_next_) {
          // One at a time: apply inline, without a spawn and a wake-up per
          // request (the local store applies a whole directory this way).
          const size_t u = *inline_next_;
          inline_next_.reset();
          auto outcomes = co_await Send(Todo(u));
          if (co_await Cancelled()) continue;
          Complete(u, std::move(outcomes));
          continue;
        }
      }
      Drain();
      if (in_flight_ == 0 && (Stopping() || (ready_.empty() && delayed_.empty()))) break;
      co_await Sleep();
      Drain();
    }
    if (!Stopping() &&
        std::any_of(units_.begin(), units_.end(), [](const Unit& u) { return !u.done; })) {
      // Units whose dependencies never completed cannot exist: every unit
      // becomes ready once the units before it are done.
      report_.fatal = Status::Internal("apply: operations left waiting with nothing in flight");
    }
  }

  // Starts what may start now; remembers when to look again.
  void Dispatch() {
    const auto now = Clock::now();
    const bool late = now >= Deadline();
    while (!delayed_.empty() && (late || delayed_.top().first <= now)) {
      ready_.push(delayed_.top().second);
      delayed_.pop();
    }
    while (!ready_.empty() && in_flight_ < max_in_flight_ && !inline_next_) {
      const size_t u = ready_.top();
      if (DeferIfCreatorFailed(u)) {
        ready_.pop();
        continue;
      }
      if (now >= Deadline()) {
        ready_.pop();
        DeferUnit(u, kOutOfTime);
        continue;
      }
      const auto wait = bucket_.Wait(now);
      if (wait > Clock::duration::zero()) {
        wake_at_ = std::min(wake_at_, now + wait);
        return;
      }
      ready_.pop();
      bucket_.Take(now);
      if (max_in_flight_ == 1) {
        inline_next_ = u;
        return;
      }
      Spawn(u);
    }
  }

  bool DeferIfCreatorFailed(size_t u) {
    const std::vector<size_t> todo = Todo(u);
    if (std::none_of(todo.begin(), todo.end(),
                     [this](size_t i) { return FailedCreate(i).has_value(); })) {
      return false;
    }
    // Held for the second pass, which tries it again if the create lands
    // then, and defers it otherwise.
    for (size_t i : todo) Hold(i, &waiting_on_create_);
    Done(u);
    return true;
  }

  // The unit's items not yet applied, refused or deferred, in plan order.
  std::vector<size_t> Todo(size_t u) const {
    std::vector<size_t> todo;
    for (size_t i = units_[u].first_item; i < units_[u].end_item; ++i) {
      if (!settled_[i]) todo.push_back(i);
    }
    return todo;
  }

  // Item i leaves its unit's to-do for `list` (the second pass).
  void Hold(size_t i, std::vector<size_t>* list) {
    settled_[i] = true;
    list->push_back(i);
  }

  void Spawn(size_t u) {
    ++in_flight_;
    auto signal = std::make_shared<asio::cancellation_signal>();
    signals_[u] = signal;
    asio::co_spawn(
        timer_.get_executor(), Send(Todo(u)),
        asio::bind_cancellation_slot(
            signal->slot(), [this, u](const std::exception_ptr& error, std::vector<OpOutcome> out) {
              if (error) {
                out.assign(Todo(u).size(), OpOutcome::Retry("the request was interrupted"));
              }
              completions_.push_back({u, std::move(out)});
              timer_.cancel();
            }));
  }

  // One request for `todo` (items of one unit). Never throws: an
  // interrupted request is a retry.
  asio::awaitable<std::vector<OpOutcome>> Send(std::vector<size_t> todo) {
    std::vector<SinkOp> ops;
    ops.reserve(todo.size());
    for (size_t i : todo) {
      const Operation& op = *items_[i].op;
      SinkOp sink_op;
      sink_op.op = &op;
      if (auto ref = refs_.find(op.object->guid); ref != refs_.end())
        sink_op.object_ref = ref->second;
      if (op.member) {
        if (auto ref = refs_.find(op.member->guid); ref != refs_.end()) {
          sink_op.member_ref = ref->second;
        }
      }
      ops.push_back(std::move(sink_op));
    }
    ++report_.requests;
    try {
      co_return co_await sink_.Apply(ops);
    } catch (const std::exception& e) {
      co_return std::vector<OpOutcome>(
          todo.size(), OpOutcome::Retry(std::string("the request was interrupted: ") + e.what()));
    }
  }

  asio::awaitable<bool> Cancelled() {
    if ((co_await asio::this_coro::cancellation_state).cancelled() ==
        asio::cancellation_type::none) {
      co_return false;
    }
    co_await asio::this_coro::reset_cancellation_state();
    stopped_ = true;
    for (auto& [u, signal] : signals_) signal->emit(asio::cancellation_type::terminal);
    co_return true;
  }

  asio::awaitable<void> Sleep() {
    auto until = wake_at_;
    wake_at_ = Clock::time_point::max();
    if (!delayed_.empty()) until = std::min(until, delayed_.top().first);
    // A deadline moved from another thread is seen within this.
    if (options_.deadline != nullptr) until = std::min(until, Clock::now() + kDeadlinePoll);
    if (!completions_.empty()) co_return;
    if (until == Clock::time_point::max() && in_flight_ == 0) co_return;
    timer_.expires_at(until);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)co_await Cancelled();
  }

  void Drain() {
    while (!completions_.empty()) {
      Completion c = std::move(completions_.front());
      completions_.pop_front();
      --in_flight_;
      signals_.erase(c.unit);
      Complete(c.unit, std::move(c.outcomes));
    }
  }

  // What a request's outcomes mean for its unit.
  void Complete(size_t u, std::vector<OpOutcome> outcomes) {
    const std::vector<size_t> todo = Todo(u);  // what the request carried
    if (outcomes.size() != todo.size()) {
      report_.fatal =
          Status::Internal(sink_.Describe() + " answered " + std::to_string(outcomes.size()) +
                           " outcomes for " + std::to_string(todo.size()) + " operations");
      return;
    }
    bool again = false;  // some items stay to do
    std::optional<std::chrono::milliseconds> retry_after;
    std::string retry_reason;
    for (size_t k = 0; k < outcomes.size(); ++k) {
      const size_t i = todo[k];
      OpOutcome& outcome = outcomes[k];
      switch (outcome.kind) {
        case OpOutcome::Kind::kApplied:
          Applied(i, std::move(outcome.ref));
          break;
        case OpOutcome::Kind::kRefused:
          Hold(i, &refused_);
          break;
        case OpOutcome::Kind::kRetry:
          again = true;
          retry_reason = outcome.reason;
          if (outcome.retry_after)
            retry_after =
                std::max(retry_after.value_or(*outcome.retry_after), *outcome.retry_after);
          break;
        case OpOutcome::Kind::kFatal:
          report_.fatal = Status::Unavailable(outcome.reason).WithContext(Describe(*items_[i].op));
          again = true;
          break;
      }
    }
    if (report_.fatal) {
      return;  // what is left stays pending
    }
    if (again) {
      Retry(u, retry_reason, retry_after);
      return;
    }
    Done(u);
  }

  void Retry(size_t u, const std::string& reason, std::optional<std::chrono::milliseconds> after) {
    Unit& unit = units_[u];
    ++unit.attempts;
    const auto now = Clock::now();
    if (after) {
      ++report_.throttled;
      // The store is overloaded: nothing goes before it says so.
      bucket_.PauseUntil(now + *after);
    }
    if (unit.attempts >= options_.max_attempts) {
      DeferUnit(
          u, reason + " (" + std::to_string(unit.attempts) + " tries); deferred to the next run");
      return;
    }
    const auto delay = Backoff(unit.attempts, options_.backoff_base, options_.backoff_cap,
                               random_(), after.value_or(std::chrono::milliseconds(0)));
    if (now + delay >= Deadline()) {
      DeferUnit(u,
                reason + "; the run's time ran out before the next try; deferred to the next run");
      return;
    }
    ++report_.retries;
    delayed_.push({now + delay, u});
  }

  void Applied(size_t i, std::string ref) {
    const Operation& op = *items_[i].op;
    if (op.op == OpType::kCreate && !ref.empty()) refs_[op.object->guid] = ref;
    if (op.op == OpType::kDelete) refs_.erase(op.object->guid);
    Result(i, ItemStatus::kApplied, std::move(ref));
  }

  void DeferUnit(size_t u, const std::string& reason) {
    for (size_t i : Todo(u)) {
      Result(i, ItemStatus::kDeferred, Describe(*items_[i].op) + ": " + reason);
    }
    Done(u);
  }

  void Done(size_t u) {
    Unit& unit = units_[u];
    unit.done = true;
    for (size_t d : unit.dependents) {
      if (--units_[d].waiting_for == 0) ready_.push(d);
    }
    Flush();
  }

  // `detail`: see ItemResult.
  void Result(size_t i, ItemStatus status, std::string detail) {
    if (status == ItemStatus::kApplied) applied_[i] = true;
    settled_[i] = true;
    pending_.push_back({items_[i].seq, status, std::move(detail)});
  }

  // Records what landed so far; atomic sinks record once, after the commit.
  void Flush() {
    if (atomic_ || pending_.empty()) return;
    Status st = record_(pending_);
    if (!st.ok()) {
      report_.fatal = st;
      return;
    }
    std::move(pending_.begin(), pending_.end(), std::back_inserter(report_.results));
    pending_.clear();
  }

  // Refused items, and those that waited for a create that did not land,
  // once more in plan order: a name freed later in the run lets them
  // through.
  asio::awaitable<void> SecondPass() {
    std::vector<size_t> order;
    order.insert(order.end(), refused_.begin(), refused_.end());
    order.insert(order.end(), waiting_on_create_.begin(), waiting_on_create_.end());
    refused_.clear();
    waiting_on_create_.clear();
    std::sort(order.begin(), order.end());
    for (size_t i : order) {
      if (Stopping()) break;
      const Operation& op = *items_[i].op;
      if (auto missing = FailedCreate(i)) {
        Result(i, ItemStatus::kDeferred,
               Describe(op) + ": waits for " + Describe(*items_[*missing].op) +
                   ", which did not land");
        continue;
      }
      if (Clock::now() >= Deadline()) {
        Result(i, ItemStatus::kDeferred, Describe(op) + ": " + kOutOfTime);
        continue;
      }
      if (const auto wait = bucket_.Wait(Clock::now()); wait > Clock::duration::zero()) {
        timer_.expires_after(wait);
        co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      bucket_.Take(Clock::now());
      std::vector<size_t> one{i};
      auto outcomes = co_await Send(std::move(one));
      if (co_await Cancelled()) break;
      OpOutcome outcome = outcomes.size() == 1 ? std::move(outcomes.front())
                                               : OpOutcome::Fatal("the store gave no outcome");
      switch (outcome.kind) {
        case OpOutcome::Kind::kApplied:
          Applied(i, std::move(outcome.ref));
          break;
        case OpOutcome::Kind::kRefused:
          Result(i, ItemStatus::kRefused, Describe(op) + ": " + outcome.reason);
          break;
        case OpOutcome::Kind::kRetry:
          Result(i, ItemStatus::kDeferred,
                 Describe(op) + ": " + outcome.reason + "; deferred to the next run");
          break;
        case OpOutcome::Kind::kFatal:
          report_.fatal = Status::Unavailable(outcome.reason).WithContext(Describe(op));
          break;
      }
    }
    Flush();
  }

  // The item of a create, planned before item i, of an object i names (the
  // group and the member of a membership) that has not landed (yet: the
  // main pass waits for it, the second pass knows); nullopt when none.
  std::optional<size_t> FailedCreate(size_t i) const {
    const Operation& op = *items_[i].op;
    if (op.op == OpType::kCreate) return std::nullopt;
    for (const SyncObject* side : {op.object.get(), op.member.get()}) {
      if (side == nullptr) continue;
      auto create = create_of_.find(side->guid);
      if (create != create_of_.end() && create->second < i && !applied_[create->second]) {
        return create->second;
      }
    }
    return std::nullopt;
  }

  void Finish() {
    if (!atomic_) {
      if (!Stopping()) Flush();
      return;
    }
    if (Stopping()) {
      sink_.AbortBatch();
      return;
    }
    if (Status st = sink_.CommitBatch(); !st.ok()) {
      report_.fatal = st;
      return;
    }
    Status st = record_(pending_);
    if (!st.ok()) {
      report_.fatal = st;
      return;
    }
    report_.results = std::move(pending_);
  }

  Clock::time_point Deadline() const {
    return options_.deadline != nullptr ? options_.deadline->load() : Clock::time_point::max();
  }

  static constexpr auto kDeadlinePoll = std::chrono::milliseconds(200);

  Sink& sink_;
  std::span<const ApplyItem> items_;
  SinkRefs& refs_;
  const ApplyOptions& options_;
  const RecordResults& record_;
  const bool atomic_;
  const size_t max_in_flight_;
  TokenBucket bucket_;
  asio::steady_timer timer_;
  std::vector<Unit> units_;
  std::function<double()> random_;

  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready_;
  using Delayed = std::pair<Clock::time_point, size_t>;
  std::priority_queue<Delayed, std::vector<Delayed>, std::greater<>> delayed_;
  std::optional<size_t> inline_next_;
  size_t in_flight_ = 0;
  std::deque<Completion> completions_;
  std::unordered_map<size_t, std::shared_ptr<asio::cancellation_signal>> signals_;
  Clock::time_point wake_at_ = Clock::time_point::max();
  bool stopped_ = false;

  // raw GUID (the operation's own) -> its create's item
  std::unordered_map<std::string_view, size_t> create_of_;
  std::vector<bool> applied_;    // per item
  std::vector<bool> settled_;    // per item: applied, refused, deferred or held
  std::vector<size_t> refused_;  // held for the second pass
  std::vector<size_t> waiting_on_create_;
  std::vector<ItemResult> pending_;  // results not yet recorded
  ApplyReport report_;
};

}  // namespace

asio::awaitable<ApplyReport> ApplyItems(Sink& sink, std::span<const ApplyItem> items,
                                        SinkRefs& refs, const ApplyOptions& options,
                                        const RecordResults& record) {
  Walk walk(sink, items, refs, options, record, co_await asio::this_coro::executor);
  co_return co_await walk.Run();
}

}  // namespace syncd
