#include "core/model.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
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

GuidBytes::GuidBytes(std::string_view bytes) {
  if (!Fits(bytes)) {
    throw std::length_error("GuidBytes holds at most " + std::to_string(kCapacity) +
                            " bytes; given " + std::to_string(bytes.size()));
  }
  std::copy(bytes.begin(), bytes.end(), bytes_.begin());
  size_ = static_cast<uint8_t>(bytes.size());
}

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

SyncObject IdentityOf(const SyncObject& o) {
  SyncObject id;
  id.guid = o.guid;
  id.kind = o.kind;
  id.external_id = o.external_id;
  id.name = o.name;
  return id;
}

std::string Fingerprint(const SyncObject& o) {
  StableDigest digest;
  digest.Add(KindName(o.kind)).Add(o.name);
  for (const auto& [name, value] : o.attributes) digest.Add(name).Add(value);
  return digest.Hex();
}

}  // namespace syncd
