#include "syncd/metrics.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <exception>
#include <optional>
#include <string_view>
#include <system_error>

#include "core/log.h"
#include "syncd/planner.h"

namespace syncd {
namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;  // NOLINT(google-build-using-namespace)

namespace {

// Summarize() names membership operations "add-member"/"remove-member"; the
// metric's op label says "add"/"remove".
constexpr std::array<std::pair<const char*, const char*>, 5> kOps = {{
    {"create", "create"},
    {"update", "update"},
    {"delete", "delete"},
    {"add-member", "add"},
    {"remove-member", "remove"},
}};

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::array<char, 64> text{};
  auto [end, ec] = std::to_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc()) return "NaN";
  return {text.data(), end};
}

// HELP text escapes backslash and line feed (not the double quote).
std::string EscapeHelp(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

using Labels = std::vector<std::pair<std::string, std::string>>;  // sorted by name

struct Family {
  std::string name;
  const char* type;
  const char* help;
  std::vector<std::pair<Labels, std::string>> samples;  // labels -> value

  void Add(Labels labels, std::string value) {
    samples.emplace_back(std::move(labels), std::move(value));
  }
};

void RenderFamily(Family family, std::string* out) {
  std::sort(family.samples.begin(), family.samples.end());
  *out += "# HELP " + family.name + " " + EscapeHelp(family.help) + "\n";
  *out += "# TYPE " + family.name + " " + family.type + "\n";
  for (const auto& [labels, value] : family.samples) {
    *out += family.name;
    if (!labels.empty()) {
      *out += '{';
      for (size_t i = 0; i < labels.size(); ++i) {
        if (i > 0) *out += ',';
        *out += labels[i].first + "=\"" + EscapeLabelValue(labels[i].second) + "\"";
      }
      *out += '}';
    }
    *out += " " + value + "\n";
  }
}

// Summarize() over bare operations, without the held ones.
std::map<std::string, std::map<std::string, int>> CountOperations(std::vector<Operation> ops) {
  Plan plan;
  plan.operations = std::move(ops);
  return Summarize(plan);
}

}  // namespace

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Metrics::Metrics(std::string version) : version_(std::move(version)) {
  for (const char* kind : {"full", "incremental"}) {
    for (const char* outcome : {"ok", "partial", "failed"}) runs_[{kind, outcome}] = 0;
  }
  for (const char* kind : {"user", "group", "membership"}) {
    const bool membership = std::string_view(kind) == "membership";
    for (const auto& [summary_name, label] : kOps) {
      if ((std::string_view(summary_name).find("member") != std::string_view::npos) != membership) {
        continue;
      }
      for (const char* outcome : {"applied", "failed", "held"}) {
        operations_[{kind, label, outcome}] = 0;
      }
    }
  }
  objects_ = {{"user", 0}, {"group", 0}};
}

void Metrics::SetRunInProgress(bool in_progress) { in_progress_ = in_progress; }

void Metrics::RecordRun(const std::string& kind, const std::string& outcome, const Plan& plan,
                        const std::vector<std::pair<Operation, Status>>& failed,
                        std::chrono::duration<double> duration, int64_t success_time,
                        const std::map<std::string, int64_t>& objects, const std::string& dc_uri) {
  std::string run_kind = !kind.empty() ? kind : !plan.run_kind.empty() ? plan.run_kind : "unknown";
  ++runs_[{run_kind, outcome}];

  if (outcome != "failed") {
    auto planned = Summarize(plan);
    std::vector<Operation> failed_ops;
    failed_ops.reserve(failed.size());
    for (const auto& entry : failed) failed_ops.push_back(entry.first);
    auto refused = CountOperations(std::move(failed_ops));
    std::vector<Operation> held_ops;
    held_ops.reserve(plan.held.size());
    for (const auto& held : plan.held) held_ops.push_back(held.operation);
    auto held = CountOperations(std::move(held_ops));
    for (const auto& [bucket, counts] : planned) {
      for (const auto& [summary_name, label] : kOps) {
        auto it = counts.find(summary_name);
        if (it == counts.end()) continue;  // not an operation of this bucket
        const int n_failed = refused[bucket][summary_name];
        operations_[{bucket, label, "applied"}] += std::max(0, it->second - n_failed);
        operations_[{bucket, label, "failed"}] += n_failed;
        operations_[{bucket, label, "held"}] += held[bucket][summary_name];
      }
    }
  }

  for (const char* object_kind : {"user", "group"}) {
    auto it = objects.find(object_kind);
    objects_[object_kind] = it == objects.end() ? 0 : it->second;
  }
  if (success_time > 0) last_success_ = success_time;
  last_duration_ = duration.count();
  in_progress_ = false;
  dc_uri_ = dc_uri;
}

void Metrics::RecordRun(const RunResult& result, const std::string& outcome,
                        std::chrono::duration<double> duration, int64_t success_time,
                        const std::map<std::string, int64_t>& objects) {
  RecordRun(result.plan.run_kind, outcome, result.plan, result.failed, duration, success_time,
            objects, result.dc_uri);
}

void Metrics::SetQuarantined(const std::map<std::string, int64_t>& by_kind) {
  for (auto& [kind, n] : quarantined_) n = 0;
  for (const auto& [kind, n] : by_kind) quarantined_[kind] = n;
}

std::string Metrics::Render() const {
  std::deque<Family> families;  // add() keeps references to earlier families valid
  auto add = [&families](const char* name, const char* type, const char* help) -> Family& {
    return families.emplace_back(Family{name, type, help, {}});
  };
  add("syncd_build_info", "gauge", "Always 1; the version label names the build.")
      .Add({{"version", version_}}, "1");
  Family& dc = add("syncd_dc_in_use", "gauge",
                   "1 for the domain controller that answered the last run; absent if none did.");
  if (!dc_uri_.empty()) dc.Add({{"uri", dc_uri_}}, "1");
  add("syncd_last_run_duration_seconds", "gauge", "Wall time of the last finished run.")
      .Add({}, FormatDouble(last_duration_));
  add("syncd_last_success_timestamp_seconds", "gauge",
      "Unix time of the last successful run; 0 if none.")
      .Add({}, std::to_string(last_success_));
  Family& objects = add("syncd_objects_in_scope", "gauge",
                        "Objects in scope (held in the cached state) after the last run.");
  for (const auto& [kind, n] : objects_) objects.Add({{"kind", kind}}, std::to_string(n));
  Family& operations = add("syncd_operations_total", "counter",
                           "Operations of finished runs, by object kind, operation and outcome.");
  for (const auto& [key, n] : operations_) {
    operations.Add({{"kind", key[0]}, {"op", key[1]}, {"outcome", key[2]}}, std::to_string(n));
  }
  Family& quarantined = add("syncd_quarantined_objects", "gauge",
                            "Objects the store refused, kept out until AD changes them.");
  for (const auto& [kind, n] : quarantined_) quarantined.Add({{"kind", kind}}, std::to_string(n));
  add("syncd_run_in_progress", "gauge", "1 while a sync run is in progress.")
      .Add({}, in_progress_ ? "1" : "0");
  Family& runs = add("syncd_runs_total", "counter", "Finished sync runs, by kind and outcome.");
  for (const auto& [key, n] : runs_) {
    runs.Add({{"kind", key[0]}, {"outcome", key[1]}}, std::to_string(n));
  }

  std::sort(families.begin(), families.end(),
            [](const Family& a, const Family& b) { return a.name < b.name; });
  std::string out;
  for (auto& family : families) RenderFamily(std::move(family), &out);
  return out;
}

// --- the HTTP server --------------------------------------------------------

Result<tcp::endpoint> ParseListenAddress(const std::string& listen, bool allow_non_loopback) {
  const std::string quoted = "\"" + listen + "\"";
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument(quoted + " must be HOST:PORT, such as 127.0.0.1:9469");
  }
  std::string host = listen.substr(0, colon);
  const std::string port_text = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return Status::InvalidArgument(quoted + ": write an IPv6 address in brackets, as [::1]:9469");
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return Status::InvalidArgument(quoted + ": the port must be a number from 0 to 65535");
  }
  boost::system::error_code parse_error;
  asio::ip::address address = asio::ip::make_address(host, parse_error);
  if (parse_error) {
    return Status::InvalidArgument(quoted +
                                   ": the host must be an IP address (such as 127.0.0.1 or "
                                   "[::1]), not a name");
  }
  bool loopback = address.is_loopback();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    loopback = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).is_loopback();
  }
  if (!loopback && !allow_non_loopback) {
    return Status::InvalidArgument(quoted +
                                   " is not a loopback address: the metrics endpoint has no "
                                   "authentication, so it listens on another address only when "
                                   "explicitly allowed");
  }
  return tcp::endpoint(address, static_cast<uint16_t>(port));
}

namespace {

struct Response {
  int code = 200;
  const char* reason = "OK";
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  bool head = false;  // send the headers only
  std::string extra_headers;
};

Response Error(int code, const char* reason, const std::string& detail) {
  Response r;
  r.code = code;
  r.reason = reason;
  r.body = detail + "\n";
  return r;
}

std::string Serialize(const Response& r) {
  std::string out = "HTTP/1.1 " + std::to_string(r.code) + " " + r.reason + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  out += r.extra_headers;
  out += "Connection: close\r\n\r\n";
  if (!r.head) out += r.body;
  return out;
}

// Where the request head ends (past its empty line), or npos. Accepts bare
// LF line endings, as some hand-written clients send.
size_t HeadEnd(std::string_view request) {
  for (size_t i = request.find('\n'); i != std::string_view::npos; i = request.find('\n', i + 1)) {
    if (i + 1 < request.size() && request[i + 1] == '\n') return i + 2;
    if (i + 2 < request.size() && request[i + 1] == '\r' && request[i + 2] == '\n') return i + 3;
  }
  return std::string_view::npos;
}

bool IsTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

struct RequestLine {
  std::string method;
  std::string path;  // without the query
};

// "METHOD SP TARGET SP HTTP/1.x"; nullopt if malformed.
std::optional<RequestLine> ParseRequestLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return std::nullopt;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), IsTokenChar)) {
    return std::nullopt;
  }
  if (target.empty() || target.front() != '/' ||
      !std::all_of(target.begin(), target.end(), [](char c) { return c > ' ' && c < '\x7f'; })) {
    return std::nullopt;
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return std::nullopt;
  return RequestLine{std::string(method), std::string(target.substr(0, target.find('?')))};
}

// Every header line must be "name: value" with a token name.
bool HeadersWellFormed(std::string_view headers) {
  while (!headers.empty()) {
    size_t eol = headers.find('\n');
    std::string_view line = headers.substr(0, eol);
    headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // the end of the head
    size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return false;
    std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), IsTokenChar)) return false;
  }
  return true;
}

Response Handle(const RequestLine& request, const Metrics& metrics) {
  if (request.path != "/metrics") return Error(404, "Not Found", "not found; try /metrics");
  if (request.method != "GET" && request.method != "HEAD") {
    Response r = Error(405, "Method Not Allowed", "use GET");
    r.extra_headers = "Allow: GET, HEAD\r\n";
    return r;
  }
  Response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = metrics.Render();
  r.head = request.method == "HEAD";
  return r;
}

// What every connection shares; it outlives the server object if needed.
struct Shared {
  const Metrics* metrics;
  MetricsServerOptions options;
};

// Answers one request, then closes. The whole request head must arrive
// within the read timeout, however slowly it trickles in.
asio::awaitable<void> Serve(tcp::socket socket, std::shared_ptr<const Shared> shared) {
  const MetricsServerOptions& options = shared->options;
  asio::steady_timer deadline(socket.get_executor());
  deadline.expires_after(options.read_timeout);
  std::string request;
  std::array<char, 2048> chunk{};
  std::optional<RequestLine> line;
  std::optional<Response> response;
  while (!response) {
    auto read = co_await (
        socket.async_read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable)) ||
        deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (read.index() == 1) {
      response = Error(408, "Request Timeout", "the request did not arrive in time");
      break;
    }
    auto [ec, n] = std::get<0>(read);
    if (ec) co_return;  // the client went away
    request.append(chunk.data(), n);
    // Blank lines before the request line are allowed (RFC 9112 2.2).
    if (!line) request.erase(0, request.find_first_not_of("\r\n"));
    const size_t eol = request.find('\n');
    if (eol != std::string::npos && !line) {
      line = ParseRequestLine(std::string_view(request).substr(0, eol));
      if (!line) {
        response = Error(400, "Bad Request", "malformed request line");
        break;
      }
    }
    const size_t end = HeadEnd(request);
    if (end == std::string::npos ? request.size() >= options.max_request_bytes
                                 : end > options.max_request_bytes) {
      response =
          Error(431, "Request Header Fields Too Large",
                "the request head exceeds " + std::to_string(options.max_request_bytes) + " bytes");
      break;
    }
    if (end == std::string::npos) continue;
    // end != npos implies a complete request line, parsed above.
    if (!HeadersWellFormed(std::string_view(request).substr(eol + 1, end - eol - 1))) {
      response = Error(400, "Bad Request", "malformed request header");
      break;
    }
    response = Handle(*line, *shared->metrics);
  }

  // Write within a fresh deadline, so that a client that does not read
  // cannot hold the connection either.
  const std::string bytes = Serialize(*response);
  deadline.expires_after(options.read_timeout);
  auto written = co_await (
      asio::async_write(socket, asio::buffer(bytes), asio::as_tuple(asio::use_awaitable)) ||
      deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
  boost::system::error_code ignored;
  if (written.index() == 0 && !std::get<0>(std::get<0>(written))) {
    // Lingering close: stop sending, then drain what the client still sends
    // (briefly), so that closing with unread data does not reset the
    // connection before the client has read the response.
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    deadline.expires_after(std::min(options.read_timeout, std::chrono::milliseconds(1000)));
    for (size_t drained = 0; drained < size_t{64} * 1024;) {
      auto read = co_await (
          socket.async_read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable)) ||
          deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
      if (read.index() == 1 || std::get<0>(std::get<0>(read))) break;
      drained += std::get<1>(std::get<0>(read));
    }
  }
  socket.close(ignored);
}

}  // namespace

struct MetricsServer::Impl {
  Impl(const asio::any_io_executor& executor, const Metrics& metrics, MetricsServerOptions options)
      : acceptor(executor),
        shared(std::make_shared<Shared>(Shared{&metrics, std::move(options)})) {}

  // Holds `impl` until the acceptor closes.
  static asio::awaitable<void> AcceptLoop(std::shared_ptr<Impl> impl) {
    tcp::acceptor& acceptor = impl->acceptor;
    asio::steady_timer backoff(acceptor.get_executor());
    while (acceptor.is_open()) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (!acceptor.is_open() || ec == asio::error::operation_aborted) break;
      if (ec) {
        // Out of descriptors, say: wait a little rather than spin.
        Log(LogLevel::kWarning, "metrics: accept on " + impl->listen_text + ": " + ec.message());
        backoff.expires_after(std::chrono::milliseconds(100));
        co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      asio::co_spawn(acceptor.get_executor(), Serve(std::move(socket), impl->shared),
                     [](const std::exception_ptr&) {});
    }
  }

  tcp::acceptor acceptor;
  std::shared_ptr<const Shared> shared;
  std::string listen_text;
  uint16_t port = 0;
  bool started = false;
};

MetricsServer::MetricsServer(const asio::any_io_executor& executor, const Metrics& metrics,
                             MetricsServerOptions options)
    : impl_(std::make_shared<Impl>(executor, metrics, std::move(options))) {}

MetricsServer::~MetricsServer() { Stop(); }

Status MetricsServer::Start() {
  const MetricsServerOptions& options = impl_->shared->options;
  if (impl_->started) return Status::Internal("the metrics server was already started");
  auto endpoint = ParseListenAddress(options.listen, options.allow_non_loopback);
  if (!endpoint.ok()) return endpoint.status();
  impl_->listen_text = options.listen;
  auto fail = [&](const boost::system::error_code& ec) {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    return Status::Unavailable("cannot listen on " + options.listen + ": " + ec.message());
  };
  tcp::acceptor& acceptor = impl_->acceptor;
  boost::system::error_code ec;
  acceptor.open(endpoint->protocol(), ec);
  // Lets a restarted daemon bind while old connections sit in TIME_WAIT; a
  // socket still listening on the address is refused all the same.
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(*endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  tcp::endpoint bound;
  if (!ec) bound = acceptor.local_endpoint(ec);
  if (ec) return fail(ec);
  impl_->port = bound.port();
  impl_->started = true;
  asio::co_spawn(impl_->acceptor.get_executor(), Impl::AcceptLoop(impl_),
                 [](const std::exception_ptr&) {});
  return Status::Ok();
}

void MetricsServer::Stop() {
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

uint16_t MetricsServer::port() const { return impl_->port; }

}  // namespace syncd
