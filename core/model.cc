#include "core/model.h"

#include <array>
#include <cstdint>
#include <string_view>
#include <utility>

#include "core/strings.h"

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

std::string DomainSidOf(std::string_view sid) {
  // Revision 1, a sub-authority count, a 6-byte authority, then 4 bytes each.
  if (sid.size() < 8 || sid[0] != 1) return "";
  const auto count = static_cast<unsigned char>(sid[1]);
  if (count == 0 || sid.size() != 8 + 4 * size_t{count}) return "";
  std::string domain(sid.substr(0, sid.size() - 4));
  domain[1] = static_cast<char>(count - 1);
  return domain;
}

std::string DnsDomainOf(std::string_view dn) {
  std::string domain;
  size_t start = 0;
  for (size_t i = 0; i <= dn.size(); ++i) {
    if (i < dn.size() && dn[i] == '\\') {
      ++i;  // an escaped character never ends a component
      continue;
    }
    if (i < dn.size() && dn[i] != ',') continue;
    std::string_view rdn = dn.substr(start, i - start);
    start = i + 1;
    while (!rdn.empty() && rdn.front() == ' ') rdn.remove_prefix(1);
    if (rdn.size() < 3 || (rdn[0] | 0x20) != 'd' || (rdn[1] | 0x20) != 'c' || rdn[2] != '=') {
      continue;
    }
    if (!domain.empty()) domain += '.';
    domain += AsciiLower(rdn.substr(3));
  }
  return domain;
}

std::string Fingerprint(const SyncObject& o) {
  // FNV-1a over length-prefixed fields: unambiguous, and stable where
  // std::hash is not.
  uint64_t hash = 14695981039346656037ULL;
  auto mix = [&hash](std::string_view text) {
    const std::string length = std::to_string(text.size()) + ":";
    for (std::string_view part : {std::string_view(length), text}) {
      for (unsigned char c : part) {
        hash ^= c;
        hash *= 1099511628211ULL;
      }
    }
  };
  mix(KindName(o.kind));
  mix(o.name);
  for (const auto& [name, value] : o.attributes) {
    mix(name);
    mix(value);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kHex[hash & 0xf];
    hash >>= 4;
  }
  return out;
}

}  // namespace syncd
