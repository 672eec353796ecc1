#include "core/memory.h"

#include <gtest/gtest.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace syncd {
namespace {

// The bug: a plan's and a reconciliation's "released" containers were
// assigned `{}`, which keeps a vector's buffer and a hash map's buckets.
TEST(ReleaseMemory, FreesTheBufferThatAssigningEmptyBracesKeeps) {
  std::vector<int> assigned(1000);
  assigned = {};
  EXPECT_EQ(assigned.capacity(), 1000U);  // why ReleaseMemory exists

  std::vector<int> released(1000);
  ReleaseMemory(&released);
  EXPECT_TRUE(released.empty());
  EXPECT_EQ(released.capacity(), 0U);
}

TEST(ReleaseMemory, FreesAHashMapsBuckets) {
  std::unordered_map<std::string, int> map;
  for (int i = 0; i < 1000; ++i) map.emplace(std::to_string(i), i);
  const size_t buckets = map.bucket_count();
  map = {};
  EXPECT_EQ(map.bucket_count(), buckets);

  for (int i = 0; i < 1000; ++i) map.emplace(std::to_string(i), i);
  ReleaseMemory(&map);
  EXPECT_TRUE(map.empty());
  EXPECT_LT(map.bucket_count(), buckets);
  map.emplace("again", 1);  // still usable
  EXPECT_EQ(map.at("again"), 1);
}

}  // namespace
}  // namespace syncd
