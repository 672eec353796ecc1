// Calls to the AWS JSON 1.1 APIs syncd uses (SSO Admin, Identity Store,
// Organizations) over the http/ transport: signed with SigV4 (sigv4.h),
// credentials from the chain (credentials.h), errors classified by their
// type, paced by one token bucket per client, clock skew corrected.
#ifndef SYNCD_AWS_CLIENT_H_
#define SYNCD_AWS_CLIENT_H_

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "aws/credentials.h"
#include "core/status.h"
#include "http/client.h"

namespace syncd::aws {

// A JSON 1.1 service: how it is reached and signed.
struct Service {
  std::string_view signing_name;     // credential scope: "sso"
  std::string_view endpoint_prefix;  // https://PREFIX.REGION.amazonaws.com
  std::string_view target_prefix;    // X-Amz-Target: PREFIX.Operation
  std::string_view display_name;     // for messages: "SSO Admin"
};
inline constexpr Service kSsoAdmin{"sso", "sso", "SWBExternalService", "SSO Admin"};
inline constexpr Service kIdentityStore{"identitystore", "identitystore", "AWSIdentityStore",
                                        "Identity Store"};
// Global: us-east-1 endpoint and signing region in the aws partition.
inline constexpr Service kOrganizations{"organizations", "organizations",
                                        "AWSOrganizationsV20161128", "Organizations"};

// What the caller can do about a failed call. Classified by the error's
// type name (HTTP statuses of JSON-protocol errors are unreliable: AWS
// answers Throttling and Conflict with 400).
enum class ErrorKind {
  kThrottling,     // ThrottlingException, TooManyRequestsException: back off, retry
  kConflict,       // ConflictException: a previous write is propagating; retry later
  kAccessDenied,   // AccessDeniedException, AccessDenied (IAM): not retryable
  kNotFound,       // ResourceNotFoundException
  kValidation,     // ValidationException and other client errors: not retryable
  kQuotaExceeded,  // ServiceQuotaExceededException: not retryable
  kAuthFailure,    // wrong or expired credentials (UnrecognizedClientException,
                   // InvalidClientTokenId, SignatureDoesNotMatch, ExpiredToken...)
  kClockSkew,      // RequestTimeTooSkewed, Signature expired (InvalidSignatureException
                   // whose message says the signature expired or is not yet current)
  kServer,         // InternalServerException, any 5xx: retryable
  kTransport,      // no answer (connection, timeout, cancelled): retryable
};
const char* ErrorKindName(ErrorKind kind);  // "throttling", "conflict", ...
// Throttling, Conflict, Server and Transport.
bool IsRetryable(ErrorKind kind);

// "aws.protocol#ThrottlingException:http://internal.amazon.com/" ->
// "ThrottlingException": strips a namespace before '#' and a ':...' suffix.
std::string SanitizeErrorType(std::string_view raw);
// By type name first; only an unknown type falls back to the HTTP status
// (5xx -> kServer, 429 -> kThrottling, 403 -> kAccessDenied, else kValidation).
ErrorKind ClassifyError(std::string_view sanitized_type, std::string_view message,
                        long http_status);

struct Error {
  ErrorKind kind = ErrorKind::kTransport;
  std::string type{};     // sanitized ("ThrottlingException"); "" for transport
  std::string message{};  // AWS's message, or the transport's
  long http_status = 0;
  std::string operation{};   // "SSO Admin CreateAccountAssignment"
  std::string request_id{};  // x-amzn-requestid, when AWS sent one
  // "SSO Admin CreateAccountAssignment: ThrottlingException: Rate exceeded
  // (request 1234-...)".
  std::string ToString() const;
  // PermissionDenied for kAccessDenied/kAuthFailure, Unavailable for the
  // retryable kinds, NotFound, InvalidArgument otherwise.
  Status ToStatus() const;
};

// The answer of a call: the output object, or why there is none.
class CallResult {
 public:
  // An error ("result never set"), so that a CallResult can travel through
  // Asio completion handlers (co_spawn with use_future), as Result<T> does.
  CallResult() : value_(Error{.message = "result never set"}) {}
  CallResult(boost::json::object output) : value_(std::move(output)) {}  // NOLINT
  CallResult(Error error) : value_(std::move(error)) {}                  // NOLINT
  bool ok() const { return std::holds_alternative<boost::json::object>(value_); }
  // Preconditions: ok().
  const boost::json::object& output() const { return std::get<boost::json::object>(value_); }
  boost::json::object& output() { return std::get<boost::json::object>(value_); }
  // Preconditions: !ok().
  const Error& error() const { return std::get<Error>(value_); }

 private:
  std::variant<boost::json::object, Error> value_;
};

struct RetryOptions {
  int max_attempts = 8;  // in all, the first included
  std::chrono::milliseconds base{500};
  std::chrono::milliseconds cap{20000};
  bool retry_conflict = true;  // ConflictException is retryable for writes
};

struct ClientOptions {
  std::string region;        // required: the Identity Center instance's home region
  std::string endpoint_url;  // "" = https://PREFIX.REGION.amazonaws.com; else every
                             // service at this URL (a VPC endpoint, the test peer)
  double rate_limit = 10;    // calls per second through this client, all services; 0 = no limit
  std::chrono::milliseconds timeout{30000};  // per request
};

// One per event loop; calls may overlap. Not thread-safe.
class Client {
 public:
  // `http` and `credentials` must outlive the client.
  Client(boost::asio::any_io_executor executor, http::Client& http, CredentialProvider& credentials,
         ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One call, waiting for a token of the bucket first. POSTs `input` as
  // application/x-amz-json-1.1 with X-Amz-Target SERVICE.OPERATION. On a
  // clock-skew error, learns the offset from the answer's Date header and
  // retries once with the corrected clock (and logs the skew once). On an
  // auth failure with temporary credentials, invalidates them and retries
  // once. Nothing else is retried here.
  boost::asio::awaitable<CallResult> Call(const Service& service, std::string_view operation,
                                          const boost::json::object& input);

  // Call, retrying retryable errors (IsRetryable; Conflict only when
  // options.retry_conflict) with full-jitter backoff up to max_attempts.
  // A throttled answer also pauses the bucket for the backoff delay.
  boost::asio::awaitable<CallResult> CallRetrying(const Service& service,
                                                  std::string_view operation,
                                                  const boost::json::object& input,
                                                  RetryOptions options = {});

  // Every page of a paginated list call: sends `input` with NextToken until
  // the answer has none, appending each page's `list_key` array. Each page
  // goes through CallRetrying: a page that still fails fails the whole list
  // (a list is complete or it is an error; never a silent partial).
  boost::asio::awaitable<Result<boost::json::array>> ListAll(const Service& service,
                                                             std::string_view operation,
                                                             boost::json::object input,
                                                             std::string_view list_key,
                                                             RetryOptions options = {});

  // The clock offset applied to signatures (server minus local), learned
  // from a skew error; zero until then.
  std::chrono::milliseconds clock_offset() const;

  // Counters since construction, for reports and benchmarks.
  struct Stats {
    int64_t calls = 0;      // requests sent (retries included)
    int64_t throttled = 0;  // answers classified kThrottling
    int64_t conflicts = 0;  // answers classified kConflict
    int64_t retries = 0;
  };
  const Stats& stats() const;

  // Called with each throttled answer (the applier halves its concurrency).
  void OnThrottle(std::function<void()> callback);

  // For tests: the wall clock (before the offset) and the randomness of the
  // backoff.
  void SetClockForTesting(std::function<std::chrono::system_clock::time_point()> now);
  void SetRandomForTesting(std::function<double()> unit);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace syncd::aws

#endif  // SYNCD_AWS_CLIENT_H_
