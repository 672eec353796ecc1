// DC discovery through DNS SRV records: the parser on recorded wire-format
// packets (tests/data/srv_answers.json, written by srv_answers.py), RFC 2782
// ordering with injected randomness, the site-then-domain merge against a
// scripted resolver, and one query through the system resolver.
#include "ldap/dc_discovery.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/strings.h"
#include "tests/unit/test_util.h"

namespace syncd::ldap {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

constexpr char kDomainQname[] = "_ldap._tcp.dc._msdcs.corp.example.com";
constexpr char kSiteQname[] = "_ldap._tcp.Paris._sites.dc._msdcs.corp.example.com";

// The packet named `name` in srv_answers.json; empty (and a test failure)
// when it is missing.
std::vector<uint8_t> Packet(const std::string& name) {
  static const boost::json::object kPackets = [] {
    boost::json::object packets;
    boost::system::error_code ec;
    boost::json::value document = boost::json::parse(testing::ReadTestData("srv_answers.json"), ec);
    if (!ec && document.is_object()) {
      if (const boost::json::value* p = document.as_object().if_contains("packets")) {
        if (p->is_object()) packets = p->as_object();
      }
    }
    return packets;
  }();
  const boost::json::value* entry = kPackets.if_contains(name);
  if (entry == nullptr || !entry->is_object()) {
    ADD_FAILURE() << "no packet " << name << " in tests/data/srv_answers.json";
    return {};
  }
  std::optional<std::string> bytes = HexDecode(entry->as_object().at("hex").as_string());
  if (!bytes) {
    ADD_FAILURE() << "packet " << name << " is not hex";
    return {};
  }
  return {bytes->begin(), bytes->end()};
}

Result<std::vector<SrvRecord>> Parse(const std::vector<uint8_t>& packet) {
  return ParseSrvAnswer(packet.data(), packet.size());
}

std::vector<std::string> Targets(const std::vector<SrvRecord>& records) {
  std::vector<std::string> targets;
  targets.reserve(records.size());
  for (const SrvRecord& r : records) targets.push_back(r.target);
  return targets;
}

std::vector<std::string> Hosts(const std::vector<DcCandidate>& candidates) {
  std::vector<std::string> hosts;
  hosts.reserve(candidates.size());
  for (const DcCandidate& c : candidates) hosts.push_back(c.host);
  return hosts;
}

UniformRandom Seeded(uint32_t seed) {
  auto generator = std::make_shared<std::mt19937>(seed);
  return [generator](uint32_t bound) {
    return std::uniform_int_distribution<uint32_t>(0, bound - 1)(*generator);
  };
}

SrvRecord Srv(const std::string& target, uint16_t priority, uint16_t weight, uint16_t port = 389) {
  SrvRecord r;
  r.target = target;
  r.priority = priority;
  r.weight = weight;
  r.port = port;
  return r;
}

// --- ParseSrvAnswer on recorded packets -------------------------------------

TEST(ParseSrvAnswerTest, ReadsWindowsDomainAnswerWithCompressedNames) {
  auto records = Parse(Packet("domain"));
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 4u);
  EXPECT_EQ(Targets(*records),
            (std::vector<std::string>{"dc1.corp.example.com", "DC2.corp.example.com",
                                      "dc3.corp.example.com", "dc4.corp.example.com"}));
  const std::vector<std::pair<uint16_t, uint16_t>> priority_weight = {
      {0, 100}, {0, 50}, {0, 0}, {10, 100}};
  for (size_t i = 0; i < records->size(); ++i) {
    EXPECT_EQ((*records)[i].priority, priority_weight[i].first) << i;
    EXPECT_EQ((*records)[i].weight, priority_weight[i].second) << i;
    EXPECT_EQ((*records)[i].port, 389) << i;
    EXPECT_EQ((*records)[i].ttl, 600u) << i;
  }
}

TEST(ParseSrvAnswerTest, UncompressedNamesReadTheSame) {
  auto compressed = Parse(Packet("domain"));
  auto plain = Parse(Packet("domain_uncompressed"));
  ASSERT_TRUE(compressed.ok() && plain.ok());
  EXPECT_GT(Packet("domain_uncompressed").size(), Packet("domain").size());
  EXPECT_EQ(Targets(*plain), Targets(*compressed));
}

TEST(ParseSrvAnswerTest, NxdomainAndNodataAreEmptyAnswers) {
  for (const char* name : {"site_nxdomain", "nodata"}) {
    auto records = Parse(Packet(name));
    ASSERT_TRUE(records.ok()) << name << ": " << records.status().ToString();
    EXPECT_TRUE(records->empty()) << name;
  }
}

TEST(ParseSrvAnswerTest, SkipsRecordsOfOtherTypes) {
  auto records = Parse(Packet("mixed_types"));
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  EXPECT_EQ(Targets(*records),
            (std::vector<std::string>{"dc1.corp.example.com", "dc2.corp.example.com"}));
}

TEST(ParseSrvAnswerTest, KeepsRootTargetForTheCallerToDrop) {
  auto records = Parse(Packet("not_available"));
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  EXPECT_EQ(Targets(*records), std::vector<std::string>{"."});
}

TEST(ParseSrvAnswerTest, TruncatedUdpAnswerYieldsWhatItHolds) {
  auto records = Parse(Packet("tc_partial"));
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  EXPECT_EQ(Targets(*records), std::vector<std::string>{"dc1.corp.example.com"});
}

TEST(ParseSrvAnswerTest, ServerErrorIsUnavailable) {
  auto records = Parse(Packet("servfail"));
  ASSERT_FALSE(records.ok());
  EXPECT_EQ(records.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(records.status().message().find("SERVFAIL"), std::string::npos)
      << records.status().message();
}

TEST(ParseSrvAnswerTest, RefusesDamagedPacketsWithDataLoss) {
  const std::map<std::string, std::string> expected_message = {
      {"cut_mid_record", "run past the end"},           {"cut_header", "shorter than a DNS header"},
      {"query_not_response", "not a response"},         {"pointer_loop", "compression pointer"},
      {"pointer_past_end", "compression pointer"},      {"rdata_short", "needs at least 7"},
      {"target_overruns_rdata", "the record leaves 1"},
  };
  for (const auto& [name, words] : expected_message) {
    auto records = Parse(Packet(name));
    ASSERT_FALSE(records.ok()) << name;
    EXPECT_EQ(records.status().code(), Status::Code::kDataLoss) << name;
    EXPECT_NE(records.status().message().find(words), std::string::npos)
        << name << ": " << records.status().message();
  }
  EXPECT_EQ(ParseSrvAnswer(nullptr, 0).status().code(), Status::Code::kDataLoss);
}

TEST(ParseSrvAnswerTest, EveryTruncationOfAnAnswerIsRefused) {
  const std::vector<uint8_t> packet = Packet("domain");
  ASSERT_FALSE(packet.empty());
  for (size_t size = 0; size < packet.size(); ++size) {
    // A copy of exactly `size` bytes, so that a read past it is a heap
    // overflow the sanitizer build reports.
    const std::vector<uint8_t> prefix(packet.begin(), packet.begin() + size);
    auto records = ParseSrvAnswer(prefix.data(), prefix.size());
    EXPECT_FALSE(records.ok()) << size;
  }
}

TEST(ParseSrvAnswerTest, SurvivesCorruptedBytes) {
  const std::vector<uint8_t> packet = Packet("domain");
  ASSERT_FALSE(packet.empty());
  std::mt19937 generator(7);
  std::uniform_int_distribution<size_t> position(0, packet.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 5000; ++round) {
    std::vector<uint8_t> damaged = packet;
    for (int flips = 0; flips < 3; ++flips) {
      damaged[position(generator)] = static_cast<uint8_t>(byte(generator));
    }
    auto records = ParseSrvAnswer(damaged.data(), damaged.size());
    if (!records.ok()) {
      EXPECT_FALSE(records.status().message().empty());
    }
  }
}

// --- OrderSrvRecords ------------------------------------------------------------

TEST(OrderSrvRecordsTest, LowestPriorityFirst) {
  auto ordered = OrderSrvRecords({Srv("c", 10, 100), Srv("a", 0, 1), Srv("b", 5, 100)}, Seeded(1));
  EXPECT_EQ(Targets(ordered), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(OrderSrvRecordsTest, FollowsTheRunningSumOfRfc2782) {
  // Weight 0 goes to the front: [b(0), a(50), c(50)], running sums 0, 50, 100.
  const std::vector<SrvRecord> records = {Srv("a", 0, 50), Srv("b", 0, 0), Srv("c", 0, 50)};
  auto lowest = OrderSrvRecords(records, [](uint32_t) { return 0u; });
  EXPECT_EQ(Targets(lowest), (std::vector<std::string>{"b", "a", "c"}));
  auto highest = OrderSrvRecords(records, [](uint32_t bound) { return bound - 1; });
  EXPECT_EQ(Targets(highest), (std::vector<std::string>{"c", "a", "b"}));
}

TEST(OrderSrvRecordsTest, HonoursWeightsStatistically) {
  const std::vector<SrvRecord> records = {Srv("heavy", 0, 90), Srv("light", 0, 10),
                                          Srv("backup", 1, 100)};
  UniformRandom random = Seeded(42);
  constexpr int kDraws = 10000;
  int heavy_first = 0;
  for (int i = 0; i < kDraws; ++i) {
    auto ordered = OrderSrvRecords(records, random);
    ASSERT_EQ(ordered.size(), 3u);
    EXPECT_EQ(ordered[2].target, "backup");
    if (ordered[0].target == "heavy") ++heavy_first;
  }
  // 91 of the 101 values in [0, 100] land on "heavy".
  EXPECT_NEAR(static_cast<double>(heavy_first) / kDraws, 0.90, 0.03);
}

TEST(OrderSrvRecordsTest, WeightZeroHasASmallChance) {
  const std::vector<SrvRecord> records = {Srv("normal", 0, 100), Srv("spare", 0, 0)};
  UniformRandom random = Seeded(3);
  constexpr int kDraws = 10000;
  int spare_first = 0;
  for (int i = 0; i < kDraws; ++i) {
    if (OrderSrvRecords(records, random)[0].target == "spare") ++spare_first;
  }
  // 1 in 101 by RFC 2782: rare, but not never.
  EXPECT_GT(spare_first, kDraws * 3 / 1000);
  EXPECT_LT(spare_first, kDraws * 2 / 100);
}

TEST(OrderSrvRecordsTest, AllZeroWeightsAreDrawnUniformly) {
  const std::vector<SrvRecord> records = {Srv("a", 0, 0), Srv("b", 0, 0), Srv("c", 0, 0)};
  UniformRandom random = Seeded(11);
  constexpr int kDraws = 9000;
  std::map<std::string, int> first;
  for (int i = 0; i < kDraws; ++i) {
    auto ordered = OrderSrvRecords(records, random);
    const std::vector<std::string> targets = Targets(ordered);
    ASSERT_EQ(std::set<std::string>(targets.begin(), targets.end()).size(), 3u);
    ++first[ordered[0].target];
  }
  for (const char* name : {"a", "b", "c"}) {
    EXPECT_NEAR(static_cast<double>(first[name]) / kDraws, 1.0 / 3, 0.03) << name;
  }
}

// --- DiscoverDcs against a scripted resolver -----------------------------------

class ScriptedResolver {
 public:
  void Answer(const std::string& qname, Result<std::vector<uint8_t>> answer) {
    answers_[qname] = std::move(answer);
  }
  SrvResolver AsResolver() {
    return [this](const std::string& qname) -> Result<std::vector<uint8_t>> {
      queried_.push_back(qname);
      auto it = answers_.find(qname);
      if (it == answers_.end()) return Status::NotFound("no such name (NXDOMAIN)");
      return it->second;
    };
  }
  const std::vector<std::string>& queried() const { return queried_; }

 private:
  std::map<std::string, Result<std::vector<uint8_t>>> answers_;
  std::vector<std::string> queried_;
};

class DiscoverDcsTest : public ::testing::Test {
 protected:
  DiscoverDcsTest() {
    options_.domain = "corp.example.com";
    options_.resolver = dns_.AsResolver();
    options_.random = Seeded(5);
    options_.on_warning = [this](const std::string& w) { warnings_.push_back(w); };
  }

  ScriptedResolver dns_;
  DiscoveryOptions options_;
  std::vector<std::string> warnings_;
};

TEST_F(DiscoverDcsTest, SiteDcsFirstThenTheRestOfTheDomain) {
  dns_.Answer(kSiteQname, Packet("site_paris"));
  dns_.Answer(kDomainQname, Packet("domain"));
  options_.site = "Paris";
  auto dcs = DiscoverDcs(options_);
  ASSERT_TRUE(dcs.ok()) << dcs.status().ToString();
  EXPECT_EQ(dns_.queried(), (std::vector<std::string>{kSiteQname, kDomainQname}));
  // DC2 from the domain list repeats the site's dc2 (names compare without case).
  ASSERT_EQ(dcs->size(), 5u);
  const std::vector<std::string> hosts = Hosts(*dcs);
  EXPECT_EQ(std::set<std::string>(hosts.begin(), hosts.begin() + 2),
            (std::set<std::string>{"dc2.corp.example.com", "dc5.corp.example.com"}));
  EXPECT_EQ(std::set<std::string>(hosts.begin() + 2, hosts.begin() + 4),
            (std::set<std::string>{"dc1.corp.example.com", "dc3.corp.example.com"}));
  EXPECT_EQ(hosts[4], "dc4.corp.example.com");  // priority 10 comes last
  for (size_t i = 0; i < dcs->size(); ++i) {
    EXPECT_EQ((*dcs)[i].from_site, i < 2) << hosts[i];
    EXPECT_EQ((*dcs)[i].port, 389) << hosts[i];
  }
  EXPECT_EQ((*dcs)[4].priority, 10);
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(DiscoverDcsTest, WithoutASiteQueriesTheDomainOnly) {
  dns_.Answer(kDomainQname, Packet("domain"));
  auto dcs = DiscoverDcs(options_);
  ASSERT_TRUE(dcs.ok()) << dcs.status().ToString();
  EXPECT_EQ(dns_.queried(), std::vector<std::string>{kDomainQname});
  EXPECT_EQ(dcs->size(), 4u);
  EXPECT_EQ(dcs->back().host, "dc4.corp.example.com");
}

TEST_F(DiscoverDcsTest, TrailingDotOnTheDomainIsAccepted) {
  dns_.Answer(kDomainQname, Packet("domain"));
  options_.domain = "corp.example.com.";
  auto dcs = DiscoverDcs(options_);
  ASSERT_TRUE(dcs.ok()) << dcs.status().ToString();
  EXPECT_EQ(dns_.queried(), std::vector<std::string>{kDomainQname});
}

TEST_F(DiscoverDcsTest, SiteWithoutRecordsFallsBackQuietly) {
  dns_.Answer(kSiteQname, Packet("site_nxdomain"));
  dns_.Answer(kDomainQname, Packet("domain"));
  options_.site = "Paris";
  auto dcs = DiscoverDcs(options_);
  ASSERT_TRUE(dcs.ok()) << dcs.status().ToString();
  EXPECT_EQ(dcs->size(), 4u);
  for (const DcCandidate& dc : *dcs) EXPECT_FALSE(dc.from_site) << dc.host;
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(DiscoverDcsTest, FailedSiteQueryWarnsAndFallsBack) {
  dns_.Answer(kSiteQname, Packet("servfail"));
  dns_.Answer(kDomainQname, Packet("domain"));
  options_.site = "Paris";
  auto dcs = DiscoverDcs(options_);
  ASSERT_TRUE(dcs.ok()) << dcs.status().ToString();
  EXPECT_EQ(dcs->size(), 4u);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find(kSiteQname), std::string::npos) << warnings_[0];
  EXPECT_NE(warnings_[0].find("SERVFAIL"), std::string::npos) << warnings_[0];
}

TEST_F(DiscoverDcsTest, NoRecordsIsNotFoundNamingEveryQuery) {
  dns_.Answer(kSiteQname, Packet("site_nxdomain"));
  dns_.Answer(kDomainQname, Packet("nodata"));
  options_.site = "Paris";
  auto dcs = DiscoverDcs(options_);
  ASSERT_FALSE(dcs.ok());
  EXPECT_EQ(dcs.status().code(), Status::Code::kNotFound);
  EXPECT_NE(dcs.status().message().find(kSiteQname), std::string::npos) << dcs.status().message();
  EXPECT_NE(dcs.status().message().find(kDomainQname), std::string::npos) << dcs.status().message();
}

TEST_F(DiscoverDcsTest, ResolverNotFoundIsAnAnswerWithoutDcs) {
  // The scripted resolver answers NotFound ("no such name (NXDOMAIN)") for
  // the site, as SystemSrvResolver does; the domain still answers.
  dns_.Answer(kDomainQname, Packet("domain"));
  options_.site = "Lyon";
  auto dcs = DiscoverDcs(options_);
  ASSERT_TRUE(dcs.ok()) << dcs.status().ToString();
  EXPECT_EQ(dcs->size(), 4u);
  EXPECT_TRUE(warnings_.empty());

  options_.domain = "other.example.com";
  dcs = DiscoverDcs(options_);
  ASSERT_FALSE(dcs.ok());
  EXPECT_EQ(dcs.status().code(), Status::Code::kNotFound);
  EXPECT_NE(dcs.status().message().find("_ldap._tcp.dc._msdcs.other.example.com: no such name"),
            std::string::npos)
      << dcs.status().message();
}

TEST_F(DiscoverDcsTest, RootTargetMeansNoDcs) {
  dns_.Answer(kDomainQname, Packet("not_available"));
  auto dcs = DiscoverDcs(options_);
  ASSERT_FALSE(dcs.ok());
  EXPECT_EQ(dcs.status().code(), Status::Code::kNotFound);
  EXPECT_NE(dcs.status().message().find("declared unavailable"), std::string::npos)
      << dcs.status().message();
}

TEST_F(DiscoverDcsTest, ResolverFailureIsUnavailableWithNameAndReason) {
  dns_.Answer(kDomainQname, Status::Unavailable("no answer from the name servers (TRY_AGAIN)"));
  auto dcs = DiscoverDcs(options_);
  ASSERT_FALSE(dcs.ok());
  EXPECT_EQ(dcs.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(dcs.status().message().find(kDomainQname), std::string::npos) << dcs.status().message();
  EXPECT_NE(dcs.status().message().find("TRY_AGAIN"), std::string::npos) << dcs.status().message();
}

TEST_F(DiscoverDcsTest, MalformedAnswerIsDataLoss) {
  dns_.Answer(kDomainQname, Packet("cut_mid_record"));
  auto dcs = DiscoverDcs(options_);
  ASSERT_FALSE(dcs.ok());
  EXPECT_EQ(dcs.status().code(), Status::Code::kDataLoss);
  EXPECT_NE(dcs.status().message().find(kDomainQname), std::string::npos) << dcs.status().message();
}

TEST_F(DiscoverDcsTest, RefusesAnEmptyDomainAndADottedSite) {
  options_.domain = "";
  EXPECT_EQ(DiscoverDcs(options_).status().code(), Status::Code::kInvalidArgument);
  options_.domain = "corp.example.com";
  options_.site = "Paris.corp";
  EXPECT_EQ(DiscoverDcs(options_).status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(dns_.queried().empty());
}

TEST_F(DiscoverDcsTest, SameSeedSameOrder) {
  dns_.Answer(kDomainQname, Packet("domain"));
  options_.random = Seeded(9);
  auto first = DiscoverDcs(options_);
  options_.random = Seeded(9);
  auto second = DiscoverDcs(options_);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(Hosts(*first), Hosts(*second));
}

// The real res_nquery path, on a name that cannot exist (RFC 6761 reserves
// .invalid). Offline the query fails or times out, online it is NXDOMAIN:
// either way an error status, never a crash or a DC.
TEST(SystemSrvResolverTest, NameThatCannotExistIsAnError) {
  DiscoveryOptions options;
  options.domain = "invalid.";
  options.resolver = SystemSrvResolver(seconds(1), 1);
  auto dcs = DiscoverDcs(options);
  ASSERT_FALSE(dcs.ok());
  EXPECT_TRUE(dcs.status().code() == Status::Code::kNotFound ||
              dcs.status().code() == Status::Code::kUnavailable)
      << dcs.status().ToString();
  EXPECT_NE(dcs.status().message().find("_ldap._tcp.dc._msdcs.invalid"), std::string::npos)
      << dcs.status().message();
}

// --- CandidateUris and PreferredOrder ------------------------------------------

DcCandidate Dc(const std::string& host, uint16_t port = 389) {
  DcCandidate c;
  c.host = host;
  c.port = port;
  return c;
}

TEST(CandidateUrisTest, LdapKeepsTheSrvPort) {
  EXPECT_EQ(CandidateUris({Dc("dc1.corp.example.com"), Dc("dc2.corp.example.com", 3389)},
                          /*ldaps=*/false),
            (std::vector<std::string>{"ldap://dc1.corp.example.com:389",
                                      "ldap://dc2.corp.example.com:3389"}));
}

TEST(CandidateUrisTest, LdapsUsesPort636WithoutRepeats) {
  EXPECT_EQ(CandidateUris({Dc("dc1.corp.example.com"), Dc("dc2.corp.example.com"),
                           Dc("DC1.corp.example.com", 3389)},
                          /*ldaps=*/true),
            (std::vector<std::string>{"ldaps://dc1.corp.example.com:636",
                                      "ldaps://dc2.corp.example.com:636"}));
}

class PreferredOrderTest : public ::testing::Test {
 protected:
  std::vector<std::string> Order(
      const std::map<std::string, std::chrono::system_clock::time_point>& failed_at) {
    return Hosts(PreferredOrder(candidates_, failed_at, now_, minutes(5)));
  }

  const std::vector<DcCandidate> candidates_ = {Dc("a"), Dc("b"), Dc("c"), Dc("d")};
  const std::chrono::system_clock::time_point now_ =
      std::chrono::system_clock::time_point() + std::chrono::hours(24 * 365 * 50);
};

TEST_F(PreferredOrderTest, NoFailuresKeepsTheOrder) {
  EXPECT_EQ(Order({}), (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST_F(PreferredOrderTest, RecentFailuresGoLastInTheirOrder) {
  EXPECT_EQ(Order({{"d", now_ - minutes(2)}, {"b", now_ - minutes(1)}}),
            (std::vector<std::string>{"a", "c", "b", "d"}));
}

TEST_F(PreferredOrderTest, PreferredAgainAfterTheRetryWindow) {
  EXPECT_EQ(Order({{"a", now_ - minutes(5)}}), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(Order({{"a", now_ - minutes(5) + seconds(1)}}),
            (std::vector<std::string>{"b", "c", "d", "a"}));
}

TEST_F(PreferredOrderTest, HostNamesCompareWithoutCase) {
  EXPECT_EQ(Order({{"B", now_ - minutes(1)}}), (std::vector<std::string>{"a", "c", "d", "b"}));
}

TEST_F(PreferredOrderTest, FailureAfterNowCountsAsRecent) {
  EXPECT_EQ(Order({{"a", now_ + minutes(10)}}), (std::vector<std::string>{"b", "c", "d", "a"}));
}

TEST_F(PreferredOrderTest, UnknownHostsAreIgnored) {
  EXPECT_EQ(Order({{"zz", now_}}), (std::vector<std::string>{"a", "b", "c", "d"}));
}

}  // namespace
}  // namespace syncd::ldap
