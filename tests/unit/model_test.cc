#include "core/model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <thread>
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

// A large directory has more memberships than objects: two raw GUIDs and
// nothing else (no padding, no allocation).
TEST(Membership, IsTwoRawGuidsInPlace) {
  EXPECT_GE(GuidBytes::kCapacity, 16U) << "a raw objectGUID must fit";
  EXPECT_LE(sizeof(Membership), 34U);
}

TEST(Membership, ComparesByGroupThenMember) {
  const Membership a{RawGuid(1, 0), RawGuid(9, 0)};
  const Membership b{RawGuid(2, 0), RawGuid(0, 0)};
  const Membership c{RawGuid(2, 0), RawGuid(1, 0)};
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(c, (Membership{RawGuid(2, 0), RawGuid(1, 0)}));
}

TEST(Box, AnEmptyBoxReadsAsTheEmptyValueWithoutMakingOne) {
  const Box<SourceDetails> box;
  EXPECT_EQ(*box, SourceDetails{});
  EXPECT_TRUE(box->dn.empty());
  EXPECT_FALSE(box.allocated()) << "reading made a value";
  EXPECT_EQ(box, Box<SourceDetails>()) << "two empty boxes";
}

TEST(Box, CopiesAreValuesNotShares) {
  Box<SourceDetails> a;
  a.Mutable().sid_history = {"old-sid"};
  Box<SourceDetails> b = a;
  b.Mutable().sid_history.push_back("older-sid");
  EXPECT_EQ(a->sid_history, std::vector<std::string>{"old-sid"}) << "the copy changed its source";
  EXPECT_EQ(b->sid_history.size(), 2U);
  EXPECT_NE(a, b);
  a = b;
  EXPECT_EQ(a, b);
  Box<SourceDetails> made;
  made.Mutable();
  EXPECT_TRUE(made.allocated());
  EXPECT_EQ(made, Box<SourceDetails>()) << "a box holding T{} reads as an empty one";
}

// A full plan of a large directory holds most objects as twins: what
// names them and nothing of the source, so that each costs a fraction of an
// image (issue 13's memory goal).
TEST(TwinOf, HoldsTheIdentityAndNoSourceDetails) {
  SyncObject o;
  o.guid = RawGuid(1, 2);
  o.kind = ObjectKind::kGroup;
  o.external_id = "01000000-0000-0000-0000-000000000002";
  o.name = "Finance";
  o.attributes["displayName"] = "Finance";
  SourceDetails& details = o.source.Mutable();
  details.dn = "CN=Finance,OU=Groups,DC=corp,DC=example,DC=com";
  details.sid = "S-1-5-21-1-2-3-1104";
  details.sam_account_name = "finance";
  const ObjectRef twin = TwinOf(o);
  EXPECT_EQ(twin->guid, o.guid);
  EXPECT_EQ(twin->kind, o.kind);
  EXPECT_EQ(twin->external_id, o.external_id);
  EXPECT_EQ(twin->name, o.name);
  EXPECT_TRUE(twin->attributes.empty());
  EXPECT_FALSE(twin->source.allocated()) << "a twin carries the source's details";
  EXPECT_LT(sizeof(SyncObject), 200U) << "what every twin costs before its strings";
}

// A full plan of 100,000 users holds about 330,000 operations, two thirds of
// them memberships: the changes an update carries are boxed so that the
// others do not pay for an empty vector.
TEST(Operation, ANonUpdateCarriesNoChangesAndCostsAFewPointers) {
  const Operation add{
      OpType::kAddMember, ObjectKind::kGroup, TwinOf(SyncObject{}), {}, TwinOf(SyncObject{})};
  EXPECT_TRUE(add.changes->empty());
  EXPECT_FALSE(add.changes.allocated());
  EXPECT_LE(sizeof(Operation), 32U) << "two kinds, two ObjectRefs and a box";
}

TEST(ObjectRef, CopiesShareOneObjectThatTheLastOneFrees) {
  SyncObject alice;
  alice.name = "alice";
  ObjectRef first = MakeObjectRef(alice);
  EXPECT_EQ(sizeof(ObjectRef), sizeof(void*));
  EXPECT_EQ(first.use_count(), 1U);
  ObjectRef second = first;
  EXPECT_EQ(second.get(), first.get());
  EXPECT_EQ(second, first);
  EXPECT_EQ(first.use_count(), 2U);
  ObjectRef moved = std::move(second);
  EXPECT_TRUE(second == nullptr);  // NOLINT(bugprone-use-after-move): moved from is empty
  EXPECT_EQ(first.use_count(), 2U);
  first.reset();
  EXPECT_FALSE(first);
  EXPECT_EQ(moved.use_count(), 1U);
  EXPECT_EQ(moved->name, "alice");
  EXPECT_NE(MakeObjectRef(alice), moved) << "equal images, two objects";
}

// The early apply's writers drop their copies on their own threads while
// the read makes more: the count must not lose an update (ASan and TSan
// builds catch a premature free here).
TEST(ObjectRef, CopiesMadeAndDroppedOnManyThreadsFreeTheObjectOnce) {
  const ObjectRef shared = MakeObjectRef(SyncObject{});
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&shared] {
      for (int i = 0; i < 10000; ++i) {
        ObjectRef copy = shared;
        ASSERT_TRUE(copy);
        copy.reset();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(shared.use_count(), 1U);
}

}  // namespace
}  // namespace syncd
