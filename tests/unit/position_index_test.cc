#include "core/position_index.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace syncd {
namespace {

struct NameAt {
  const std::deque<std::string>* names;
  std::string_view operator()(uint32_t i) const { return (*names)[i]; }
};
using NameIndex = PositionIndex<std::string_view, NameAt>;

TEST(PositionIndex, FindsEveryPositionAfterGrowingManyTimes) {
  std::deque<std::string> names;
  NameIndex index{NameAt{&names}};
  EXPECT_FALSE(index.Find("anyone")) << "an empty index";
  for (uint32_t i = 0; i < 5000; ++i) {
    names.push_back("user" + std::to_string(i));
    index.Add(i);
  }
  EXPECT_EQ(index.size(), 5000U);
  for (uint32_t i = 0; i < 5000; ++i) {
    auto found = index.Find("user" + std::to_string(i));
    ASSERT_TRUE(found) << i;
    EXPECT_EQ(*found, i);
  }
  EXPECT_FALSE(index.Find("user5000"));
  EXPECT_FALSE(index.Find(""));
}

// Keys whose hashes all collide still find their own positions: the probe
// compares keys, not hashes.
TEST(PositionIndex, CollidingHashesAreToldApartByTheirKeys) {
  struct Collide {
    size_t operator()(std::string_view) const { return 7; }
  };
  std::deque<std::string> names = {"a", "b", "c", "d", "e"};
  PositionIndex<std::string_view, NameAt, Collide> index{NameAt{&names}};
  for (uint32_t i = 0; i < names.size(); ++i) index.Add(i);
  for (uint32_t i = 0; i < names.size(); ++i) EXPECT_EQ(index.Find(names[i]), i);
  EXPECT_FALSE(index.Find("f"));
}

// A key at two positions (a DN two entries shared during a read): FindIf
// visits both, and Find gives one of them.
TEST(PositionIndex, AKeyAtSeveralPositionsIsFoundAtEach) {
  std::deque<std::string> names = {"x", "y", "x"};
  NameIndex index{NameAt{&names}};
  index.Reserve(names.size());
  for (uint32_t i = 0; i < names.size(); ++i) index.Add(i);
  auto any = index.Find("x");
  ASSERT_TRUE(any);
  EXPECT_TRUE(*any == 0 || *any == 2);
  EXPECT_EQ(index.FindIf("x", [](uint32_t i) { return i == 2; }), 2U);
  EXPECT_EQ(index.FindIf("x", [](uint32_t i) { return i == 0; }), 0U);
  EXPECT_FALSE(index.FindIf("x", [](uint32_t i) { return i == 1; }));
}

}  // namespace
}  // namespace syncd
