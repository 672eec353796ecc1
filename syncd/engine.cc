#include "syncd/engine.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstring>

#include "ldap/connection.h"
#include "state/state_db.h"
#include "store/identity_store.h"
#include "syncd/log.h"
#include "syncd/planner.h"
#include "syncd/reader.h"

namespace syncd {
namespace asio = boost::asio;
namespace {

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// An exclusive advisory lock on a file, held until destruction.
class RunLock {
 public:
  RunLock() = default;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock() {
    if (fd_ >= 0) close(fd_);  // releases the lock
  }

  Status Acquire(const std::string& path) {
    fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      return Status::Unavailable("cannot open lock file " + path + ": " + std::strerror(errno));
    }
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      return Status::Unavailable("another syncd run is applying changes (lock " + path +
                                 " is held); try again when it has finished");
    }
    return Status::Ok();
  }

 private:
  int fd_ = -1;
};

// The operations of `ops` that landed: all but the refused ones.
std::vector<Operation> Landed(const std::vector<Operation>& ops, const ApplyOutcome& outcome) {
  std::vector<Operation> landed;
  landed.reserve(outcome.applied);
  auto failed = outcome.failed_indexes.begin();
  for (size_t i = 0; i < ops.size(); ++i) {
    if (failed != outcome.failed_indexes.end() && *failed == i) {
      ++failed;
    } else {
      landed.push_back(ops[i]);
    }
  }
  return landed;
}

// Records what landed without copying the batch when all of it did.
Status CommitLanded(StateDb& state, const RunRecord& record, const std::vector<Operation>& ops,
                    const ApplyOutcome& outcome) {
  if (outcome.failed.empty()) return state.CommitRun(record, ops);
  return state.CommitRun(record, Landed(ops, outcome));
}

}  // namespace

Result<ApplyOutcome> ApplyBatch(IdentityStore& store, const std::vector<Operation>& ops) {
  ApplyOutcome outcome;
  Status st = store.Begin();
  if (!st.ok()) return st;
  // Refusals for the object itself are skipped (and retried next run);
  // anything else means the store failed, and the whole batch goes.
  std::vector<std::pair<size_t, Status>> refused;
  auto apply = [&](size_t i) -> Status {
    const Operation& op = ops[i];
    Status applied = store.Apply(op);
    if (applied.ok()) {
      ++outcome.applied;
      return applied;
    }
    const std::string what = std::string(OpName(op.op)) + " " + KindName(op.kind) + " " +
                             op.object.name + (op.member ? " member " + op.member->name : "");
    if (applied.code() == Status::Code::kConflict ||
        applied.code() == Status::Code::kInvalidArgument ||
        applied.code() == Status::Code::kNotFound) {
      refused.push_back({i, applied.WithContext(what)});
      return Status::Ok();
    }
    return applied.WithContext(what);
  };
  for (size_t i = 0; i < ops.size(); ++i) {
    st = apply(i);
    if (!st.ok()) {
      store.Rollback();
      return st;
    }
  }
  // A name freed later in the batch (an account deleted and recreated with
  // the same UPN, a rename) lets a refused create or update through, and so
  // do memberships of what it creates: one more pass, in plan order.
  if (!refused.empty()) {
    std::vector<std::pair<size_t, Status>> first_pass;
    first_pass.swap(refused);
    for (const auto& [i, why] : first_pass) {
      st = apply(i);
      if (!st.ok()) {
        store.Rollback();
        return st;
      }
    }
  }
  st = store.Commit();
  if (!st.ok()) return st;
  for (auto& [i, why] : refused) {
    outcome.failed.push_back({ops[i], std::move(why)});
    outcome.failed_indexes.push_back(i);
  }
  return outcome;
}

Result<int> ResumeOutbox(StateDb& state, IdentityStore& store) {
  int64_t run_id = 0;
  auto pending = state.PendingOutbox(&run_id);
  if (!pending.ok()) return pending.status();
  if (pending->empty()) return 0;
  Log(LogLevel::kWarning, "run " + std::to_string(run_id) + " was interrupted; re-applying its " +
                              std::to_string(pending->size()) + " journaled operations");
  auto outcome = ApplyBatch(store, *pending);
  if (!outcome.ok()) return outcome.status().WithContext("resuming run " + std::to_string(run_id));
  for (const auto& [op, why] : outcome->failed) Log(LogLevel::kError, why.message());
  RunRecord record{run_id,
                   "full",
                   0,
                   Now(),
                   outcome->failed.empty() ? "ok" : "partial",
                   {{"resumed", static_cast<int64_t>(outcome->applied)}},
                   "resumed after an interruption"};
  Status st = CommitLanded(state, record, *pending, *outcome);
  if (!st.ok()) return st;
  return static_cast<int>(outcome->applied);
}

asio::awaitable<Result<ApplyOutcome>> ApplyPlan(StateDb& state, IdentityStore& store,
                                                const std::vector<Operation>& ops, RunRecord record,
                                                asio::thread_pool& workers) {
  // Journal first; then the store batch and the state's update of its cache,
  // side by side on two workers (two SQLite files); the state commits only
  // after the store has. A crash anywhere leaves the journal: ResumeOutbox.
  PhaseTimer timer;
  Status st = state.WriteOutbox(record.id, ops);
  if (!st.ok()) co_return st;
  Log(LogLevel::kDebug, "journaled in " + timer.Elapsed());
  record.finished_at = Now();
  auto store_batch = asio::co_spawn(
      workers, [&]() -> asio::awaitable<Result<ApplyOutcome>> { co_return ApplyBatch(store, ops); },
      asio::deferred);
  auto state_stage = asio::co_spawn(
      workers, [&]() -> asio::awaitable<Status> { co_return state.StageRun(record, ops); },
      asio::deferred);
  auto [order, store_error, outcome, state_error, staged] =
      co_await asio::experimental::make_parallel_group(std::move(store_batch),
                                                       std::move(state_stage))
          .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  Log(LogLevel::kDebug, "store and state staged at " + timer.Elapsed());
  if (store_error || state_error) {
    state.RollbackStaged();
    co_return Status::Internal("unexpected exception while applying the plan");
  }
  if (!outcome.ok()) {
    state.RollbackStaged();
    record.outcome = "failed";
    record.message = outcome.status().message();
    // The batch rolled back: nothing of it landed, so the journal goes too.
    Status cleared = state.CommitRun(record, {});
    if (!cleared.ok()) Log(LogLevel::kError, cleared.message());
    co_return outcome.status();
  }
  if (!outcome->failed.empty()) {
    // The staged cache assumed everything landed: redo it with what did.
    state.RollbackStaged();
    record.outcome = "partial";
    record.counts["failed"] = static_cast<int64_t>(outcome->failed.size());
    record.message = outcome->failed.front().second.message();
    st = CommitLanded(state, record, ops, *outcome);
  } else {
    // The store batch is durable: the state may say so.
    st = staged.ok() ? state.CommitStaged() : staged;
  }
  if (!st.ok()) co_return st;
  co_return std::move(outcome);
}

asio::awaitable<Result<RunResult>> RunOnce(const Config& config, asio::thread_pool& workers,
                                           bool dry_run) {
  RunResult result;
  ldap::ConnectOptions options;
  options.uris = config.source.uris;
  options.auth = config.source.auth;
  options.bind_dn = config.source.bind_dn;
  if (options.auth == ldap::AuthMethod::kSimple) {
    auto password = ReadSecretFile(config.source.password_file, "source.password_file");
    if (!password.ok()) co_return password.status();
    options.password = std::move(*password);
  }
  options.tls_ca_file = config.source.tls_ca_file;
  options.starttls = config.source.starttls;
  options.tls_verify = config.source.tls_verify;
  if (!options.tls_verify) {
    Log(LogLevel::kWarning,
        "TLS certificate verification is off (source.tls_verify = false): anyone on the path "
        "can impersonate the DC");
  }
  options.connect_timeout = std::chrono::seconds(config.source.connect_timeout);
  options.operation_timeout = std::chrono::seconds(config.source.timeout);

  auto executor = co_await asio::this_coro::executor;
  const int64_t started = Now();
  auto connection = co_await ldap::Connection::Open(
      executor, workers, options,
      [](const std::string& why) { Log(LogLevel::kWarning, why + "; trying the next URI"); });
  if (!connection.ok()) co_return connection.status();
  result.dc_uri = (*connection)->uri();
  Log(LogLevel::kInfo,
      "connected to " + result.dc_uri +
          ((*connection)->sasl_ssf() > 0
               ? " (SASL security layer, SSF " + std::to_string((*connection)->sasl_ssf()) + ")"
               : ""));

  ReadStats stats;
  PhaseTimer read_timer;
  auto read = co_await ReadDirectory(**connection, config, &stats);
  if (!read.ok()) co_return read.status();
  Log(LogLevel::kInfo, "read " + std::to_string(stats.entries) + " entries in " +
                           std::to_string(stats.pages) + " pages (" +
                           std::to_string(stats.range_reads) + " range reads) in " +
                           read_timer.Elapsed());

  // One applying run at a time per state: a second one would take the
  // first one's live journal for an interrupted run.
  RunLock lock;
  if (!dry_run) {
    Status locked = lock.Acquire(config.state_path + ".lock");
    if (!locked.ok()) co_return locked;
  }

  // State and store are opened only now: a run that cannot read AD leaves
  // no trace, not even an empty file.
  auto state = StateDb::Open(config.state_path, dry_run);
  if (!state.ok()) co_return state.status();
  std::unique_ptr<LocalStore> store;
  if (!dry_run) {
    auto opened = LocalStore::Open(config.store.path);
    if (!opened.ok()) co_return opened.status();
    store = std::move(*opened);
    auto resumed = ResumeOutbox(**state, *store);
    if (!resumed.ok()) co_return resumed.status();
    result.resumed = *resumed;
  } else {
    int64_t run_id = 0;
    auto pending = (*state)->PendingOutbox(&run_id);
    if (pending.ok() && !pending->empty()) {
      Log(LogLevel::kWarning, "run " + std::to_string(run_id) +
                                  " was interrupted; the next run "
                                  "re-applies its " +
                                  std::to_string(pending->size()) +
                                  " journaled operations before this plan");
    }
  }

  auto cached = (*state)->LoadObjects();
  if (!cached.ok()) co_return cached.status();
  auto cached_memberships = (*state)->LoadMemberships();
  if (!cached_memberships.ok()) co_return cached_memberships.status();
  PhaseTimer plan_timer;
  result.plan = BuildPlan(std::move(*read), *cached, *cached_memberships, config.safety);
  Log(LogLevel::kDebug, "planned " + std::to_string(result.plan.operations.size()) +
                            " operations in " + plan_timer.Elapsed());
  if (dry_run) co_return result;

  auto run_id = (*state)->BeginRun("full", started);
  if (!run_id.ok()) co_return run_id.status();
  RunRecord record{*run_id, "full", started, 0, "ok", {}, ""};
  for (const auto& [kind, counts] : Summarize(result.plan)) {
    for (const auto& [op, n] : counts) {
      if (n) record.counts[kind + "." + op] = n;
    }
  }
  if (!result.plan.read_complete) {
    record.outcome = "partial";
    record.message = result.plan.incomplete_reason;
  }

  PhaseTimer apply_timer;
  auto outcome = co_await ApplyPlan(**state, *store, result.plan.operations, record, workers);
  Log(LogLevel::kDebug, "applied in " + apply_timer.Elapsed());
  if (!outcome.ok()) co_return outcome.status();
  result.failed = std::move(outcome->failed);
  co_return result;
}

}  // namespace syncd
