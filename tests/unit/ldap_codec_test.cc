#include "ldap/codec.h"

#include <gtest/gtest.h>

namespace syncd::ldap {
namespace {

// objectGUID bytes as AD returns them for {2d2dc73b-...}: the first three
// fields are little-endian.
const std::string kGuidRaw("\x3b\xc7\x2d\x2d\x0a\x4e\x1f\x44\x8a\x12\x9c\x05\x6f\x11\x22\x33", 16);
const char kGuidText[] = "2d2dc73b-4e0a-441f-8a12-9c056f112233";

TEST(GuidCodec, RawToDashedStringUsesLittleEndianFirstFields) {
  EXPECT_EQ(GuidToString(kGuidRaw), kGuidText);
}

TEST(GuidCodec, StringRoundTripsToRaw) {
  EXPECT_EQ(GuidFromString(kGuidText), kGuidRaw);
  EXPECT_EQ(GuidFromString("{2D2DC73B-4E0A-441F-8A12-9C056F112233}"), kGuidRaw);
}

TEST(GuidCodec, RejectsMalformed) {
  EXPECT_FALSE(GuidToString("short"));
  EXPECT_FALSE(GuidFromString("2d2dc73b-4e0a-441f-8a12-9c056f11223"));
  EXPECT_FALSE(GuidFromString("2d2dc73b-4e0a-441f-8a12+9c056f112233"));
  EXPECT_FALSE(GuidFromString("zd2dc73b-4e0a-441f-8a12-9c056f112233"));
}

TEST(SidCodec, DomainUserSidRoundTrips) {
  const std::string text = "S-1-5-21-3623811015-3361044348-30300820-1013";
  auto raw = SidFromString(text);
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->size(), 8u + 4 * 5);
  EXPECT_EQ((*raw)[0], 1);
  EXPECT_EQ((*raw)[1], 5);
  EXPECT_EQ(SidToString(*raw), text);
  EXPECT_EQ(SidRid(*raw), 1013u);
}

TEST(SidCodec, SubAuthoritiesAreLittleEndianOnTheWire) {
  // S-1-5-32-544 (BUILTIN\Administrators), as AD stores it.
  const std::string raw("\x01\x02\x00\x00\x00\x00\x00\x05\x20\x00\x00\x00\x20\x02\x00\x00", 16);
  EXPECT_EQ(SidToString(raw), "S-1-5-32-544");
}

TEST(SidCodec, LargeAuthorityUsesHex) {
  auto raw = SidFromString("S-1-0x123456789abc-7");
  ASSERT_TRUE(raw);
  EXPECT_EQ(SidToString(*raw), "S-1-0x123456789abc-7");
}

TEST(SidCodec, PrimaryGroupSidIsDomainSidWithRid) {
  auto user = SidFromString("S-1-5-21-1-2-3-1104");
  ASSERT_TRUE(user);
  EXPECT_EQ(SidToString(*SidWithRid(*user, 513)), "S-1-5-21-1-2-3-513");
}

TEST(SidCodec, RejectsMalformed) {
  EXPECT_FALSE(SidToString(std::string("\x01\x05\x00", 3)));
  EXPECT_FALSE(SidFromString("S-1-5-x"));
  EXPECT_FALSE(SidFromString("X-1-5"));
}

TEST(ExtendedDn, SplitsGuidSidAndDn) {
  auto parsed = ParseExtendedDn(std::string("<GUID=") + kGuidText +
                                ">;<SID=S-1-5-21-1-2-3-1104>;CN=José,OU=People,DC=corp");
  EXPECT_EQ(parsed.guid, kGuidRaw);
  EXPECT_EQ(SidToString(parsed.sid), "S-1-5-21-1-2-3-1104");
  EXPECT_EQ(parsed.dn, "CN=José,OU=People,DC=corp");
  EXPECT_TRUE(ParseExtendedDn("CN=plain,DC=x").guid.empty());
  EXPECT_EQ(ParseExtendedDn("CN=plain,DC=x").dn, "CN=plain,DC=x");
}

TEST(Dn, WithinComparesCaseInsensitivelyOnRdnBoundaries) {
  EXPECT_TRUE(DnIsWithin("CN=a,OU=People,DC=corp", "ou=people, dc=CORP"));
  EXPECT_TRUE(DnIsWithin("OU=People,DC=corp", "OU=People,DC=corp"));
  EXPECT_FALSE(DnIsWithin("CN=a,OU=OtherPeople,DC=corp", "OU=People,DC=corp"));
  EXPECT_FALSE(DnIsWithin("CN=a\\,OU=People,DC=corp", "OU=People,DC=corp"));
  // An RDN value ending in an escaped backslash: the comma is a separator.
  EXPECT_TRUE(DnIsWithin("CN=a\\\\,OU=People,DC=corp", "OU=People,DC=corp"));
}

TEST(Filter, EscapesBytesAndSpecialCharacters) {
  EXPECT_EQ(EscapeFilterBytes(std::string("\x00\xff", 2)), "\\00\\ff");
  EXPECT_EQ(EscapeFilterValue("a*(b)\\"), "a\\2a\\28b\\29\\5c");
}

TEST(Utf8, AcceptsValidRejectsInvalid) {
  EXPECT_TRUE(IsValidUtf8("Zoë Ångström 王小明"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));      // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(IsValidUtf8("caf\xe9"));       // Latin-1
}

}  // namespace
}  // namespace syncd::ldap
