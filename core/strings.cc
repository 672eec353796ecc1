#include "core/strings.h"

#include <chrono>
#include <ctime>

namespace syncd {

std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

void AppendJsonString(std::string* out, std::string_view text) {
  static constexpr char kDigits[] = "0123456789abcdef";
  *out += '"';
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += c;
    } else if (byte < 0x20) {
      *out += "\\u00";
      *out += kDigits[byte >> 4];
      *out += kDigits[byte & 0xf];
    } else {
      *out += c;
    }
  }
  *out += '"';
}

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = HexDigitValue(hex[i]);
    int lo = HexDigitValue(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>((hi << 4) | lo));
  }
  return out;
}

namespace {

// The length of the well-formed UTF-8 sequence at the start of `text` (1-4),
// or 0 when it is not one (a stray continuation byte, a truncated or
// overlong sequence, a surrogate, or past U+10FFFF). *code_point gets it.
size_t Utf8SequenceLength(std::string_view text, uint32_t* code_point) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  uint32_t value = 0, min = 0;
  if (lead < 0x80) {
    *code_point = lead;
    return 1;
  } else if ((lead & 0xe0) == 0xc0) {
    length = 2, value = lead & 0x1f, min = 0x80;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3, value = lead & 0x0f, min = 0x800;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4, value = lead & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    value = (value << 6) | (byte(i) & 0x3f);
  }
  if (value < min || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) return 0;
  *code_point = value;
  return length;
}

// Code points a terminal acts on instead of printing, or that make a line
// read differently from what it holds.
bool IsControl(uint32_t c) {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
         (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

}  // namespace

std::string TerminalSafe(std::string_view text) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  const auto escape_byte = [&out](unsigned char b) {
    out += "\\x";
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  };
  for (size_t i = 0; i < text.size();) {
    uint32_t c = 0;
    const size_t length = Utf8SequenceLength(text.substr(i), &c);
    if (length == 0) {
      escape_byte(static_cast<unsigned char>(text[i]));
      ++i;
      continue;
    }
    if (!IsControl(c)) {
      out.append(text.substr(i, length));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x80) {
      escape_byte(static_cast<unsigned char>(c));
    } else {
      out += "\\u";
      for (int shift = 12; shift >= 0; shift -= 4) out.push_back(kDigits[(c >> shift) & 0xf]);
    }
    i += length;
  }
  return out;
}

std::string UtcTimestamp(int64_t unix_seconds) {
  if (unix_seconds <= 0) return "never";
  std::time_t t = unix_seconds;
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  if (std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc) == 0) return "?";
  return text;
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<int64_t> ParseUtcTimestamp(std::string_view text) {
  const std::string copy(text);
  std::tm utc{};
  const char* end = strptime(copy.c_str(), "%Y-%m-%dT%H:%M:%SZ", &utc);
  if (end == nullptr || *end != '\0' || copy.size() != 20) return std::nullopt;
  const int64_t seconds = timegm(&utc);
  // UtcTimestamp writes no time at or before the epoch ("never").
  if (seconds <= 0) return std::nullopt;
  return seconds;
}

void StableDigest::Mix(std::string_view bytes) {
  for (unsigned char c : bytes) {
    hash_ ^= c;
    hash_ *= 1099511628211ULL;
  }
}

StableDigest& StableDigest::Add(std::string_view field) {
  Mix(std::to_string(field.size()));
  Mix(":");
  Mix(field);
  Mix(";");
  return *this;
}

std::string StableDigest::Hex() const {
  std::string hex(16, '0');
  uint64_t h = hash_;
  for (int i = 15; i >= 0; --i, h >>= 4) hex[static_cast<size_t>(i)] = "0123456789abcdef"[h & 0xf];
  return hex;
}

}  // namespace syncd
