#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>

#include "ldap/entry.h"
#include "tests/unit/test_util.h"

namespace syncd::ldap {
namespace {

Entry EntryFromJson(const std::string& dn, const boost::json::object& attributes) {
  Entry entry;
  entry.dn = dn;
  for (const auto& [name, values] : attributes) {
    auto& out = entry.attributes[std::string(name)];
    for (const auto& v : values.as_array()) out.emplace_back(v.as_string());
  }
  return entry;
}

TEST(RangeDescription, Parses) {
  auto r = ParseRangeDescription("member;range=0-1499");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->attribute, "member");
  EXPECT_EQ(r->low, 0u);
  EXPECT_EQ(r->high, 1499u);
  auto last = ParseRangeDescription("Member;Range=1500-*");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->low, 1500u);
  EXPECT_FALSE(last->high);
  EXPECT_FALSE(ParseRangeDescription("member"));
  EXPECT_FALSE(ParseRangeDescription("member;range=5-1"));
  EXPECT_FALSE(ParseRangeDescription("member;range=a-*"));
}

TEST(RangedValues, FirstRequestHonoursStep) {
  EXPECT_EQ(RangedValues("member", 0).FirstRequest(), "member");
  EXPECT_EQ(RangedValues("member", 100).FirstRequest(), "member;range=0-99");
}

// Replays the recorded responses of a DC that truncated `member`.
TEST(RangedValues, ServerTruncatedMemberIsReadToTheEnd) {
  auto recording = boost::json::parse(testing::ReadTestData("range_truncated_ad.json")).as_object();
  const std::string dn(recording["group"].as_string());
  const auto& responses = recording["responses"].as_array();
  Entry entry = EntryFromJson(dn, responses[0].as_object().at("attributes").as_object());

  std::vector<std::string> requests;
  RangeFetch fetch = [&](const std::string& base,
                         const std::string& description) -> boost::asio::awaitable<Result<Entry>> {
    EXPECT_EQ(base, dn);
    requests.push_back(description);
    const auto& r = responses.at(requests.size()).as_object();
    EXPECT_EQ(description, std::string(r.at("request").as_string()));
    co_return EntryFromJson(dn, r.at("attributes").as_object());
  };
  Status st = testing::RunAwaitable(CompleteRangedAttribute(entry, "member", 0, fetch));
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(requests.size(), 2u);
  ASSERT_NE(entry.Find("member"), nullptr);
  EXPECT_EQ(entry.Find("member")->size(), 7u);
  EXPECT_EQ(entry.Find("member")->back(), "CN=u6,OU=People,DC=corp,DC=example,DC=com");
  EXPECT_EQ(entry.attributes.size(), 1u) << "ranged descriptions must be folded away";
}

TEST(RangedValues, GapBetweenWindowsIsDataLoss) {
  Entry first;
  first.dn = "CN=g";
  first.attributes["member;range=0-1"] = {"a", "b"};
  RangeFetch fetch = [](const std::string&,
                        const std::string&) -> boost::asio::awaitable<Result<Entry>> {
    Entry skipped;
    skipped.dn = "CN=g";
    skipped.attributes["member;range=5-*"] = {"f"};
    co_return skipped;
  };
  Status st = testing::RunAwaitable(CompleteRangedAttribute(first, "member", 2, fetch));
  EXPECT_EQ(st.code(), Status::Code::kDataLoss);
}

// Found by fuzz_range: a window ending at 2^64 - 1 made the next request
// start again at 0: a DC answering that way kept syncd re-reading the same
// values forever.
TEST(RangedValues, WindowThatWouldRestartTheReadIsDataLoss) {
  auto window = [](const std::string& description) {
    Entry entry;
    entry.dn = "CN=g";
    entry.attributes[description] = {"a"};
    return entry;
  };
  RangedValues wrapping("member", 2);
  EXPECT_EQ(wrapping.Absorb(window("member;range=0-18446744073709551615")).code(),
            Status::Code::kDataLoss);
  // Found by fuzz_range too: a window ending just below 2^64 - 1 made the
  // next request's end wrap around below its start ("range=2^64-1-75").
  // It asks for the rest instead.
  RangedValues near_the_end("member", 77);
  ASSERT_TRUE(near_the_end.Absorb(window("member;range=0-18446744073709551614")).ok());
  auto next = ParseRangeDescription(near_the_end.NextRequest());
  ASSERT_TRUE(next) << near_the_end.NextRequest();
  EXPECT_EQ(next->low, UINT64_MAX);
  EXPECT_FALSE(next->high);
  RangedValues one_value("member", 2);
  EXPECT_TRUE(one_value.Absorb(window("member;range=0-0")).ok());
  EXPECT_TRUE(one_value.Absorb(window("member;range=1-*")).ok());
  EXPECT_TRUE(one_value.complete());
}

TEST(RangedValues, FetchErrorPropagates) {
  Entry first;
  first.dn = "CN=g";
  first.attributes["member;range=0-1"] = {"a", "b"};
  RangeFetch fetch = [](const std::string&,
                        const std::string&) -> boost::asio::awaitable<Result<Entry>> {
    co_return Status::Unavailable("connection lost");
  };
  Status st = testing::RunAwaitable(CompleteRangedAttribute(first, "member", 2, fetch));
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
}

TEST(RangedValues, SingleCompleteWindowFoldsToPlainAttribute) {
  Entry entry;
  entry.dn = "CN=g";
  entry.attributes["member;range=0-*"] = {"a"};
  RangeFetch never = [](const std::string&,
                        const std::string&) -> boost::asio::awaitable<Result<Entry>> {
    ADD_FAILURE() << "no further window should be read";
    co_return Status::Internal("unexpected");
  };
  ASSERT_TRUE(testing::RunAwaitable(CompleteRangedAttribute(entry, "member", 100, never)).ok());
  EXPECT_EQ(*entry.Find("member"), std::vector<std::string>{"a"});
}

// The streaming read folds what needs no further read as the entry arrives,
// and leaves the rest to CompleteRangedAttribute.
TEST(RangedValues, FirstWindowFoldsOnlyWhenItIsTheLast) {
  Entry last;
  last.dn = "CN=g";
  last.attributes["member;range=0-*"] = {"a"};
  last.attributes["member"] = {};
  ASSERT_TRUE(FoldFirstWindow(last, "member", 100));
  EXPECT_EQ(*last.Find("member"), std::vector<std::string>{"a"});
  EXPECT_EQ(last.attributes.size(), 1u);

  Entry plain;
  plain.attributes["member"] = {"a", "b"};
  ASSERT_TRUE(FoldFirstWindow(plain, "member", 100));
  EXPECT_EQ(plain.Find("member")->size(), 2u);

  Entry none;
  ASSERT_TRUE(FoldFirstWindow(none, "member", 100));
  EXPECT_TRUE(none.Find("member")->empty());

  Entry more;
  more.attributes["member;range=0-1"] = {"a", "b"};
  EXPECT_FALSE(FoldFirstWindow(more, "member", 2));
  EXPECT_EQ(more.Find("member;range=0-1")->size(), 2u) << "left for range retrieval";

  Entry gap;
  gap.attributes["member;range=5-*"] = {"a"};
  EXPECT_FALSE(FoldFirstWindow(gap, "member", 2)) << "CompleteRangedAttribute reports it";
}

TEST(RangedValues, ExplicitStepWalksWindows) {
  Entry entry;
  entry.dn = "CN=g";
  entry.attributes["member;range=0-1"] = {"a", "b"};
  std::vector<std::string> requests;
  RangeFetch fetch = [&](const std::string&,
                         const std::string& description) -> boost::asio::awaitable<Result<Entry>> {
    requests.push_back(description);
    Entry window;
    window.dn = "CN=g";
    if (description == "member;range=2-3") window.attributes["member;range=2-3"] = {"c", "d"};
    if (description == "member;range=4-5") window.attributes["member;range=4-*"] = {"e"};
    co_return window;
  };
  ASSERT_TRUE(testing::RunAwaitable(CompleteRangedAttribute(entry, "member", 2, fetch)).ok());
  EXPECT_EQ(requests, (std::vector<std::string>{"member;range=2-3", "member;range=4-5"}));
  EXPECT_EQ(entry.Find("member")->size(), 5u);
}

}  // namespace
}  // namespace syncd::ldap
