#include "core/model.h"

#include <array>
#include <utility>

namespace syncd {
namespace {

constexpr std::array<std::pair<OpType, const char*>, 5> kOpNames = {{
    {OpType::kCreate, "create"},
    {OpType::kUpdate, "update"},
    {OpType::kDelete, "delete"},
    {OpType::kAddMember, "add-member"},
    {OpType::kRemoveMember, "remove-member"},
}};

}  // namespace

const char* KindName(ObjectKind kind) { return kind == ObjectKind::kUser ? "user" : "group"; }

std::optional<ObjectKind> ParseKind(const std::string& name) {
  if (name == "user") return ObjectKind::kUser;
  if (name == "group") return ObjectKind::kGroup;
  return std::nullopt;
}

const char* OpName(OpType op) {
  for (const auto& [type, name] : kOpNames) {
    if (type == op) return name;
  }
  return "?";
}

std::optional<OpType> ParseOp(const std::string& name) {
  for (const auto& [type, op_name] : kOpNames) {
    if (name == op_name) return type;
  }
  return std::nullopt;
}

}  // namespace syncd
