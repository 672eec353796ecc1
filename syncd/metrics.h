// Prometheus metrics for the daemon: what its runs did, served as text
// exposition format 0.0.4 on GET /metrics by a minimal HTTP/1.1 server.
//
// Threading: a Metrics is plain data with no locks. The daemon updates it and
// the server renders it on the same event loop (one thread, or one strand);
// nothing else may touch it.
#ifndef SYNCD_SYNCD_METRICS_H_
#define SYNCD_SYNCD_METRICS_H_

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/model.h"
#include "core/status.h"
#include "syncd/engine.h"

namespace syncd {

class Metrics {
 public:
  // `version` is reported as syncd_build_info{version="..."} 1.
  explicit Metrics(std::string version);

  // syncd_run_in_progress: 1 from the start of a run until RecordRun().
  void SetRunInProgress(bool in_progress);

  // Records a finished run, and clears run_in_progress.
  //   kind:     "full" or "incremental"; empty: plan.run_kind ("unknown" if
  //             that is empty too, as for a run that failed before planning)
  //   outcome:  "ok", "partial" or "failed"
  //   plan:     what the run applied (RunResult::plan); its operations count
  //             as applied, less `failed`, and its held ones as held. A
  //             "failed" run applied nothing: its operations are not counted.
  //   failed:   the operations the store refused (RunResult::failed), a
  //             subset of plan.operations
  //   duration: wall time of the run
  //   success_time: unix seconds of the run's success; <= 0 keeps the
  //             previous last_success_timestamp_seconds (a failed run)
  //   objects:  cached objects per kind name after the run
  //             (StateDb::CountObjects()); "user" or "group" absent count 0
  //   dc_uri:   the DC that answered; empty: none (no dc_in_use series)
  void RecordRun(const std::string& kind, const std::string& outcome, const Plan& plan,
                 const std::vector<std::pair<Operation, Status>>& failed,
                 std::chrono::duration<double> duration, int64_t success_time,
                 const std::map<std::string, int64_t>& objects, const std::string& dc_uri);
  // The same, from what RunOnce() returned (kind from result.plan.run_kind).
  void RecordRun(const RunResult& result, const std::string& outcome,
                 std::chrono::duration<double> duration, int64_t success_time,
                 const std::map<std::string, int64_t>& objects);

  // syncd_quarantined_objects{kind}: objects the store refused, kept out
  // until AD changes them (StateDb::LoadQuarantine), per kind name.
  void SetQuarantined(const std::map<std::string, int64_t>& by_kind);

  // Every metric, prefixed syncd_, with HELP and TYPE lines; families sorted
  // by name, series by labels, so equal metrics render byte for byte equal.
  // Counters start at 0 for every kind, operation and outcome syncd knows.
  std::string Render() const;

 private:
  std::string version_;
  std::map<std::array<std::string, 2>, int64_t> runs_;                     // kind, outcome
  std::map<std::array<std::string, 3>, int64_t> operations_;               // kind, op, outcome
  std::map<std::string, int64_t> objects_;                                 // kind
  std::map<std::string, int64_t> quarantined_{{"group", 0}, {"user", 0}};  // kind
  int64_t last_success_ = 0;
  double last_duration_ = 0;
  bool in_progress_ = false;
  std::string dc_uri_;
};

// Escapes a label value for the text exposition format: backslash, double
// quote and line feed.
std::string EscapeLabelValue(const std::string& value);

struct MetricsServerOptions {
  // "HOST:PORT" with HOST an IP literal ("127.0.0.1:9469", "[::1]:9469");
  // port 0 picks an ephemeral port (see MetricsServer::port()).
  std::string listen = "127.0.0.1:9469";
  // The endpoint has no authentication: anything but a loopback address is
  // refused unless this is set.
  bool allow_non_loopback = false;
  // A connection must deliver its whole request within this, or is closed.
  std::chrono::milliseconds read_timeout{5000};
  // Larger request heads are answered 431 and closed.
  size_t max_request_bytes = 8192;
};

// Parses and validates MetricsServerOptions::listen. The error message
// names the address; the caller prefixes the config key.
Result<boost::asio::ip::tcp::endpoint> ParseListenAddress(const std::string& listen,
                                                          bool allow_non_loopback);

// Serves GET (and HEAD) /metrics with Metrics::Render(): 200 with
// Content-Type text/plain; version=0.0.4. Another path: 404; another method
// on /metrics: 405; a malformed request: 400; a request head over the size
// cap: 431; a request not complete within the read timeout: 408. One request
// per connection (Connection: close).
//
// Runs on `executor`, which must be the event loop that updates `metrics`
// (see above); Start(), Stop() and the destructor are called on that loop's
// thread too (or while it is not running). `metrics` must outlive the server
// and the connections it has open, i.e. the run of that event loop.
class MetricsServer {
 public:
  MetricsServer(const boost::asio::any_io_executor& executor, const Metrics& metrics,
                MetricsServerOptions options);
  ~MetricsServer();  // Stop()
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Validates the address, binds, listens and starts accepting. Errors name
  // the address ("cannot listen on 127.0.0.1:9469: Address already in use").
  Status Start();
  // Closes the listening socket; connections already open finish (each is
  // bounded by the read timeout). Idempotent.
  void Stop();

  // After a successful Start(): the bound port (the ephemeral one if the
  // configured port was 0); 0 before.
  uint16_t port() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace syncd

#endif  // SYNCD_SYNCD_METRICS_H_
