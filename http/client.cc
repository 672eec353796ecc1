// libcurl's multi interface on the Asio loop.
//
// curl tells us, through CURLMOPT_SOCKETFUNCTION, which sockets to watch for
// what, and through CURLMOPT_TIMERFUNCTION when to call it back. Each socket
// is wrapped in a stream_descriptor that only waits for readiness (curl does
// all reads and writes) and is released, never closed, when curl lets go of
// it. Every readiness or timer event calls curl_multi_socket_action, then
// curl_multi_info_read reports finished transfers, whose awaiting coroutines
// are resumed through a posted completion.
//
// Lifetimes: Impl is owned by the Client alone; every Asio handler holds a
// weak_ptr to it, so a handler that runs after ~Client does nothing. Handlers
// also share ownership of their SocketWatch, which outlives curl's interest in
// the socket until the aborted waits have drained.
#include "http/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <fstream>
#include <limits>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "core/strings.h"

namespace syncd::http {
namespace asio = boost::asio;

namespace {

using Completion = asio::any_completion_handler<void(Result<Response>)>;

// curl_global_init is not thread-safe in 7.88; run it once per process and
// never clean up (other libraries may share OpenSSL).
CURLcode GlobalInit() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return code;
}

std::string_view TrimWhitespace(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

bool HasLineBreak(std::string_view text) {
  return text.find_first_of("\r\n") != std::string_view::npos;
}

// An RFC 9110 token (method names, header names).
bool IsToken(std::string_view text) {
  if (text.empty()) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
  });
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && AsciiLower(a) == AsciiLower(b);
}

struct Target {
  std::string host;
  std::string where;  // "GET https://host:port/path", for messages: no userinfo, no query
};

// Checks the URL before curl sees it, so that a typo is InvalidArgument with
// a precise reason rather than a transport error.
Result<Target> ParseTarget(const Request& request) {
  std::string method_for_message = request.method.empty() ? "(no method)" : request.method;
  if (!IsToken(request.method)) {
    return Status::InvalidArgument("HTTP method '" + TerminalSafe(request.method) +
                                   "' is not a valid method name");
  }
  CURLU* url = curl_url();
  if (url == nullptr) return Status::Internal("curl_url: out of memory");
  struct UrlFree {
    CURLU* url;
    ~UrlFree() { curl_url_cleanup(url); }
  } url_free{url};

  CURLUcode code = curl_url_set(url, CURLUPART_URL, request.url.c_str(), 0);
  if (code != CURLUE_OK) {
    return Status::InvalidArgument(request.method + " " + TerminalSafe(request.url) +
                                   ": not a valid absolute URL (" + curl_url_strerror(code) + ")");
  }
  auto part = [url](CURLUPart which) -> std::string {
    char* text = nullptr;
    if (curl_url_get(url, which, &text, 0) != CURLUE_OK || text == nullptr) return "";
    std::string copy(text);
    curl_free(text);
    return copy;
  };
  std::string scheme = AsciiLower(part(CURLUPART_SCHEME));
  Target target;
  target.host = part(CURLUPART_HOST);
  std::string port = part(CURLUPART_PORT);
  target.where = request.method + " " + scheme + "://" + target.host +
                 (port.empty() ? "" : ":" + port) + part(CURLUPART_PATH);
  if (scheme != "http" && scheme != "https") {
    return Status::InvalidArgument(target.where + ": unsupported URL scheme '" + scheme +
                                   "' (only http and https)");
  }
  for (const Header& header : request.headers) {
    if (!IsToken(header.name) || HasLineBreak(header.value)) {
      // The value is not shown: it may be a token.
      return Status::InvalidArgument(target.where + ": header '" + TerminalSafe(header.name) +
                                     "' has an invalid name or a line break in its value");
    }
  }
  return target;
}

bool IsConnectTimeout(std::string_view curl_message) {
  return curl_message.starts_with("Connection timed out") ||
         curl_message.starts_with("Resolving timed out") ||
         curl_message.starts_with("Failed to connect");
}

}  // namespace

std::string DefaultUserAgent() { return "syncd/" SYNCD_VERSION; }

std::optional<std::string> Response::HeaderValue(std::string_view name) const {
  for (const Header& header : headers) {
    if (EqualsIgnoreCase(header.name, name)) return header.value;
  }
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> Response::RetryAfter(
    std::chrono::system_clock::time_point now) const {
  std::optional<std::string> raw = HeaderValue("retry-after");
  if (!raw.has_value()) return std::nullopt;
  std::string value(TrimWhitespace(*raw));
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || seconds > std::numeric_limits<int64_t>::max() / 1000) {
      return std::nullopt;
    }
    return std::chrono::seconds(seconds);
  }
  // curl_getdate reads the three HTTP-date forms (IMF-fixdate, RFC 850, asctime).
  time_t when = curl_getdate(value.c_str(), nullptr);
  if (when == -1) return std::nullopt;
  auto delay = std::chrono::system_clock::from_time_t(when) - now;
  if (delay <= std::chrono::system_clock::duration::zero()) return std::chrono::milliseconds(0);
  return std::chrono::ceil<std::chrono::milliseconds>(delay);
}

class Client::Impl {
 public:
  Impl(asio::any_io_executor executor, ClientOptions options, CURLM* multi)
      : executor_(std::move(executor)),
        options_(std::move(options)),
        multi_(multi),
        timer_(executor_) {}

  ~Impl() { Shutdown(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Installs curl's callbacks; `self` is the owning pointer to this.
  void Attach(const std::shared_ptr<Impl>& self) {
    weak_self_ = self;
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Impl::SocketCallback);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Impl::TimerCallback);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, options_.max_connections);
  }

  void Start(Request request, Completion completion);

  // Aborts every transfer (their callers get Unavailable) and lets go of
  // curl's sockets. Idempotent.
  void Shutdown();

 private:
  struct Transfer {
    explicit Transfer(Request r, Completion c, asio::any_io_executor w)
        : request(std::move(r)), completion(std::move(c)), work(std::move(w)) {}
    ~Transfer() {
      if (easy != nullptr) curl_easy_cleanup(easy);
      if (header_list != nullptr) curl_slist_free_all(header_list);
    }
    Transfer(const Transfer&) = delete;
    Transfer& operator=(const Transfer&) = delete;

    Request request;  // owns the body curl sends from
    Target target;
    Completion completion;
    asio::any_io_executor work;  // keeps the loop running while we wait on curl
    CURL* easy = nullptr;
    curl_slist* header_list = nullptr;
    Response response;
    std::array<char, CURL_ERROR_SIZE> error{};
  };

  struct SocketWatch {
    SocketWatch(const asio::any_io_executor& executor, curl_socket_t fd)
        : descriptor(executor), socket(fd) {}
    asio::posix::stream_descriptor descriptor;
    curl_socket_t socket;
    int wanted = 0;  // CURL_POLL_IN/OUT/INOUT
    bool reading = false;
    bool writing = false;
    bool removed = false;  // curl let go of the socket
  };

  // Cancels one transfer from the awaiting coroutine's cancellation slot.
  struct CancelTransfer {
    std::weak_ptr<Impl> impl;
    CURL* easy;
    void operator()(asio::cancellation_type type) const {
      if ((type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                   asio::cancellation_type::total)) == asio::cancellation_type::none) {
        return;
      }
      // Copies: Complete() clears the slot, which destroys this handler.
      std::shared_ptr<Impl> self = impl.lock();
      CURL* target = easy;
      if (self) self->Cancel(target);
    }
  };

  static int SocketCallback(CURL* /*easy*/, curl_socket_t socket, int what, void* impl,
                            void* /*socketp*/) {
    return static_cast<Impl*>(impl)->OnSocket(socket, what);
  }
  static int TimerCallback(CURLM* /*multi*/, long timeout_ms, void* impl) {
    return static_cast<Impl*>(impl)->OnTimer(timeout_ms);
  }
  static size_t HeaderCallback(char* data, size_t size, size_t count, void* transfer);
  static size_t WriteCallback(char* data, size_t size, size_t count, void* transfer) {
    static_cast<Transfer*>(transfer)->response.body.append(data, size * count);
    return size * count;
  }

  Status Configure(Transfer& transfer) const;
  int OnSocket(curl_socket_t socket, int what);
  int OnTimer(long timeout_ms);
  void Watch(const std::shared_ptr<SocketWatch>& watch);
  void OnReady(const std::shared_ptr<SocketWatch>& watch, int event);
  void Drive(curl_socket_t socket, int events);
  void ReapFinished();
  void Cancel(CURL* easy);
  std::unique_ptr<Transfer> Detach(CURL* easy);
  static void Complete(std::unique_ptr<Transfer> transfer, Result<Response> result);
  Result<Response> Outcome(Transfer& transfer, CURLcode code) const;

  asio::any_io_executor executor_;
  ClientOptions options_;
  CURLM* multi_;
  asio::steady_timer timer_;
  std::weak_ptr<Impl> weak_self_;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers_;
  std::unordered_map<curl_socket_t, std::shared_ptr<SocketWatch>> sockets_;
};

size_t Client::Impl::HeaderCallback(char* data, size_t size, size_t count, void* transfer_ptr) {
  auto* transfer = static_cast<Transfer*>(transfer_ptr);
  std::vector<Header>& headers = transfer->response.headers;
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    // A new status line: an interim answer (100 Continue, a proxy's CONNECT
    // reply) came before; keep only the final answer's headers.
    headers.clear();
  } else if ((line.starts_with(" ") || line.starts_with("\t")) && !headers.empty()) {
    std::string_view more = TrimWhitespace(line);  // obsolete line folding
    if (!more.empty()) headers.back().value.append(" ").append(more);
  } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    headers.push_back({AsciiLower(TrimWhitespace(line.substr(0, colon))),
                       std::string(TrimWhitespace(line.substr(colon + 1)))});
  }
  return size * count;
}

Status Client::Impl::Configure(Transfer& transfer) const {
  CURL* easy = transfer.easy;
  const Request& request = transfer.request;
  auto set = [&](auto option, auto value) { return curl_easy_setopt(easy, option, value); };
  CURLcode code = CURLE_OK;
  auto check = [&code](CURLcode result) {
    if (code == CURLE_OK) code = result;
  };
  check(set(CURLOPT_PRIVATE, &transfer));
  check(set(CURLOPT_URL, request.url.c_str()));
  check(set(CURLOPT_PROTOCOLS_STR, "http,https"));
  check(set(CURLOPT_NOSIGNAL, 1L));
  check(set(CURLOPT_ERRORBUFFER, transfer.error.data()));
  check(set(CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count())));
  check(set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count())));
  check(set(CURLOPT_TCP_KEEPALIVE, 1L));
  check(set(CURLOPT_ACCEPT_ENCODING, ""));  // whatever this libcurl can decode
  check(set(CURLOPT_USERAGENT, options_.user_agent.c_str()));
  check(set(CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L));
  check(set(CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L));
  if (!options_.ca_file.empty()) check(set(CURLOPT_CAINFO, options_.ca_file.c_str()));
  if (!options_.proxy.empty()) check(set(CURLOPT_PROXY, options_.proxy.c_str()));
  if (!options_.no_proxy.empty()) check(set(CURLOPT_NOPROXY, options_.no_proxy.c_str()));
  check(set(CURLOPT_HEADERFUNCTION, &Impl::HeaderCallback));
  check(set(CURLOPT_HEADERDATA, &transfer));
  check(set(CURLOPT_WRITEFUNCTION, &Impl::WriteCallback));
  check(set(CURLOPT_WRITEDATA, &transfer));

  const std::string& method = request.method;
  bool sends_body =
      !request.body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
  if (method == "HEAD") {
    check(set(CURLOPT_NOBODY, 1L));
  } else if (sends_body) {
    // The body stays owned by transfer.request; curl sends it as is.
    check(set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size())));
    check(set(CURLOPT_POSTFIELDS, request.body.data()));
    if (method != "POST") check(set(CURLOPT_CUSTOMREQUEST, method.c_str()));
  } else if (method != "GET") {
    check(set(CURLOPT_CUSTOMREQUEST, method.c_str()));
  }

  bool has_content_type = false;
  bool has_expect = false;
  curl_slist* list = nullptr;
  auto append = [&list](const std::string& line) {
    curl_slist* longer = curl_slist_append(list, line.c_str());
    if (longer != nullptr) list = longer;
    return longer != nullptr;
  };
  bool appended = true;
  for (const Header& header : request.headers) {
    has_content_type |= EqualsIgnoreCase(header.name, "content-type");
    has_expect |= EqualsIgnoreCase(header.name, "expect");
    // "Name;" is curl's way to send a header with an empty value.
    appended &=
        append(header.value.empty() ? header.name + ";" : header.name + ": " + header.value);
  }
  // curl would otherwise label any body as a form, and wait for
  // "100 Continue" before sending a large one.
  if (sends_body && !has_content_type) appended &= append("Content-Type:");
  if (!has_expect) appended &= append("Expect:");
  transfer.header_list = list;
  check(set(CURLOPT_HTTPHEADER, list));
  if (!appended) return Status::Internal(transfer.target.where + ": out of memory for headers");
  if (code != CURLE_OK) {
    return Status::Internal(transfer.target.where +
                            ": curl_easy_setopt: " + curl_easy_strerror(code));
  }
  return Status::Ok();
}

void Client::Impl::Start(Request request, Completion completion) {
  Result<Target> target = ParseTarget(request);
  auto transfer = std::make_unique<Transfer>(
      std::move(request), std::move(completion),
      asio::prefer(executor_, asio::execution::outstanding_work.tracked));
  if (!target.ok()) return Complete(std::move(transfer), target.status());
  transfer->target = std::move(target.value());
  if (multi_ == nullptr) {
    Status shut_down =
        Status::Unavailable(transfer->target.where + ": the HTTP client is shut down");
    return Complete(std::move(transfer), std::move(shut_down));
  }
  transfer->easy = curl_easy_init();
  if (transfer->easy == nullptr) {
    Status failed = Status::Internal(transfer->target.where + ": curl_easy_init failed");
    return Complete(std::move(transfer), std::move(failed));
  }
  if (Status configured = Configure(*transfer); !configured.ok()) {
    return Complete(std::move(transfer), configured);
  }
  CURL* easy = transfer->easy;
  asio::cancellation_slot slot = asio::get_associated_cancellation_slot(transfer->completion);
  transfers_.emplace(easy, std::move(transfer));
  if (CURLMcode code = curl_multi_add_handle(multi_, easy); code != CURLM_OK) {
    std::unique_ptr<Transfer> failed = Detach(easy);
    std::string where = failed->target.where;
    return Complete(
        std::move(failed),
        Status::Internal(where + ": curl_multi_add_handle: " + curl_multi_strerror(code)));
  }
  if (slot.is_connected()) slot.emplace<CancelTransfer>(CancelTransfer{weak_self_, easy});
}

int Client::Impl::OnSocket(curl_socket_t socket, int what) {
  if (what == CURL_POLL_REMOVE) {
    auto found = sockets_.find(socket);
    if (found == sockets_.end()) return 0;
    std::shared_ptr<SocketWatch> watch = std::move(found->second);
    sockets_.erase(found);
    watch->removed = true;
    boost::system::error_code ignored;
    watch->descriptor.cancel(ignored);
    watch->descriptor.release();  // curl owns the socket and closes it
    return 0;
  }
  std::shared_ptr<SocketWatch>& watch = sockets_[socket];
  if (!watch) {
    watch = std::make_shared<SocketWatch>(executor_, socket);
    boost::system::error_code ec;
    watch->descriptor.assign(socket, ec);
    if (ec) {
      sockets_.erase(socket);
      return -1;  // curl fails the transfers on this socket
    }
  }
  watch->wanted = what;
  Watch(watch);
  return 0;
}

// Arms a readiness wait for each direction curl wants and none is pending.
// The waits are one-shot; OnReady re-arms them after curl had its turn.
void Client::Impl::Watch(const std::shared_ptr<SocketWatch>& watch) {
  auto arm = [this, &watch](bool& pending, int direction,
                            asio::posix::descriptor_base::wait_type type) {
    if ((watch->wanted & direction) == 0 || pending) return;
    pending = true;
    watch->descriptor.async_wait(
        type, [weak = weak_self_, watch, &pending, direction](boost::system::error_code ec) {
          pending = false;
          if (watch->removed || ec == asio::error::operation_aborted) return;
          std::shared_ptr<Impl> self = weak.lock();
          if (!self || (watch->wanted & direction) == 0) return;
          int event = ec ? CURL_CSELECT_ERR
                         : (direction == CURL_POLL_IN ? CURL_CSELECT_IN : CURL_CSELECT_OUT);
          self->OnReady(watch, event);
        });
  };
  arm(watch->reading, CURL_POLL_IN, asio::posix::descriptor_base::wait_read);
  arm(watch->writing, CURL_POLL_OUT, asio::posix::descriptor_base::wait_write);
}

void Client::Impl::OnReady(const std::shared_ptr<SocketWatch>& watch, int event) {
  Drive(watch->socket, event);
  if (!watch->removed) Watch(watch);
}

int Client::Impl::OnTimer(long timeout_ms) {
  if (timeout_ms < 0) {
    timer_.cancel();
    return 0;
  }
  // Zero means "as soon as possible"; curl must not be re-entered from here.
  timer_.expires_after(std::chrono::milliseconds(timeout_ms));
  timer_.async_wait([weak = weak_self_](boost::system::error_code ec) {
    if (ec) return;
    if (std::shared_ptr<Impl> self = weak.lock()) self->Drive(CURL_SOCKET_TIMEOUT, 0);
  });
  return 0;
}

void Client::Impl::Drive(curl_socket_t socket, int events) {
  if (multi_ == nullptr) return;
  int running = 0;
  curl_multi_socket_action(multi_, socket, events, &running);
  ReapFinished();
}

void Client::Impl::ReapFinished() {
  int left = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
    if (message->msg != CURLMSG_DONE) continue;
    // Copied out: the message dies with the handle's removal.
    CURL* easy = message->easy_handle;
    CURLcode code = message->data.result;
    std::unique_ptr<Transfer> transfer = Detach(easy);
    if (!transfer) continue;
    Result<Response> outcome = Outcome(*transfer, code);
    Complete(std::move(transfer), std::move(outcome));
  }
}

Result<Response> Client::Impl::Outcome(Transfer& transfer, CURLcode code) const {
  const std::string& where = transfer.target.where;
  std::string reason = transfer.error[0] != '\0' ? std::string(transfer.error.data())
                                                 : std::string(curl_easy_strerror(code));
  switch (code) {
    case CURLE_OK: {
      long status = 0;
      curl_easy_getinfo(transfer.easy, CURLINFO_RESPONSE_CODE, &status);
      transfer.response.status = status;
      return std::move(transfer.response);
    }
    case CURLE_OPERATION_TIMEDOUT:
      if (IsConnectTimeout(reason)) {
        return Status::Unavailable(where + ": connect timed out after " +
                                   std::to_string(options_.connect_timeout.count()) + " ms (" +
                                   reason + ")");
      }
      return Status::Unavailable(where + ": timed out after " +
                                 std::to_string(transfer.request.timeout.count()) + " ms (" +
                                 reason + ")");
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return Status::PermissionDenied(
          where + ": TLS certificate verify failed for host " + transfer.target.host + ": " +
          reason + "; set tls_ca_file to the CA that issued the server's certificate" +
          (options_.ca_file.empty() ? "" : " (now " + options_.ca_file + ")"));
    case CURLE_SSL_CACERT_BADFILE:
      return Status::InvalidArgument(where + ": tls_ca_file " + options_.ca_file +
                                     " is not a usable PEM bundle: " + reason);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return Status::InvalidArgument(where + ": " + reason);
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FAILED_INIT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
      return Status::Internal(where + ": " + reason);
    default:
      // DNS, refused, reset, closed mid-answer, TLS handshake, proxy failures.
      return Status::Unavailable(where + ": " + reason);
  }
}

void Client::Impl::Cancel(CURL* easy) {
  std::unique_ptr<Transfer> transfer = Detach(easy);
  if (!transfer) return;
  std::string where = transfer->target.where;
  Complete(std::move(transfer), Status::Unavailable(where + ": cancelled"));
}

std::unique_ptr<Client::Impl::Transfer> Client::Impl::Detach(CURL* easy) {
  auto node = transfers_.extract(easy);
  if (node.empty()) return nullptr;
  // Removing an unfinished transfer closes its connection rather than
  // leaving it half-read in the cache. May call OnSocket/OnTimer.
  if (multi_ != nullptr) curl_multi_remove_handle(multi_, easy);
  return std::move(node.mapped());
}

void Client::Impl::Complete(std::unique_ptr<Transfer> transfer, Result<Response> result) {
  asio::cancellation_slot slot = asio::get_associated_cancellation_slot(transfer->completion);
  if (slot.is_connected()) slot.clear();
  // Posted, never invoked here: callers are inside curl or the initiation.
  asio::any_io_executor executor = transfer->work;
  asio::post(executor, asio::append(std::move(transfer->completion), std::move(result)));
}

void Client::Impl::Shutdown() {
  while (!transfers_.empty()) {
    std::unique_ptr<Transfer> transfer = Detach(transfers_.begin()->first);
    std::string where = transfer->target.where;
    Complete(std::move(transfer),
             Status::Unavailable(where + ": cancelled: the HTTP client was destroyed"));
  }
  if (multi_ != nullptr) {
    curl_multi_cleanup(multi_);  // closes cached connections via OnSocket
    multi_ = nullptr;
  }
  timer_.cancel();
  for (auto& [socket, watch] : sockets_) {
    watch->removed = true;
    boost::system::error_code ignored;
    watch->descriptor.cancel(ignored);
    watch->descriptor.release();
  }
  sockets_.clear();
}

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() {
  if (impl_) impl_->Shutdown();
}

Result<std::unique_ptr<Client>> Client::Create(asio::any_io_executor executor,
                                               ClientOptions options) {
  if (!options.ca_file.empty()) {
    std::ifstream probe(options.ca_file);
    if (!probe) {
      return Status::InvalidArgument("tls_ca_file " + options.ca_file +
                                     " cannot be read: " + std::strerror(errno));
    }
  }
  if (options.max_connections < 1) {
    return Status::InvalidArgument("max_connections must be at least 1");
  }
  if (CURLcode code = GlobalInit(); code != CURLE_OK) {
    return Status::Internal(std::string("curl_global_init: ") + curl_easy_strerror(code));
  }
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return Status::Internal("curl_multi_init failed");
  auto impl = std::make_shared<Impl>(std::move(executor), std::move(options), multi);
  impl->Attach(impl);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

asio::awaitable<Result<Response>> Client::Send(Request request) {
  // Not a coroutine: the returned awaitable runs the initiation when it is
  // awaited, so it holds the client weakly and fails cleanly if ~Client ran.
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Result<Response>)>(
      [weak = std::weak_ptr<Impl>(impl_)](auto handler, Request owned) {
        if (std::shared_ptr<Impl> impl = weak.lock()) {
          impl->Start(std::move(owned), Completion(std::move(handler)));
          return;
        }
        Status gone = Status::Unavailable(owned.method + ": the HTTP client was destroyed");
        auto executor = asio::get_associated_executor(handler);
        asio::post(executor, asio::append(std::move(handler), Result<Response>(std::move(gone))));
      },
      asio::use_awaitable, std::move(request));
}

}  // namespace syncd::http
