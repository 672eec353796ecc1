#include "core/model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace syncd {
namespace {

// Raw objectGUIDs: 16 bytes, any of them zero or above 0x7f.
std::string RawGuid(unsigned char first, unsigned char last) {
  std::string guid(16, '\0');
  guid.front() = static_cast<char>(first);
  guid.back() = static_cast<char>(last);
  return guid;
}

TEST(GuidBytes, HoldsARawGuidWithItsZeroBytes) {
  const std::string raw = RawGuid(0x00, 0xff);
  const GuidBytes key(raw);
  EXPECT_EQ(key.size(), 16U);
  EXPECT_EQ(key.view(), raw);
  EXPECT_EQ(key.str(), raw);
  EXPECT_TRUE(GuidBytes().empty());
}

// The state loads memberships ORDER BY the BLOBs and the planners merge
// them with the read's: both orders must be the bytes' own, unsigned, as
// std::string's is.
TEST(GuidBytes, OrdersAsTheBytesDoLikeAString) {
  std::vector<std::string> raw = {RawGuid(0x80, 0),
                                  RawGuid(0x01, 0),
                                  RawGuid(0x01, 0xff),
                                  RawGuid(0xff, 0),
                                  RawGuid(0x00, 0x7f),
                                  "short",
                                  ""};
  std::vector<GuidBytes> keys(raw.begin(), raw.end());
  std::sort(raw.begin(), raw.end());
  std::sort(keys.begin(), keys.end());
  ASSERT_EQ(keys.size(), raw.size());
  for (size_t i = 0; i < raw.size(); ++i) EXPECT_EQ(keys[i].view(), raw[i]) << i;
  EXPECT_EQ(GuidBytes(RawGuid(1, 2)), GuidBytes(RawGuid(1, 2)));
  EXPECT_NE(GuidBytes(RawGuid(1, 2)), GuidBytes(RawGuid(1, 3)));
  EXPECT_NE(GuidBytes("ab"), GuidBytes(std::string("ab\0", 3)));
}

TEST(GuidBytes, AKeyLongerThanItsCapacityIsRefused) {
  const std::string longest(GuidBytes::kCapacity, 'x');
  EXPECT_TRUE(GuidBytes::Fits(longest));
  EXPECT_EQ(GuidBytes(longest).view(), longest);
  EXPECT_FALSE(GuidBytes::Fits(longest + "x"));
  EXPECT_THROW(GuidBytes(longest + "x"), std::length_error);
}

TEST(Membership, ComparesByGroupThenMember) {
  const Membership a{RawGuid(1, 0), RawGuid(9, 0)};
  const Membership b{RawGuid(2, 0), RawGuid(0, 0)};
  const Membership c{RawGuid(2, 0), RawGuid(1, 0)};
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(c, (Membership{RawGuid(2, 0), RawGuid(1, 0)}));
}

}  // namespace
}  // namespace syncd
