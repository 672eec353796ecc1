// An HTTP(S) client for remote sinks: libcurl's multi interface driven by the
// Asio event loop.
//
// One Client per event loop. Send() returns when the answer is complete; any
// number of requests may be in flight at once, sharing kept-alive connections
// (at most max_connections per host). Nothing blocks the loop: curl's sockets
// and timer are watched by Asio, and no thread is started per request.
//
// TLS is verified by default. Proxies come from the environment as libcurl
// reads it (https_proxy/HTTPS_PROXY for https:// URLs, lower-case http_proxy
// for http:// URLs, all_proxy, no_proxy/NO_PROXY) unless ClientOptions::proxy
// names one. Request headers are never logged: they carry tokens.
#ifndef SYNCD_HTTP_CLIENT_H_
#define SYNCD_HTTP_CLIENT_H_

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace syncd::http {

struct Header {
  std::string name;
  std::string value;
};

// Fields not named in a designated initializer are empty ({.method = "GET",
// .url = u} is a complete request).
struct Request {
  std::string method;             // "GET", "POST", "PATCH", "PUT", "DELETE"
  std::string url;                // absolute, http:// or https://
  std::vector<Header> headers{};  // e.g. Authorization, Content-Type
  std::string body{};
  std::chrono::milliseconds timeout{30000};  // whole request deadline
};

struct Response {
  long status = 0;
  std::vector<Header> headers;  // names lower-cased, in arrival order
  std::string body;

  // The value of the first header `name` (case-insensitive), or nullopt.
  std::optional<std::string> HeaderValue(std::string_view name) const;
  // Retry-After as a delay: delta-seconds or an HTTP-date (relative to `now`;
  // a date in the past is a zero delay); nullopt when absent or unparsable.
  std::optional<std::chrono::milliseconds> RetryAfter(
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;
};

// "syncd/<version>".
std::string DefaultUserAgent();

struct ClientOptions {
  std::string ca_file;       // PEM bundle to verify the server with; "" = system store
  bool verify_tls = true;    // false only when config says so explicitly
  long max_connections = 4;  // per host, kept alive and reused
  std::chrono::milliseconds connect_timeout{10000};
  std::string user_agent = DefaultUserAgent();
  // A proxy URL ("http://proxy:3128") for every request; "" = from the
  // environment. no_proxy, when not empty, replaces NO_PROXY ("*" = none).
  std::string proxy;
  std::string no_proxy;
};

// Transport outcomes are Status values, never exceptions:
//   Unavailable      — DNS, connect refused, connection reset or closed
//                      mid-answer, timeout ("... timed out after N ms"),
//                      cancellation ("... cancelled"): retryable.
//   PermissionDenied — TLS verification failed (names the host and curl's
//                      reason).
//   InvalidArgument  — malformed URL, unsupported scheme.
// An HTTP answer of any status code (4xx/5xx included) is a Response.
class Client {
 public:
  // InvalidArgument when options.ca_file cannot be read.
  static Result<std::unique_ptr<Client>> Create(boost::asio::any_io_executor executor,
                                                ClientOptions options);
  // Aborts transfers in flight: their Send() calls complete with Unavailable.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends one request. Must be called, and awaited, on the executor given to
  // Create() (single-threaded use). The client must outlive the call's start;
  // it may be destroyed while the call is suspended (see ~Client).
  // Cancelling the awaiting coroutine (its cancellation slot: a timer in a
  // parallel group, a bound cancellation_signal) aborts the transfer and
  // returns Unavailable("... cancelled"); the client stays usable.
  //
  // Inside a coroutine, build the Request in a named variable (or a function
  // returning one): GCC 12 miscompiles a braced temporary in a co_await
  // expression, `co_await client.Send({.method = ...})`, copying its strings
  // bitwise into the frame (a bad free; ASan shows it). Plain functions are
  // not affected.
  boost::asio::awaitable<Result<Response>> Send(Request request);

 private:
  class Impl;
  explicit Client(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace syncd::http

#endif  // SYNCD_HTTP_CLIENT_H_
