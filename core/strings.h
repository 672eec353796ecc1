// Small string helpers shared across modules.
#ifndef SYNCD_CORE_STRINGS_H_
#define SYNCD_CORE_STRINGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace syncd {

// ASCII lower case; other bytes (UTF-8 included) pass through unchanged.
// LDAP attribute descriptions compare case-insensitively this way.
std::string AsciiLower(std::string_view text);

// `text` made safe to print on a terminal or a log line: valid UTF-8 that
// prints passes unchanged; every control character (C0, DEL, C1), Unicode
// line and paragraph separators and bidirectional overrides, and every byte
// of invalid UTF-8 are shown escaped: "\n", "\r", "\t", "\x1b", "\u202e".
// For directory text (names, DNs, attribute values) in human output: it can
// neither move the cursor, retitle the window nor fake a line of its own.
// A backslash is left alone (DNs escape with it); the result is for reading,
// not for parsing back.
std::string TerminalSafe(std::string_view text);

// The current time in unix seconds.
int64_t UnixNow();

// Unix seconds as "2026-11-22T10:30:00Z"; "never" for 0 or less.
std::string UtcTimestamp(int64_t unix_seconds);
// The inverse, for exactly that form and a time after the epoch; nullopt for
// anything else.
std::optional<int64_t> ParseUtcTimestamp(std::string_view text);

// A digest of a list of fields that is stable across builds and machines
// (unlike std::hash): FNV-1a, 64 bits, over each field length-prefixed, so
// no two lists run together the same way. For fingerprints that are stored.
class StableDigest {
 public:
  StableDigest& Add(std::string_view field);
  // 16 lower-case hex digits.
  std::string Hex() const;

 private:
  void Mix(std::string_view bytes);
  uint64_t hash_ = 14695981039346656037ULL;
};

// Appends `text` to *out as a JSON string, quoted. Bytes pass through
// unchanged (values from a directory need not be UTF-8); only what JSON
// requires is escaped: the quote, the backslash, control characters.
void AppendJsonString(std::string* out, std::string_view text);

// Lower-case hex of every byte, and back (either case). nullopt on odd
// length or a non-hex character.
std::string HexEncode(std::string_view bytes);
std::optional<std::string> HexDecode(std::string_view hex);
// 0-15 for a hex digit, -1 otherwise.
int HexDigitValue(char c);

}  // namespace syncd

#endif  // SYNCD_CORE_STRINGS_H_
