#include "syncd/output.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

#include "tests/unit/test_util.h"

namespace syncd {
namespace {

namespace json = boost::json;

// The dry run's JSON is written one operation at a time: it must still be
// one valid document, with every part in its place.
TEST(PlanJsonTest, StreamedPlanIsOneDocumentWithEveryPart) {
  SyncObject alice = testing::Obj(ObjectKind::kUser, "1", "alice");
  SyncObject staff = testing::Obj(ObjectKind::kGroup, "2", "Staff \"quoted\"\n");
  Plan plan;
  plan.operations = {testing::MakeOp(OpType::kCreate, alice),
                     testing::MemberOp(OpType::kAddMember, staff, alice)};
  plan.held = {{testing::MakeOp(OpType::kDelete, staff), "over the deletion budget"}};
  plan.read_complete = false;
  plan.incomplete_reason = "a search failed";
  plan.run_kind = "full";
  plan.run_reason = "no watermark yet";
  std::ostringstream out;
  ASSERT_TRUE(PrintPlanJson(out, plan).ok());
  const std::string text = out.str();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  json::error_code ec;
  json::value doc = json::parse(text, ec);
  ASSERT_FALSE(ec) << text;
  const json::object& root = doc.as_object();
  ASSERT_EQ(root.at("operations").as_array().size(), 2u);
  EXPECT_EQ(root.at("operations").as_array()[0].at("op").as_string(), "create");
  EXPECT_EQ(root.at("operations").as_array()[1].at("member").at("name").as_string(), "alice");
  EXPECT_EQ(root.at("operations").as_array()[1].at("name").as_string(), "Staff \"quoted\"\n");
  ASSERT_EQ(root.at("held").as_array().size(), 1u);
  EXPECT_EQ(root.at("held").as_array()[0].at("reason").as_string(), "over the deletion budget");
  EXPECT_TRUE(root.at("quarantined").as_array().empty());
  EXPECT_EQ(root.at("summary").at("user").at("create").as_int64(), 1);
  EXPECT_EQ(root.at("readComplete").as_bool(), false);
  EXPECT_EQ(root.at("kind").as_string(), "full");
  EXPECT_EQ(root.at("reason").as_string(), "no watermark yet");
  EXPECT_EQ(root.at("incompleteReason").as_string(), "a search failed");

  std::ostringstream empty;
  ASSERT_TRUE(PrintPlanJson(empty, Plan{}).ok());
  EXPECT_EQ(json::parse(empty.str()).at("operations").as_array().size(), 0u);
}

}  // namespace
}  // namespace syncd
