#include "syncd/dry_run_creates.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <sstream>

#include "syncd/output.h"
#include "tests/unit/test_util.h"

namespace syncd {
namespace {

SyncObject Person(const std::string& guid, const std::string& name) {
  SyncObject o = testing::U(guid, name);
  o.dn = "CN=" + name + ",OU=People";
  o.sid = "S-" + guid;
  o.attributes = {{"userName", name}, {"displayName", "The \"" + name + "\""}};
  return o;
}

Operation CreateOf(const ObjectRef& o) { return {OpType::kCreate, o->kind, o, {}, nullptr}; }

class DryRunCreatesTest : public ::testing::Test {
 protected:
  std::unique_ptr<DryRunCreates> Begin(bool render, std::vector<std::string> known = {}) {
    auto begun = DryRunCreates::Begin(OnlyCreatable(std::move(known), quarantine_), render);
    EXPECT_TRUE(begun.ok()) << begun.status().ToString();
    return begun.ok() ? std::move(*begun) : nullptr;
  }

  QuarantineView quarantine_;
};

// What only a create can follow becomes a twin, its create's JSON kept
// aside, byte for byte what the image itself prints; what the store or the
// cache holds, or the quarantine holds this image of, stays whole.
TEST_F(DryRunCreatesTest, NewObjectsBecomeTwinsWhoseCreatesPrintAsTheirImagesWould) {
  const ObjectRef alice = MakeObjectRef(Person("1", "alice"));
  const ObjectRef known = MakeObjectRef(Person("2", "bob"));
  SyncObject refused = Person("3", "carol");
  quarantine_ = QuarantineView({{refused.guid, refused.kind, refused.name, refused.external_id,
                                 "refused", 0, Fingerprint(refused)}});
  const ObjectRef carol = MakeObjectRef(refused);
  auto creates = Begin(/*render=*/true, {known->guid});
  ASSERT_TRUE(creates);
  const ObjectRef twin = creates->Offer(alice);
  ASSERT_NE(twin, alice);
  EXPECT_EQ(twin->guid, alice->guid);
  EXPECT_EQ(twin->external_id, alice->external_id);
  EXPECT_EQ(twin->name, alice->name);
  EXPECT_TRUE(twin->attributes.empty());
  EXPECT_TRUE(twin->dn.empty());
  EXPECT_EQ(creates->Offer(known), known);
  EXPECT_EQ(creates->Offer(carol), carol);
  creates->Finish();
  EXPECT_EQ(creates->twins(), 1u);

  auto rendered = creates->Rendered(twin.get());
  ASSERT_TRUE(rendered.ok()) << rendered.status().ToString();
  ASSERT_TRUE(rendered->has_value());
  EXPECT_EQ(**rendered, OperationJsonText(CreateOf(alice)));
  EXPECT_FALSE(creates->Rendered(known.get())->has_value());

  // The whole document, as a plan holding the twin prints it with them and
  // as one holding the image prints it alone.
  Plan with_twin, with_image;
  with_twin.operations = {CreateOf(twin), CreateOf(known)};
  with_image.operations = {CreateOf(alice), CreateOf(known)};
  std::ostringstream from_twin, from_image;
  ASSERT_TRUE(PrintPlanJson(from_twin, with_twin, creates.get()).ok());
  ASSERT_TRUE(PrintPlanJson(from_image, with_image).ok());
  EXPECT_EQ(from_twin.str(), from_image.str());
}

// A large first sync renders far more than one buffer: what went to the
// file comes back from it, each create in its place.
TEST_F(DryRunCreatesTest, ManyCreatesComeBackFromTheFileEachInItsPlace) {
  auto creates = Begin(/*render=*/true);
  ASSERT_TRUE(creates);
  std::vector<ObjectRef> images, twins;
  for (int i = 0; i < 3000; ++i) {
    images.push_back(MakeObjectRef(Person(std::to_string(i), "user" + std::to_string(i))));
    twins.push_back(creates->Offer(images.back()));
  }
  creates->Finish();
  for (size_t i = 0; i < images.size(); i += 7) {
    auto rendered = creates->Rendered(twins[i].get());
    ASSERT_TRUE(rendered.ok() && rendered->has_value()) << i;
    EXPECT_EQ(**rendered, OperationJsonText(CreateOf(images[i]))) << i;
  }
}

// The text plan names a create by its identity alone: nothing is rendered,
// and no file is needed.
TEST_F(DryRunCreatesTest, WithoutJsonTwinsAreKeptAndNothingIsRendered) {
  auto creates = Begin(/*render=*/false);
  ASSERT_TRUE(creates);
  const ObjectRef alice = MakeObjectRef(Person("1", "alice"));
  const ObjectRef twin = creates->Offer(alice);
  ASSERT_NE(twin, alice);
  creates->Finish();
  EXPECT_EQ(creates->twins(), 1u);
  EXPECT_FALSE(creates->Rendered(twin.get())->has_value());
}

TEST_F(DryRunCreatesTest, ADirectoryWithoutRoomForTheFileIsAnError) {
  auto begun = DryRunCreates::Begin(OnlyCreatable({}, quarantine_), /*render=*/true,
                                    "/nonexistent/syncd-dry-run");
  ASSERT_FALSE(begun.ok());
  EXPECT_NE(begun.status().message().find("/nonexistent/syncd-dry-run"), std::string::npos)
      << begun.status().ToString();
}

// Writing the file fails part way (here: a file size limit, as a full disk
// would): what was rendered stays readable from memory, and every object
// after it is kept whole, so the plan still prints in full.
TEST_F(DryRunCreatesTest, AFailedWriteKeepsWhatWasRenderedAndTheRestWhole) {
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &before), 0);
  auto* previous = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = before;
  small.rlim_cur = rlim_t{100} * 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  auto creates = Begin(/*render=*/true);
  std::vector<ObjectRef> images, kept;
  for (int i = 0; creates && i < 3000; ++i) {
    images.push_back(MakeObjectRef(Person(std::to_string(i), "user" + std::to_string(i))));
    kept.push_back(creates->Offer(images.back()));
  }
  if (creates) creates->Finish();
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &before), 0);
  (void)std::signal(SIGXFSZ, previous);
  ASSERT_TRUE(creates);
  ASSERT_GT(creates->twins(), 0u);
  ASSERT_LT(creates->twins(), images.size()) << "the limit was never reached";
  EXPECT_EQ(kept.back(), images.back()) << "after the failure, objects are kept whole";
  for (size_t i = 0; i < images.size(); ++i) {
    if (kept[i] == images[i]) continue;
    auto rendered = creates->Rendered(kept[i].get());
    ASSERT_TRUE(rendered.ok() && rendered->has_value()) << i;
    ASSERT_EQ(**rendered, OperationJsonText(CreateOf(images[i]))) << i;
  }
}

}  // namespace
}  // namespace syncd
