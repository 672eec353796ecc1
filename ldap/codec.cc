#include "ldap/codec.h"

#include <array>
#include <cctype>
#include <charconv>
#include <vector>

#include "core/strings.h"

namespace syncd::ldap {
namespace {

// Byte order of the dashed GUID string, as indexes into the raw bytes.
constexpr std::array<int, 16> kGuidOrder = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

uint32_t ReadLe32(std::string_view raw, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(raw[at + i]);
  return v;
}

void AppendLe32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool SidWellFormed(std::string_view raw) {
  if (raw.size() < 8 || raw[0] != 1) return false;
  auto count = static_cast<unsigned char>(raw[1]);
  return count <= 15 && raw.size() == 8 + 4 * static_cast<size_t>(count);
}

}  // namespace

std::optional<std::string> GuidToString(std::string_view raw) {
  if (raw.size() != 16) return std::nullopt;
  std::string ordered(16, '\0');
  for (size_t i = 0; i < kGuidOrder.size(); ++i) ordered[i] = raw[kGuidOrder[i]];
  std::string hex = HexEncode(ordered);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

std::optional<std::string> GuidFromString(std::string_view text) {
  if (text.size() == 38 && text.front() == '{' && text.back() == '}') {
    text = text.substr(1, 36);
  }
  if (text.size() != 36) return std::nullopt;
  std::vector<int> bytes;
  for (size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    int hi = HexDigitValue(text[i]);
    int lo = HexDigitValue(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    bytes.push_back(hi * 16 + lo);
    i += 2;
  }
  std::string raw(16, '\0');
  for (size_t i = 0; i < kGuidOrder.size(); ++i) {
    raw[kGuidOrder[i]] = static_cast<char>(bytes[i]);
  }
  return raw;
}

std::optional<std::string> SidToString(std::string_view raw) {
  if (!SidWellFormed(raw)) return std::nullopt;
  uint64_t authority = 0;
  for (int i = 2; i < 8; ++i) authority = (authority << 8) | static_cast<unsigned char>(raw[i]);
  std::string out = "S-1-";
  if (authority < (1ULL << 32)) {
    out += std::to_string(authority);
  } else {
    out += "0x" + HexEncode(raw.substr(2, 6));
  }
  for (size_t at = 8; at < raw.size(); at += 4) out += "-" + std::to_string(ReadLe32(raw, at));
  return out;
}

std::optional<std::string> SidFromString(std::string_view text) {
  if (text.substr(0, 4) != "S-1-" && text.substr(0, 4) != "s-1-") return std::nullopt;
  std::vector<std::string_view> parts;
  size_t start = 4;
  while (true) {
    size_t dash = text.find('-', start);
    parts.push_back(text.substr(start, dash == std::string_view::npos ? dash : dash - start));
    if (dash == std::string_view::npos) break;
    start = dash + 1;
  }
  if (parts.empty() || parts.size() > 16) return std::nullopt;
  uint64_t authority = 0;
  std::string_view auth = parts[0];
  int base = 10;
  if (auth.substr(0, 2) == "0x" || auth.substr(0, 2) == "0X") {
    auth.remove_prefix(2);
    base = 16;
  }
  auto [p, ec] = std::from_chars(auth.data(), auth.data() + auth.size(), authority, base);
  if (ec != std::errc() || p != auth.data() + auth.size() || authority >= (1ULL << 48)) {
    return std::nullopt;
  }
  std::string raw;
  raw.push_back(1);
  raw.push_back(static_cast<char>(parts.size() - 1));
  for (int i = 5; i >= 0; --i) raw.push_back(static_cast<char>((authority >> (8 * i)) & 0xff));
  for (size_t i = 1; i < parts.size(); ++i) {
    uint32_t sub = 0;
    auto [q, ec2] = std::from_chars(parts[i].data(), parts[i].data() + parts[i].size(), sub);
    if (ec2 != std::errc() || q != parts[i].data() + parts[i].size() || parts[i].empty()) {
      return std::nullopt;
    }
    AppendLe32(raw, sub);
  }
  return raw;
}

std::optional<uint32_t> SidRid(std::string_view raw) {
  if (!SidWellFormed(raw) || raw[1] == 0) return std::nullopt;
  return ReadLe32(raw, raw.size() - 4);
}

std::optional<std::string> SidWithRid(std::string_view sid, uint32_t rid) {
  if (!SidWellFormed(sid) || sid[1] == 0) return std::nullopt;
  std::string out(sid.substr(0, sid.size() - 4));
  AppendLe32(out, rid);
  return out;
}

std::string EscapeFilterBytes(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() * 3);
  for (char b : raw) out += "\\" + HexEncode(std::string_view(&b, 1));
  return out;
}

std::string EscapeFilterValue(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '*' || c == '(' || c == ')' || c == '\\' || c == 0) {
      out += "\\" + HexEncode(std::string_view(&c, 1));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

ExtendedDn ParseExtendedDn(std::string_view value) {
  ExtendedDn out;
  while (!value.empty() && value.front() == '<') {
    size_t close = value.find('>');
    if (close == std::string_view::npos) break;
    std::string_view component = value.substr(1, close - 1);
    if (component.substr(0, 5) == "GUID=") {
      out.guid = GuidFromString(component.substr(5)).value_or("");
    } else if (component.substr(0, 4) == "SID=") {
      out.sid = SidFromString(component.substr(4)).value_or("");
    }
    value.remove_prefix(close + 1);
    if (!value.empty() && value.front() == ';') value.remove_prefix(1);
  }
  out.dn = std::string(value);
  return out;
}

std::string NormalizeDn(std::string_view dn) {
  std::string out;
  out.reserve(dn.size());
  bool after_comma = true;
  for (char c : dn) {
    if (after_comma && c == ' ') continue;  // "OU=a, DC=b" == "OU=a,DC=b"
    after_comma = (c == ',');
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

bool DnIsWithin(std::string_view dn, std::string_view base) {
  std::string d = NormalizeDn(dn);
  std::string b = NormalizeDn(base);
  if (d.size() < b.size()) return false;
  if (d.compare(d.size() - b.size(), b.size(), b) != 0) return false;
  if (d.size() == b.size()) return true;
  // The character before the suffix must be an unescaped RDN separator: a
  // comma preceded by an even number of backslashes.
  size_t sep = d.size() - b.size() - 1;
  if (d[sep] != ',') return false;
  size_t backslashes = 0;
  while (backslashes < sep && d[sep - 1 - backslashes] == '\\') ++backslashes;
  return backslashes % 2 == 0;
}

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > text.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace syncd::ldap
