#include "syncd/rendered_creates.h"

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
  o.source.Mutable().dn = "CN=" + name + ",OU=People";
  o.source.Mutable().sid = "S-" + guid;
  o.attributes = {{"userName", name}, {"displayName", "The \"" + name + "\""}};
  return o;
}

Operation CreateOf(const ObjectRef& o) { return {OpType::kCreate, o->kind, o, {}, nullptr}; }

std::unique_ptr<RenderedCreates> Begin(bool render) {
  auto begun = RenderedCreates::Begin(render);
  EXPECT_TRUE(begun.ok()) << begun.status().ToString();
  return begun.ok() ? std::move(*begun) : nullptr;
}

// A create kept as a twin prints byte for byte as its image would; an
// operation on an object kept whole prints from the object.
TEST(RenderedCreatesTest, TwinsPrintTheirCreatesAsTheirImagesWould) {
  const ObjectRef alice = MakeObjectRef(Person("1", "alice"));
  const ObjectRef known = MakeObjectRef(Person("2", "bob"));
  auto creates = Begin(/*render=*/true);
  ASSERT_TRUE(creates);
  const ObjectRef twin = creates->Keep(alice);
  ASSERT_NE(twin, alice);
  EXPECT_EQ(twin->guid, alice->guid);
  EXPECT_EQ(twin->external_id, alice->external_id);
  EXPECT_EQ(twin->name, alice->name);
  EXPECT_TRUE(twin->attributes.empty());
  EXPECT_TRUE(twin->source->dn.empty());
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
TEST(RenderedCreatesTest, ManyCreatesComeBackFromTheFileEachInItsPlace) {
  auto creates = Begin(/*render=*/true);
  ASSERT_TRUE(creates);
  std::vector<ObjectRef> images, twins;
  for (int i = 0; i < 3000; ++i) {
    images.push_back(MakeObjectRef(Person(std::to_string(i), "user" + std::to_string(i))));
    twins.push_back(creates->Keep(images.back()));
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
TEST(RenderedCreatesTest, WithoutJsonTwinsAreKeptAndNothingIsRendered) {
  auto creates = Begin(/*render=*/false);
  ASSERT_TRUE(creates);
  const ObjectRef alice = MakeObjectRef(Person("1", "alice"));
  const ObjectRef twin = creates->Keep(alice);
  ASSERT_NE(twin, alice);
  creates->Finish();
  EXPECT_EQ(creates->twins(), 1u);
  EXPECT_FALSE(creates->Rendered(twin.get())->has_value());
}

TEST(RenderedCreatesTest, ADirectoryWithoutRoomForTheFileIsAnError) {
  auto begun = RenderedCreates::Begin(/*render=*/true, "/nonexistent/syncd-dry-run");
  ASSERT_FALSE(begun.ok());
  EXPECT_NE(begun.status().message().find("/nonexistent/syncd-dry-run"), std::string::npos)
      << begun.status().ToString();
}

// Writing the file fails part way (here: a file size limit, as a full disk
// would): what was rendered stays readable from memory, and every object
// after it is kept whole, so the plan still prints in full.
TEST(RenderedCreatesTest, AFailedWriteKeepsWhatWasRenderedAndTheRestWhole) {
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
    kept.push_back(creates->Keep(images.back()));
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
