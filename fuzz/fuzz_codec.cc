// The objectGUID / objectSid codecs and the Extended-DN parser
// (ldap/codec.h) on any bytes, as a DC or an operator could send them. Each
// successful decode must encode back to what it came from.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "ldap/codec.h"

using namespace syncd::ldap;  // NOLINT(google-build-using-namespace)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = syncd::fuzz::AsText(data, size);

  // Raw binary, as read from the wire.
  if (std::optional<std::string> guid = GuidToString(input)) {
    SYNCD_FUZZ_CHECK(GuidFromString(*guid) == std::string(input));
  }
  if (std::optional<std::string> sid = SidToString(input)) {
    SYNCD_FUZZ_CHECK(SidFromString(*sid) == std::string(input));
    (void)SidRid(input);  // nullopt for a SID without sub-authorities
  }
  // Text, as in a configuration, an export file or a filter.
  if (std::optional<std::string> raw = GuidFromString(input)) {
    SYNCD_FUZZ_CHECK(raw->size() == 16 && GuidToString(*raw).has_value());
  }
  if (std::optional<std::string> raw = SidFromString(input)) {
    SYNCD_FUZZ_CHECK(SidToString(*raw).has_value());
  }
  (void)SidWithRid(input, 1104);

  // A DN-valued attribute read with the Extended-DN control.
  ExtendedDn extended = ParseExtendedDn(input);
  SYNCD_FUZZ_CHECK(extended.guid.empty() || extended.guid.size() == 16);
  SYNCD_FUZZ_CHECK(extended.sid.empty() || SidToString(extended.sid).has_value());
  (void)NormalizeDn(extended.dn);
  (void)DnIsWithin(extended.dn, input);

  SYNCD_FUZZ_CHECK(EscapeFilterBytes(input).size() == 3 * input.size());
  (void)EscapeFilterValue(input);
  (void)IsValidUtf8(input);
  return 0;
}
