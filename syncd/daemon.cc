#include "syncd/daemon.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <random>

#include "core/log.h"
#include "source/ad/dc.h"
#include "source/ad/watch.h"
#include "state/state_db.h"
#include "syncd/engine.h"
#include "syncd/metrics.h"
#include "syncd/output.h"
#include "syncd/schedule.h"
#include "syncd/systemd.h"

namespace syncd {
namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;  // NOLINT(google-build-using-namespace)
using Clock = std::chrono::steady_clock;

namespace {

int64_t Milliseconds(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

std::string Seconds(Clock::duration d) {
  char text[32];
  const int n =
      std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(Milliseconds(d)) / 1000);
  return n > 0 ? text : "?";
}

class Daemon {
 public:
  Daemon(asio::io_context& loop, asio::thread_pool& workers, std::string path, Config config)
      : loop_(loop),
        workers_(workers),
        path_(std::move(path)),
        config_(std::make_shared<const Config>(std::move(config))),
        schedule_(Schedule::FromConfig(config_->daemon)),
        wake_(loop),
        run_deadline_timer_(loop),
        signals_(loop, SIGHUP, SIGTERM, SIGINT),
        watchdog_(loop),
        random_(std::random_device{}()) {}

  asio::awaitable<int> Main() {
    // The state is opened (created, migrated) once up front, so that a
    // broken state file stops the service before READY rather than failing
    // every run.
    auto state = StateDb::Open(config_->state_path);
    if (!state.ok()) {
      Log(LogLevel::kError, state.status().message());
      co_return 1;
    }
    auto counts = (*state)->CountObjects();
    if (counts.ok()) objects_ = std::move(*counts);
    state->reset();
    auto kerberos = ad::AcquireKerberos(config_->source);
    if (!kerberos.ok()) {
      Log(LogLevel::kError, kerberos.status().message());
      co_return 1;
    }
    kerberos_ = std::move(*kerberos);
    if (Status st = StartMetrics(); !st.ok()) {
      Log(LogLevel::kError, st.message());
      co_return 1;
    }
    Spawn(HandleSignals(), "signal handler");
    if (auto period = systemd_.WatchdogPeriod()) Spawn(KeepWatchdog(*period), "watchdog");
    StartWatcher();
    Log(LogLevel::kInfo, "daemon started: a run every " + std::to_string(config_->daemon.interval) +
                             " s (+ up to " + std::to_string(config_->daemon.jitter) +
                             " s jitter)" +
                             (config_->daemon.notify ? ", and on AD change notifications" : ""));
    systemd_.Ready("started; first run now");
    next_run_ = Clock::now();
    co_await Scheduler();
    watchdog_.cancel();
    if (metrics_server_) metrics_server_->Stop();
    Log(LogLevel::kInfo, "daemon stopped");
    co_return exit_code_;
  }

 private:
  template <typename Awaitable>
  void Spawn(Awaitable task, const std::string& what) {
    asio::co_spawn(loop_, std::move(task), [what](const std::exception_ptr& e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const boost::system::system_error& error) {
        if (error.code() == asio::error::operation_aborted) return;  // cancelled
        Log(LogLevel::kError, what + " failed: " + error.what());
      } catch (const std::exception& error) {
        Log(LogLevel::kError, what + " failed: " + error.what());
      }
    });
  }

  // Waits on `timer` until `when`, which others may move (and cancel the
  // timer to make it look again). Returns early when this coroutine is
  // cancelled.
  static asio::awaitable<void> WaitUntil(asio::steady_timer& timer, const Clock::time_point& when) {
    while (Clock::now() < when) {
      timer.expires_at(when);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
      if (cancelled != asio::cancellation_type::none) co_return;
    }
  }

  // Asio 1.81's co_spawn entry point awaits once more after its coroutine
  // returns, and that await throws (out of io_context::run) when the
  // coroutine was cancelled. Every coroutine that can be cancelled as a
  // whole (a branch of ||, a watch) ends with this.
  static asio::awaitable<void> ClearCancellation() {
    co_await asio::this_coro::reset_cancellation_state();
  }

  asio::awaitable<void> Scheduler() {
    for (;;) {
      co_await WaitUntil(wake_, next_run_);
      if (stopping_) co_return;
      co_await RunOne();
      if (stopping_) co_return;
      auto delay = schedule_.NextDelay(failures_, std::uniform_real_distribution<>(0, 1)(random_));
      if (wake_after_run_ && failures_ == 0) {
        delay = std::chrono::milliseconds(config_->daemon.coalesce_ms);
      }
      wake_after_run_ = false;
      next_run_ = Clock::now() + delay;
      Log(LogLevel::kDebug, "next run in " + Seconds(delay));
    }
  }

  // How long before a deadline the store's requests stop, so that the run
  // commits what landed in time: a tenth of the time allowed, at most 3 s.
  static Clock::duration CommitMargin(Clock::duration allowed) {
    return std::min<Clock::duration>(allowed / 10, std::chrono::seconds(3));
  }

  // A run that cannot throw: exceptions (cancellation included) become errors.
  asio::awaitable<Result<RunResult>> GuardedRun(std::shared_ptr<const Config> config,
                                                RunOptions options) {
    Result<RunResult> result = Status::Unavailable("the run did not start");
    try {
      result = co_await RunOnce(*config, workers_, options);
    } catch (const std::exception& e) {
      result = Status::Unavailable(std::string("the run was interrupted: ") + e.what());
    }
    co_await ClearCancellation();
    co_return result;
  }

  asio::awaitable<void> DeadlineReached() {
    co_await WaitUntil(run_deadline_timer_, run_deadline_);
    co_await ClearCancellation();
  }

  asio::awaitable<void> RunOne() {
    // This run's configuration, whatever a reload does meanwhile.
    std::shared_ptr<const Config> config = config_;
    const auto started = Clock::now();
    run_deadline_ = started + schedule_.run_timeout;
    run_in_flight_ = true;
    systemd_.Status("running (" + std::to_string(runs_) + " runs so far)");
    metrics_.SetRunInProgress(true);
    if (Status renewed = RenewKerberos(); !renewed.ok()) {
      ++failures_;
      run_in_flight_ = false;
      if (KeytabIsStaleCopy(renewed)) {
        Log(LogLevel::kError, renewed.message() +
                                  "; exiting so that systemd restarts syncd with a fresh copy "
                                  "of the keytab (the machine password may have changed)");
        exit_code_ = 1;
        Stop("stale keytab");
        co_return;
      }
      RunFailed("failed", "Kerberos: " + renewed.message(), Clock::now() - started);
      co_return;
    }
    RunOptions options;
    options.dc_failures = &dc_failures_;
    // Requests to the store stop early enough to commit what landed before
    // run_timeout abandons the run (Stop() brings it nearer).
    apply_deadline_ = run_deadline_ - CommitMargin(schedule_.run_timeout);
    options.apply_deadline = &apply_deadline_;
    auto outcome = co_await (GuardedRun(config, options) || DeadlineReached());
    run_in_flight_ = false;
    ++runs_;
    const auto took = Clock::now() - started;
    if (outcome.index() == 1) {
      RunFailed("abandoned",
                stopping_ ? "abandoned at shutdown after " + Seconds(took)
                          : "abandoned after " + Seconds(took) + " ([daemon] run_timeout)",
                took);
      co_return;
    }
    Result<RunResult>& result = std::get<0>(outcome);
    if (!result.ok()) {
      RunFailed("failed", "failed after " + Seconds(took) + ": " + result.status().message(), took);
      co_return;
    }
    const Plan& plan = result->plan;
    // A read cut short (the DC's connection lost mid-search) applied what it
    // read, but counts as a failed run for the schedule: retried with
    // backoff, not after a whole interval.
    failures_ = plan.read_complete ? 0 : failures_ + 1;
    const std::string outcome_name = !result->failed.empty() ? "partial"
                                     : !plan.read_complete   ? "incomplete"
                                                             : "ok";
    const std::string line =
        plan.run_kind + " run " + outcome_name + ": " + SummaryLine(plan) +
        (result->failed.empty() ? "" : ", " + std::to_string(result->failed.size()) + " refused") +
        (result->deferred.empty() ? ""
                                  : ", " + std::to_string(result->deferred.size()) + " deferred") +
        " in " + Seconds(took) + " from " + result->dc_uri +
        (plan.read_complete ? ""
                            : " (read incomplete: " + plan.incomplete_reason + "; attempt " +
                                  std::to_string(failures_) + "; retrying with backoff)");
    Log(result->failed.empty() && plan.read_complete ? LogLevel::kInfo : LogLevel::kWarning, line,
        {{"RUN_KIND", plan.run_kind},
         {"RUN_OUTCOME", outcome_name},
         {"RUN_OPERATIONS", std::to_string(plan.operations.size())},
         {"RUN_HELD", std::to_string(plan.held.size())},
         {"RUN_REFUSED", std::to_string(result->failed.size())},
         {"RUN_DURATION_MS", std::to_string(Milliseconds(took))},
         {"DC", result->dc_uri}});
    for (const auto& [op, why] : result->failed) Log(LogLevel::kWarning, why.message());
    systemd_.Status("last run: " + line);
    // Only creates and deletes change how many objects are in scope.
    const bool recount = std::any_of(
        plan.operations.begin(), plan.operations.end(),
        [](const auto& op) { return op.op == OpType::kCreate || op.op == OpType::kDelete; });
    if (auto state = StateDb::Open(config->state_path, /*read_only=*/true); state.ok()) {
      if (recount) {
        if (auto counts = (*state)->CountObjects(); counts.ok()) objects_ = std::move(*counts);
      }
      if (auto quarantine = (*state)->LoadQuarantine(); quarantine.ok()) {
        std::map<std::string, int64_t> by_kind;
        for (const auto& e : *quarantine) ++by_kind[KindName(e.kind)];
        metrics_.SetQuarantined(by_kind);
      }
    }
    for (const auto& [op, why] : result->deferred) Log(LogLevel::kWarning, why);
    metrics_.RecordRun(*result,
                       result->failed.empty() && result->deferred.empty() ? "ok" : "partial", took,
                       plan.read_complete ? result->started_at : 0, objects_);
  }

  // A run that did not finish: counted, logged ("run <why>"), shown in
  // STATUS, and the next one waits out the backoff. outcome: "failed" or
  // "abandoned" (its apply, if any, is finished from the journal next time).
  void RunFailed(const std::string& outcome, const std::string& why, Clock::duration took) {
    ++failures_;
    const std::string next =
        outcome == "abandoned"
            ? "; an interrupted apply is finished from its journal by the "
              "next run"
            : " (attempt " + std::to_string(failures_) + "; retrying with backoff)";
    Log(LogLevel::kError, "run " + why + next,
        {{"RUN_OUTCOME", outcome}, {"RUN_DURATION_MS", std::to_string(Milliseconds(took))}});
    systemd_.Status("last run " + why);
    metrics_.RecordRun("", "failed", Plan{}, {}, took, 0, objects_, "");
  }

  // Asks for a run `delay` from now (sooner than scheduled), or right after
  // the run in flight. Requests within the delay make one run.
  void RequestRun(Clock::duration delay, const std::string& why) {
    if (stopping_) return;
    if (run_in_flight_) {
      wake_after_run_ = true;
      return;
    }
    const auto at = Clock::now() + delay;
    if (at < next_run_) {
      Log(LogLevel::kDebug, "run requested: " + why);
      next_run_ = at;
      wake_.cancel();
    }
  }

  asio::awaitable<void> HandleSignals() {
    for (;;) {
      auto [ec, signal] = co_await signals_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      if (signal == SIGHUP) {
        Reload();
        continue;
      }
      Stop(signal == SIGTERM ? "SIGTERM" : "SIGINT");
      co_return;
    }
  }

  void Reload() {
    systemd_.Reloading();
    auto fresh = LoadConfig(path_);
    if (!fresh.ok()) {
      RejectReload(fresh.status());
      return;
    }
    const SourceConfig& running = config_->source;
    if (fresh->source.keytab != running.keytab || fresh->source.principal != running.principal ||
        fresh->source.auth != running.auth) {
      kerberos_.reset();  // one credential object per cache at a time
      auto kerberos = ad::AcquireKerberos(fresh->source);
      if (!kerberos.ok()) {
        if (auto restored = ad::AcquireKerberos(running); restored.ok())
          kerberos_ = std::move(*restored);
        RejectReload(kerberos.status());
        return;
      }
      kerberos_ = std::move(*kerberos);
    }
    const bool metrics_moved = fresh->daemon.metrics_listen != config_->daemon.metrics_listen;
    config_ = std::make_shared<const Config>(std::move(*fresh));
    schedule_ = Schedule::FromConfig(config_->daemon);
    if (metrics_moved) {
      if (metrics_server_) metrics_server_->Stop();
      metrics_server_.reset();
      if (Status st = StartMetrics(); !st.ok()) Log(LogLevel::kError, st.message());
    }
    StopWatcher();
    StartWatcher();
    Log(LogLevel::kInfo, "configuration reloaded from " + path_);
    systemd_.Ready("configuration reloaded");
    RequestRun(std::chrono::milliseconds(config_->daemon.coalesce_ms), "configuration reloaded");
  }

  void RejectReload(const Status& why) {
    Log(LogLevel::kError, "reload rejected, keeping the running configuration: " + why.message());
    systemd_.Ready("reload rejected: " + why.message());
  }

  // Finishes the run in flight (up to shutdown_timeout), then stops.
  void Stop(const std::string& why) {
    stopping_ = true;
    // The run in flight sends requests to the store only while it can still
    // commit what landed before shutdown_timeout; the rest is deferred.
    const auto shutdown = std::chrono::seconds(config_->daemon.shutdown_timeout);
    apply_deadline_ =
        std::min(apply_deadline_.load(), Clock::now() + shutdown - CommitMargin(shutdown));
    systemd_.Stopping();
    StopWatcher();
    if (run_in_flight_) {
      const auto limit = std::chrono::seconds(config_->daemon.shutdown_timeout);
      Log(LogLevel::kInfo, why + ": letting the run in flight finish (up to " +
                               std::to_string(limit.count()) + " s)");
      run_deadline_ = std::min(run_deadline_, Clock::now() + limit);
      run_deadline_timer_.cancel();
    } else {
      Log(LogLevel::kInfo, why + ": stopping");
    }
    next_run_ = Clock::now();
    wake_.cancel();
  }

  Status StartMetrics() {
    if (config_->daemon.metrics_listen.empty()) return Status::Ok();
    MetricsServerOptions options;
    options.listen = config_->daemon.metrics_listen;
    metrics_server_ = std::make_unique<MetricsServer>(loop_.get_executor(), metrics_, options);
    Status st = metrics_server_->Start();
    if (!st.ok()) {
      metrics_server_.reset();
      return st.WithContext("[daemon] metrics_listen");
    }
    Log(LogLevel::kInfo, "metrics on http://" + config_->daemon.metrics_listen + "/metrics");
    return Status::Ok();
  }

  // Tickets from the keytab are renewed before they run out.
  Status RenewKerberos() { return kerberos_ ? kerberos_->RenewIfNeeded() : Status::Ok(); }

  // systemd copies a LoadCredential= keytab once, at start: when the KDC
  // refuses its key, only a restart brings the host's current keytab.
  bool KeytabIsStaleCopy(const Status& why) const {
    const char* credentials = std::getenv("CREDENTIALS_DIRECTORY");
    return why.code() == Status::Code::kPermissionDenied && credentials != nullptr &&
           *credentials != '\0' && config_->source.keytab.rfind(credentials, 0) == 0;
  }

  asio::awaitable<void> KeepWatchdog(std::chrono::microseconds period) {
    for (;;) {
      systemd_.Watchdog();
      watchdog_.expires_after(period);
      auto [ec] = co_await watchdog_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
    }
  }

  void StartWatcher() {
    if (!config_->daemon.notify || stopping_) return;
    // A signal must outlive the coroutine bound to it: old ones are kept.
    watcher_cancels_.push_back(std::make_unique<asio::cancellation_signal>());
    asio::co_spawn(loop_, WatchDirectory(config_),
                   asio::bind_cancellation_slot(watcher_cancels_.back()->slot(), asio::detached));
  }

  void StopWatcher() {
    if (!watcher_cancels_.empty()) watcher_cancels_.back()->emit(asio::cancellation_type::terminal);
  }

  // Keeps change notifications registered, re-registering (with backoff)
  // after the connection fails. Each registration is followed by a run,
  // since changes made while unregistered are not replayed.
  asio::awaitable<void> WatchDirectory(std::shared_ptr<const Config> config) {
    try {
      co_await KeepWatching(std::move(config));
    } catch (const std::exception& e) {
      if (!stopping_) Log(LogLevel::kDebug, std::string("change notifications ended: ") + e.what());
    }
    co_await ClearCancellation();
  }

  asio::awaitable<void> KeepWatching(std::shared_ptr<const Config> config) {
    int failures = 0;
    bool first = true;
    asio::steady_timer backoff(loop_);
    for (;;) {
      const auto began = Clock::now();
      WatchEnd end = co_await WatchSession(*config, /*catch_up=*/!first);
      if ((co_await asio::this_coro::cancellation_state).cancelled() !=
              asio::cancellation_type::none ||
          stopping_) {
        co_return;
      }
      first = false;
      if (end.rewatch) {
        Log(LogLevel::kInfo, "registering change notifications again: " + end.why.message());
        failures = 0;
        continue;
      }
      const Status& why = end.why;
      if (Clock::now() - began > std::chrono::minutes(1)) failures = 0;
      ++failures;
      auto delay = schedule_.NextDelay(failures, std::uniform_real_distribution<>(0, 1)(random_));
      Log(LogLevel::kWarning, "change notifications stopped: " + why.message() +
                                  "; registering again in " + Seconds(delay) +
                                  " (scheduled runs continue)");
      const auto until = Clock::now() + delay;
      co_await WaitUntil(backoff, until);
    }
  }

  // One registration (source/ad/watch.h); returns when it fails or what it
  // watches changed. `catch_up`: run once registered, for what changed
  // while not registered.
  asio::awaitable<WatchEnd> WatchSession(const Config& config, bool catch_up) {
    if (Status renewed = RenewKerberos(); !renewed.ok()) co_return WatchEnd{renewed};
    const auto coalesce = std::chrono::milliseconds(config.daemon.coalesce_ms);
    ad::WatchOptions options;
    options.max_containers = static_cast<size_t>(config.daemon.notify_containers);
    options.failures = &dc_failures_;
    options.on_change = [this, coalesce](const std::string& what) { RequestRun(coalesce, what); };
    // Changes made while nothing was registered are not replayed.
    if (catch_up)
      options.on_registered = [this, coalesce] { RequestRun(coalesce, "re-registered"); };
    co_return co_await ad::Watch(SourceSettings(config), workers_, options);
  }

  asio::io_context& loop_;
  asio::thread_pool& workers_;
  const std::string path_;
  std::shared_ptr<const Config> config_;
  Schedule schedule_;
  ServiceManager systemd_;
  asio::steady_timer wake_;  // cancelled to make the scheduler look at next_run_ again
  Clock::time_point next_run_;
  asio::steady_timer run_deadline_timer_;
  Clock::time_point run_deadline_;
  asio::signal_set signals_;
  std::atomic<Clock::time_point> apply_deadline_{Clock::time_point::max()};
  asio::steady_timer watchdog_;
  std::vector<std::unique_ptr<asio::cancellation_signal>> watcher_cancels_;
  bool stopping_ = false;
  bool run_in_flight_ = false;
  bool wake_after_run_ = false;  // a change was notified while a run was in flight
  int failures_ = 0;             // consecutive failed runs
  int exit_code_ = 0;
  int64_t runs_ = 0;
  std::mt19937 random_;
  std::unique_ptr<ldap::KerberosCredentials> kerberos_;
  ad::DcFailures dc_failures_;              // shared by runs and the watcher: failed DCs go last
  std::map<std::string, int64_t> objects_;  // cached objects per kind, for metrics
  Metrics metrics_{SYNCD_VERSION};
  std::unique_ptr<MetricsServer> metrics_server_;  // after metrics_: it reads them
};

}  // namespace

int RunDaemon(const std::string& config_path, Config config) {
  asio::io_context loop(1);
  asio::thread_pool workers(2);
  int exit_code = 1;
  {
    Daemon daemon(loop, workers, config_path, std::move(config));
    asio::co_spawn(loop, daemon.Main(), [&exit_code](const std::exception_ptr& e, int code) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& error) {
          Log(LogLevel::kError, std::string("daemon failed: ") + error.what());
        }
        return;
      }
      exit_code = code;
    });
    loop.run();
  }
  workers.join();
  return exit_code;
}

}  // namespace syncd
