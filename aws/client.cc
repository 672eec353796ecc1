// AWS JSON 1.1 calls (client.h). Log lines name the operation, the error
// type and AWS's message; never a header, a body or a credential.
#include "aws/client.h"

#include <algorithm>
#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <ctime>
#include <random>
#include <utility>

#include "apply/pacing.h"
#include "aws/sigv4.h"
#include "core/log.h"
#include "core/strings.h"

namespace syncd::aws {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using std::chrono::milliseconds;
using std::chrono::system_clock;

template <size_t N>
bool OneOf(std::string_view type, const std::array<std::string_view, N>& names) {
  return std::find(names.begin(), names.end(), type) != names.end();
}

// The type names of each kind, as AWS services and botocore's retry
// handler spell them.
constexpr std::array<std::string_view, 14> kThrottlingTypes = {
    "ThrottlingException",
    "TooManyRequestsException",
    "Throttling",
    "ThrottledException",
    "RequestThrottledException",
    "RequestThrottled",
    "RequestLimitExceeded",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "PriorRequestNotComplete",
    "EC2ThrottledException"};
constexpr std::array<std::string_view, 2> kConflictTypes = {"ConflictException",
                                                            "ConcurrentModificationException"};
constexpr std::array<std::string_view, 3> kAccessDeniedTypes = {
    "AccessDeniedException", "AccessDenied", "UnauthorizedOperation"};
constexpr std::array<std::string_view, 2> kQuotaTypes = {"ServiceQuotaExceededException",
                                                         "QuotaExceededException"};
constexpr std::array<std::string_view, 3> kClockSkewTypes = {
    "RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture"};
// Signature errors: a clock problem when the message says so (below).
constexpr std::array<std::string_view, 2> kSignatureTypes = {"InvalidSignatureException",
                                                             "SignatureDoesNotMatch"};
constexpr std::array<std::string_view, 10> kAuthTypes = {"UnrecognizedClientException",
                                                         "InvalidClientTokenId",
                                                         "ExpiredToken",
                                                         "ExpiredTokenException",
                                                         "InvalidAccessKeyId",
                                                         "MissingAuthenticationToken",
                                                         "IncompleteSignature",
                                                         "IncompleteSignatureException",
                                                         "AuthFailure",
                                                         "InvalidToken"};
constexpr std::array<std::string_view, 7> kServerTypes = {
    "InternalServerException",     "InternalFailure",  "InternalError",       "ServiceUnavailable",
    "ServiceUnavailableException", "ServiceException", "InternalServiceError"};
constexpr std::array<std::string_view, 6> kValidationTypes = {
    "ValidationException",    "InvalidParameterException", "InvalidInputException",
    "SerializationException", "InvalidRequestException",   "UnknownOperationException"};

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// An HTTP-date ("Tue, 15 Nov 1994 08:12:31 GMT").
std::optional<system_clock::time_point> ParseHttpDate(const std::string& text) {
  std::tm parts{};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &parts);
  if (end == nullptr) return std::nullopt;
  const std::time_t seconds = timegm(&parts);
  if (seconds == -1) return std::nullopt;
  return system_clock::from_time_t(seconds);
}

std::string StringField(const json::object& object, std::initializer_list<std::string_view> names) {
  for (const std::string_view name : names) {
    const json::value* field = object.if_contains(name);
    if (field != nullptr && field->is_string()) return std::string(field->as_string());
  }
  return "";
}

// The partition's DNS suffix and the Organizations region of `region`.
struct Partition {
  std::string_view dns_suffix;
  std::string_view global_region;
};
Partition PartitionOf(std::string_view region) {
  if (region.rfind("cn-", 0) == 0) return {"amazonaws.com.cn", "cn-northwest-1"};
  if (region.rfind("us-gov-", 0) == 0) return {"amazonaws.com", "us-gov-west-1"};
  return {"amazonaws.com", "us-east-1"};
}

}  // namespace

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kThrottling:
      return "throttling";
    case ErrorKind::kConflict:
      return "conflict";
    case ErrorKind::kAccessDenied:
      return "access denied";
    case ErrorKind::kNotFound:
      return "not found";
    case ErrorKind::kValidation:
      return "validation";
    case ErrorKind::kQuotaExceeded:
      return "quota exceeded";
    case ErrorKind::kAuthFailure:
      return "auth failure";
    case ErrorKind::kClockSkew:
      return "clock skew";
    case ErrorKind::kServer:
      return "server";
    case ErrorKind::kTransport:
      return "transport";
  }
  return "unknown";
}

bool IsRetryable(ErrorKind kind) {
  return kind == ErrorKind::kThrottling || kind == ErrorKind::kConflict ||
         kind == ErrorKind::kServer || kind == ErrorKind::kTransport;
}

std::string SanitizeErrorType(std::string_view raw) {
  if (const size_t colon = raw.find(':'); colon != std::string_view::npos) {
    raw = raw.substr(0, colon);
  }
  if (const size_t hash = raw.rfind('#'); hash != std::string_view::npos) {
    raw = raw.substr(hash + 1);
  }
  while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) raw.remove_prefix(1);
  while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) raw.remove_suffix(1);
  return std::string(raw);
}

ErrorKind ClassifyError(std::string_view sanitized_type, std::string_view message,
                        long http_status) {
  const std::string_view type = sanitized_type;
  if (OneOf(type, kThrottlingTypes)) return ErrorKind::kThrottling;
  if (OneOf(type, kConflictTypes)) return ErrorKind::kConflict;
  if (OneOf(type, kAccessDeniedTypes)) return ErrorKind::kAccessDenied;
  if (OneOf(type, kQuotaTypes)) return ErrorKind::kQuotaExceeded;
  if (OneOf(type, kClockSkewTypes)) return ErrorKind::kClockSkew;
  if (OneOf(type, kSignatureTypes)) {
    const bool clock = message.find("Signature expired") != std::string_view::npos ||
                       message.find("Signature not yet current") != std::string_view::npos;
    return clock ? ErrorKind::kClockSkew : ErrorKind::kAuthFailure;
  }
  if (OneOf(type, kAuthTypes)) return ErrorKind::kAuthFailure;
  if (OneOf(type, kServerTypes)) return ErrorKind::kServer;
  if (OneOf(type, kValidationTypes)) return ErrorKind::kValidation;
  if (EndsWith(type, "NotFoundException") || EndsWith(type, "NotFound")) {
    return ErrorKind::kNotFound;
  }
  if (http_status >= 500) return ErrorKind::kServer;
  if (http_status == 429) return ErrorKind::kThrottling;
  if (http_status == 403) return ErrorKind::kAccessDenied;
  return ErrorKind::kValidation;
}

std::string Error::ToString() const {
  std::string text = operation + ": ";
  if (!type.empty()) text += type + ": ";
  text += message;
  if (!request_id.empty()) text += " (request " + request_id + ")";
  return text;
}

Status Error::ToStatus() const {
  if (kind == ErrorKind::kAccessDenied || kind == ErrorKind::kAuthFailure) {
    return Status::PermissionDenied(ToString());
  }
  if (IsRetryable(kind)) return Status::Unavailable(ToString());
  if (kind == ErrorKind::kNotFound) return Status::NotFound(ToString());
  return Status::InvalidArgument(ToString());
}

class Client::Impl {
 public:
  Impl(asio::any_io_executor executor, http::Client& http, CredentialProvider& credentials,
       ClientOptions options)
      : executor_(std::move(executor)),
        http_(http),
        credentials_(credentials),
        options_(std::move(options)),
        bucket_(options_.rate_limit, std::max(1.0, options_.rate_limit), TokenBucket::Clock::now()),
        now_([] { return system_clock::now(); }),
        random_([engine = std::mt19937_64(std::random_device{}())]() mutable {
          return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
        }) {}

  asio::awaitable<CallResult> Call(const Service& service, std::string_view operation,
                                   const json::object& input) {
    const std::string name = std::string(service.display_name) + " " + std::string(operation);
    const std::string target = std::string(service.target_prefix) + "." + std::string(operation);
    const std::string body = json::serialize(input);
    bool skew_retried = false;
    bool auth_retried = false;
    for (;;) {
      auto credentials = co_await credentials_.Get();
      if (!credentials.ok()) {
        // Reported like an answer, so callers handle one type.
        Error error{.kind = credentials.status().code() == Status::Code::kUnavailable
                                ? ErrorKind::kTransport
                                : ErrorKind::kAuthFailure,
                    .message = "no credentials: " + credentials.status().message(),
                    .operation = name};
        co_return error;
      }
      SignatureParts signature;
      milliseconds signed_offset{0};
      CallResult result =
          co_await Attempt(service, name, target, body, *credentials, signature, signed_offset);
      if (result.ok()) co_return result;
      const Error& error = result.error();
      // Retried when this answer (or an overlapping call's) taught a new offset.
      if (error.kind == ErrorKind::kClockSkew && !skew_retried && clock_offset_ != signed_offset) {
        skew_retried = true;
        ++stats_.retries;
        continue;
      }
      if (error.kind == ErrorKind::kAuthFailure && !auth_retried) {
        auth_retried = true;
        if (OneOf(std::string_view(error.type), kSignatureTypes)) {
          // The canonical request holds no secret; compare it with AWS's.
          Log(LogLevel::kDebug,
              name + ": signature refused; canonical request was:\n" + signature.canonical_request);
        }
        // Refreshable credentials may have been revoked early: try fresh ones once.
        credentials_.Invalidate();
        auto fresh = co_await credentials_.Get();
        if (fresh.ok() && (fresh->access_key_id != credentials->access_key_id ||
                           fresh->secret_access_key != credentials->secret_access_key ||
                           fresh->session_token != credentials->session_token)) {
          ++stats_.retries;
          continue;
        }
      }
      if (error.kind == ErrorKind::kAuthFailure) {
        Error described = error;
        described.message += " (credentials: " + credentials_.Describe() + ")";
        co_return described;
      }
      co_return result;
    }
  }

  asio::awaitable<CallResult> CallRetrying(const Service& service, std::string_view operation,
                                           const json::object& input, RetryOptions options) {
    for (int attempt = 1;; ++attempt) {
      CallResult result = co_await Call(service, operation, input);
      if (result.ok()) co_return result;
      const ErrorKind kind = result.error().kind;
      const bool retryable =
          IsRetryable(kind) && (kind != ErrorKind::kConflict || options.retry_conflict);
      if (!retryable || attempt >= options.max_attempts) co_return result;
      const milliseconds delay = FullJitter(attempt, options.base, options.cap, random_());
      if (kind == ErrorKind::kThrottling) {
        bucket_.PauseUntil(TokenBucket::Clock::now() + delay);
      }
      ++stats_.retries;
      asio::steady_timer timer(executor_, delay);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }

  asio::awaitable<Result<json::array>> ListAll(const Service& service, std::string_view operation,
                                               json::object input, std::string_view list_key,
                                               RetryOptions options) {
    json::array items;
    std::string previous_token;
    for (;;) {
      CallResult page = co_await CallRetrying(service, operation, input, options);
      if (!page.ok()) co_return page.error().ToStatus();
      const std::string where =
          std::string(service.display_name) + " " + std::string(operation) + ": ";
      if (const json::value* list = page.output().if_contains(list_key)) {
        if (!list->is_array()) {
          co_return Status::DataLoss(where + std::string(list_key) + " is not a list");
        }
        for (const json::value& item : list->as_array()) items.push_back(item);
      }
      const std::string token = StringField(page.output(), {"NextToken"});
      if (token.empty()) co_return items;
      if (token == previous_token) {
        co_return Status::DataLoss(where + "the same NextToken came back twice");
      }
      previous_token = token;
      input["NextToken"] = token;
    }
  }

  milliseconds clock_offset() const { return clock_offset_; }
  const Stats& stats() const { return stats_; }
  void OnThrottle(std::function<void()> callback) { on_throttle_ = std::move(callback); }
  void SetClock(std::function<system_clock::time_point()> now) { now_ = std::move(now); }
  void SetRandom(std::function<double()> unit) { random_ = std::move(unit); }

 private:
  // Waits for the bucket, signs with the corrected clock (the offset used
  // goes to `signed_offset`), sends once.
  asio::awaitable<CallResult> Attempt(const Service& service, const std::string& name,
                                      const std::string& target, const std::string& body,
                                      const Credentials& credentials, SignatureParts& signature,
                                      milliseconds& signed_offset) {
    co_await TakeToken();
    const SigningScope scope = Scope(service);
    http::Request request{.method = "POST", .url = Endpoint(service)};
    request.headers = {{"Content-Type", "application/x-amz-json-1.1"}, {"X-Amz-Target", target}};
    request.body = body;
    request.timeout = options_.timeout;
    signed_offset = clock_offset_;
    signature = SignV4(request, credentials, scope, now_() + signed_offset);
    ++stats_.calls;
    auto response = co_await http_.Send(std::move(request));
    if (!response.ok()) {
      Error error{
          .kind = ErrorKind::kTransport, .message = response.status().message(), .operation = name};
      co_return error;
    }
    if (response->status >= 200 && response->status < 300) {
      if (response->body.empty()) co_return json::object();
      boost::system::error_code ec;
      json::value parsed = json::parse(response->body, ec);
      if (ec || !parsed.is_object()) {
        Error error{.kind = ErrorKind::kServer,
                    .message = "the answer is not a JSON object",
                    .http_status = response->status,
                    .operation = name};
        co_return error;
      }
      co_return std::move(parsed.as_object());
    }
    Error error = ParseError(*response, name);
    if (error.kind == ErrorKind::kThrottling) {
      ++stats_.throttled;
      if (on_throttle_) on_throttle_();
    }
    if (error.kind == ErrorKind::kConflict) ++stats_.conflicts;
    if (error.kind == ErrorKind::kClockSkew) LearnSkew(*response, name);
    co_return error;
  }

  asio::awaitable<void> TakeToken() {
    for (;;) {
      const auto wait = bucket_.Wait(TokenBucket::Clock::now());
      if (wait == TokenBucket::Clock::duration::zero()) break;
      asio::steady_timer timer(executor_, wait);
      co_await timer.async_wait(asio::use_awaitable);
    }
    bucket_.Take(TokenBucket::Clock::now());
  }

  static Error ParseError(const http::Response& response, const std::string& name) {
    Error error{.http_status = response.status, .operation = name};
    error.request_id = response.HeaderValue("x-amzn-requestid").value_or("");
    boost::system::error_code ec;
    const json::value parsed = json::parse(response.body, ec);
    const json::object empty;
    const json::object& body = !ec && parsed.is_object() ? parsed.as_object() : empty;
    error.type = SanitizeErrorType(
        response.HeaderValue("x-amzn-errortype").value_or(StringField(body, {"__type", "code"})));
    error.message = StringField(body, {"message", "Message"});
    if (error.message.empty()) error.message = "HTTP " + std::to_string(response.status);
    error.kind = ClassifyError(error.type, error.message, response.status);
    return error;
  }

  // The server's clock from the Date header; logged once.
  void LearnSkew(const http::Response& response, const std::string& name) {
    const auto date_header = response.HeaderValue("date");
    if (!date_header.has_value()) return;
    const auto server_now = ParseHttpDate(*date_header);
    if (!server_now.has_value()) return;
    const auto offset = std::chrono::duration_cast<milliseconds>(*server_now - now_());
    if (std::chrono::abs(offset - clock_offset_) < std::chrono::seconds(1)) return;
    clock_offset_ = offset;
    if (!skew_logged_) {
      skew_logged_ = true;
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(offset).count();
      Log(LogLevel::kWarning, name + ": AWS says this host's clock is off by " +
                                  std::to_string(seconds) +
                                  " s (AWS's minus ours); signing with AWS's time from now on. "
                                  "Fix the host's time synchronisation (NTP).");
    }
  }

  SigningScope Scope(const Service& service) const {
    if (service.signing_name == kOrganizations.signing_name) {
      return {std::string(PartitionOf(options_.region).global_region),
              std::string(service.signing_name)};
    }
    return {options_.region, std::string(service.signing_name)};
  }

  std::string Endpoint(const Service& service) const {
    if (!options_.endpoint_url.empty()) {
      const size_t scheme = options_.endpoint_url.find("://");
      const bool has_path = scheme != std::string::npos &&
                            options_.endpoint_url.find('/', scheme + 3) != std::string::npos;
      return has_path ? options_.endpoint_url : options_.endpoint_url + "/";
    }
    const Partition partition = PartitionOf(options_.region);
    return "https://" + std::string(service.endpoint_prefix) + "." + Scope(service).region + "." +
           std::string(partition.dns_suffix) + "/";
  }

  asio::any_io_executor executor_;
  http::Client& http_;
  CredentialProvider& credentials_;
  ClientOptions options_;
  TokenBucket bucket_;
  std::function<system_clock::time_point()> now_;
  std::function<double()> random_;
  milliseconds clock_offset_{0};
  bool skew_logged_ = false;
  Stats stats_;
  std::function<void()> on_throttle_;
};

Client::Client(boost::asio::any_io_executor executor, http::Client& http,
               CredentialProvider& credentials, ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(executor), http, credentials, std::move(options))) {}

Client::~Client() = default;

boost::asio::awaitable<CallResult> Client::Call(const Service& service, std::string_view operation,
                                                const boost::json::object& input) {
  return impl_->Call(service, operation, input);
}

boost::asio::awaitable<CallResult> Client::CallRetrying(const Service& service,
                                                        std::string_view operation,
                                                        const boost::json::object& input,
                                                        RetryOptions options) {
  return impl_->CallRetrying(service, operation, input, options);
}

boost::asio::awaitable<Result<boost::json::array>> Client::ListAll(const Service& service,
                                                                   std::string_view operation,
                                                                   boost::json::object input,
                                                                   std::string_view list_key,
                                                                   RetryOptions options) {
  return impl_->ListAll(service, operation, std::move(input), list_key, options);
}

std::chrono::milliseconds Client::clock_offset() const { return impl_->clock_offset(); }

const Client::Stats& Client::stats() const { return impl_->stats(); }

void Client::OnThrottle(std::function<void()> callback) { impl_->OnThrottle(std::move(callback)); }

void Client::SetClockForTesting(std::function<std::chrono::system_clock::time_point()> now) {
  impl_->SetClock(std::move(now));
}

void Client::SetRandomForTesting(std::function<double()> unit) {
  impl_->SetRandom(std::move(unit));
}

}  // namespace syncd::aws
