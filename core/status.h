// Status and Result<T>: errors as values at module boundaries.
//
// A Status is either ok or carries a code and a message a person can act on
// ("ldaps://dc1:636: certificate verify failed (CA file /etc/..)"). Result<T>
// holds either a T or a non-ok Status. Neither throws.
#ifndef SYNCD_CORE_STATUS_H_
#define SYNCD_CORE_STATUS_H_

#include <optional>
#include <string>
#include <utility>

namespace syncd {

class Status {
 public:
  enum class Code {
    kOk,
    kInvalidArgument,  // bad config or input; retrying will not help
    kNotFound,
    kUnavailable,       // a server could not be reached; retrying may help
    kPermissionDenied,  // authentication or authorisation refused
    kDataLoss,          // a read was incomplete or data was inconsistent
    kConflict,          // the target holds an object syncd does not own
    kInternal,
  };

  Status() = default;  // ok

  static Status Ok() { return {}; }
  static Status InvalidArgument(std::string msg) {
    return {Code::kInvalidArgument, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
  static Status PermissionDenied(std::string msg) {
    return {Code::kPermissionDenied, std::move(msg)};
  }
  static Status DataLoss(std::string msg) { return {Code::kDataLoss, std::move(msg)}; }
  static Status Conflict(std::string msg) { return {Code::kConflict, std::move(msg)}; }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes the message with where the error happened ("config line 3: ...").
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return {code_, context + ": " + message_};
  }

  std::string ToString() const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}

  Code code_ = Code::kOk;
  std::string message_;
};

// Result<T> holds a value or a non-ok Status. Default-constructed it holds an
// internal error, so that it can travel through Asio completion handlers.
template <typename T>
class Result {
 public:
  Result() : status_(Status::Internal("result never set")) {}
  Result(T value) : value_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // Preconditions: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace syncd

#endif  // SYNCD_CORE_STATUS_H_
