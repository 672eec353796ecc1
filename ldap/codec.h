// objectGUID and objectSid codecs: raw binary as AD stores it <-> the string
// forms AD tools show, plus the Extended-DN form of DN-valued attributes.
#ifndef SYNCD_LDAP_CODEC_H_
#define SYNCD_LDAP_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace syncd::ldap {

// 16 raw bytes -> "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx". The first three
// fields are little-endian on the wire. nullopt unless exactly 16 bytes.
std::optional<std::string> GuidToString(std::string_view raw);
// The inverse; accepts either case, optionally in braces.
std::optional<std::string> GuidFromString(std::string_view text);

// Raw SID ([MS-DTYP] 2.4.2.2) -> "S-1-5-21-...". nullopt if malformed.
std::optional<std::string> SidToString(std::string_view raw);
std::optional<std::string> SidFromString(std::string_view text);
// The last sub-authority (the RID) and the SID without it (the domain SID).
std::optional<uint32_t> SidRid(std::string_view raw);
std::optional<std::string> SidWithRid(std::string_view domain_or_account_sid, uint32_t rid);

// "\hh" escapes of every byte, for matching binary attributes in a filter.
std::string EscapeFilterBytes(std::string_view raw);
// RFC 4515 escaping of a string value in a filter.
std::string EscapeFilterValue(std::string_view value);

// A DN-valued attribute read with the Extended-DN control (flag 1):
// "<GUID=dashed>;<SID=S-1-...>;CN=x,DC=y". Plain DNs parse with empty keys.
struct ExtendedDn {
  std::string guid;  // raw 16 bytes, empty if absent
  std::string sid;   // raw, empty if absent
  std::string dn;
};
ExtendedDn ParseExtendedDn(std::string_view value);

// Case-insensitive DN comparison helpers (AD DNs compare case-insensitively).
std::string NormalizeDn(std::string_view dn);
// True if dn equals base or lies below it.
bool DnIsWithin(std::string_view dn, std::string_view base);

// True if `text` is well-formed UTF-8.
bool IsValidUtf8(std::string_view text);

}  // namespace syncd::ldap

#endif  // SYNCD_LDAP_CODEC_H_
