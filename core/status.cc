#include "core/status.h"

namespace syncd {

std::string Status::ToString() const {
  if (ok()) return "ok";
  const char* name = "error";
  switch (code_) {
    case Code::kOk:
      break;
    case Code::kInvalidArgument:
      name = "invalid argument";
      break;
    case Code::kNotFound:
      name = "not found";
      break;
    case Code::kUnavailable:
      name = "unavailable";
      break;
    case Code::kPermissionDenied:
      name = "permission denied";
      break;
    case Code::kDataLoss:
      name = "incomplete data";
      break;
    case Code::kConflict:
      name = "conflict";
      break;
    case Code::kInternal:
      name = "internal error";
      break;
  }
  return std::string(name) + ": " + message_;
}

}  // namespace syncd
