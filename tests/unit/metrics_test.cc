#include "syncd/metrics.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/test_util.h"

namespace syncd {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using testing::G;
using testing::MakeOp;
using testing::MemberOp;
using testing::U;

// --- A small parser of the text exposition format ---------------------------

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  std::string value;
};

struct Exposition {
  std::vector<std::string> family_order;  // in order of their TYPE lines
  std::map<std::string, std::string> help, type;
  std::vector<Sample> samples;
  std::vector<std::string> errors;

  // The value of the one sample `name{labels}`; nullopt if absent.
  std::optional<std::string> Value(const std::string& name,
                                   const std::map<std::string, std::string>& labels = {}) const {
    for (const auto& s : samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    return std::nullopt;
  }
  std::vector<Sample> Family(const std::string& name) const {
    std::vector<Sample> out;
    for (const auto& s : samples) {
      if (s.name == name) out.push_back(s);
    }
    return out;
  }
};

bool IsNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

// Parses `name{label="value",...} value`; false if malformed.
bool ParseSample(const std::string& line, Sample* out) {
  size_t i = 0;
  while (i < line.size() && IsNameChar(line[i], i == 0)) ++i;
  if (i == 0) return false;
  out->name = line.substr(0, i);
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      size_t start = i;
      while (i < line.size() && IsNameChar(line[i], i == start)) ++i;
      std::string label = line.substr(start, i - start);
      if (label.empty() || line.compare(i, 2, "=\"") != 0) return false;
      i += 2;
      std::string value;
      for (;; ++i) {
        if (i >= line.size()) return false;
        if (line[i] == '"') break;
        if (line[i] == '\\') {
          if (++i >= line.size()) return false;
          if (line[i] == 'n') {
            value += '\n';
          } else if (line[i] == '\\' || line[i] == '"') {
            value += line[i];
          } else {
            return false;
          }
        } else if (line[i] == '\n') {
          return false;
        } else {
          value += line[i];
        }
      }
      ++i;  // the closing quote
      if (!out->labels.emplace(label, value).second) return false;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return false;
    ++i;  // '}'
  }
  if (i >= line.size() || line[i] != ' ') return false;
  out->value = line.substr(i + 1);
  return !out->value.empty() && out->value.find(' ') == std::string::npos;
}

Exposition Parse(const std::string& text) {
  Exposition e;
  if (!text.empty() && text.back() != '\n') e.errors.push_back("no final line feed");
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      std::string rest = line.substr(7);
      size_t sp = rest.find(' ');
      if (sp == std::string::npos) {
        e.errors.push_back("bad comment: " + line);
        continue;
      }
      std::string name = rest.substr(0, sp);
      if (line[2] == 'H') {
        e.help[name] = rest.substr(sp + 1);
      } else {
        e.type[name] = rest.substr(sp + 1);
        e.family_order.push_back(name);
      }
      continue;
    }
    Sample s;
    if (!ParseSample(line, &s)) {
      e.errors.push_back("bad sample: " + line);
      continue;
    }
    if (e.family_order.empty() || e.family_order.back() != s.name) {
      e.errors.push_back("sample outside its family: " + line);
    }
    e.samples.push_back(std::move(s));
  }
  return e;
}

const std::vector<std::string> kFamilies = {
    "syncd_build_info",
    "syncd_dc_in_use",
    "syncd_last_run_duration_seconds",
    "syncd_last_success_timestamp_seconds",
    "syncd_objects_in_scope",
    "syncd_operations_total",
    "syncd_quarantined_objects",
    "syncd_run_in_progress",
    "syncd_runs_total",
};

std::string Op(const Exposition& e, const std::string& kind, const std::string& op,
               const std::string& outcome) {
  return e.Value("syncd_operations_total", {{"kind", kind}, {"op", op}, {"outcome", outcome}})
      .value_or("(absent)");
}

std::string Runs(const Exposition& e, const std::string& kind, const std::string& outcome) {
  return e.Value("syncd_runs_total", {{"kind", kind}, {"outcome", outcome}}).value_or("(absent)");
}

TEST(MetricsTest, FreshMetricsRenderEveryFamilyAtZero) {
  Metrics metrics("1.2.3");
  const Exposition e = Parse(metrics.Render());
  EXPECT_TRUE(e.errors.empty()) << ::testing::PrintToString(e.errors);
  EXPECT_EQ(e.family_order, kFamilies);  // sorted, each once, all prefixed syncd_
  for (const auto& name : kFamilies) {
    EXPECT_TRUE(e.help.contains(name) && !e.help.at(name).empty()) << name;
  }
  EXPECT_EQ(e.type.at("syncd_runs_total"), "counter");
  EXPECT_EQ(e.type.at("syncd_operations_total"), "counter");
  for (const char* gauge :
       {"syncd_build_info", "syncd_dc_in_use", "syncd_last_run_duration_seconds",
        "syncd_last_success_timestamp_seconds", "syncd_objects_in_scope",
        "syncd_quarantined_objects", "syncd_run_in_progress"}) {
    EXPECT_EQ(e.type.at(gauge), "gauge") << gauge;
  }
  EXPECT_EQ(e.Value("syncd_build_info", {{"version", "1.2.3"}}), "1");
  EXPECT_TRUE(e.Family("syncd_dc_in_use").empty());
  EXPECT_EQ(e.Value("syncd_last_run_duration_seconds"), "0");
  EXPECT_EQ(e.Value("syncd_last_success_timestamp_seconds"), "0");
  EXPECT_EQ(e.Value("syncd_run_in_progress"), "0");
  EXPECT_EQ(e.Value("syncd_objects_in_scope", {{"kind", "user"}}), "0");
  EXPECT_EQ(e.Value("syncd_objects_in_scope", {{"kind", "group"}}), "0");
  EXPECT_EQ(e.Family("syncd_objects_in_scope").size(), 2u);
  EXPECT_EQ(e.Value("syncd_quarantined_objects", {{"kind", "user"}}), "0");
  EXPECT_EQ(e.Value("syncd_quarantined_objects", {{"kind", "group"}}), "0");

  EXPECT_EQ(e.Family("syncd_runs_total").size(), 6u);
  for (const char* kind : {"full", "incremental"}) {
    for (const char* outcome : {"ok", "partial", "failed"}) {
      EXPECT_EQ(Runs(e, kind, outcome), "0") << kind << " " << outcome;
    }
  }
  // user and group: create/update/delete; membership: add/remove; 3 outcomes.
  EXPECT_EQ(e.Family("syncd_operations_total").size(), 24u);
  for (const auto& s : e.Family("syncd_operations_total")) {
    EXPECT_EQ(s.value, "0");
    const bool membership = s.labels.at("kind") == "membership";
    const std::set<std::string> ops = membership
                                          ? std::set<std::string>{"add", "remove"}
                                          : std::set<std::string>{"create", "update", "delete"};
    EXPECT_TRUE(ops.contains(s.labels.at("op"))) << s.labels.at("kind") << s.labels.at("op");
  }
}

// 2 user creates (1 refused), 1 user update, 1 user delete held, 1 group
// create, 1 group delete held, 3 add-member (1 refused), 1 remove-member
// held.
Plan KnownPlan() {
  const SyncObject alice = U("a", "alice"), bob = U("b", "bob"), carol = U("c", "carol");
  const SyncObject staff = G("s", "Staff"), old = G("o", "Old");
  Plan plan;
  plan.run_kind = "incremental";
  plan.operations = {
      MakeOp(OpType::kCreate, staff),
      MakeOp(OpType::kCreate, alice),
      MakeOp(OpType::kCreate, bob),
      MakeOp(OpType::kUpdate, carol),
      MemberOp(OpType::kAddMember, staff, alice),
      MemberOp(OpType::kAddMember, staff, bob),
      MemberOp(OpType::kAddMember, staff, carol),
  };
  plan.held = {
      {MakeOp(OpType::kDelete, U("d", "dave")), "budget"},
      {MakeOp(OpType::kDelete, old), "budget"},
      {MemberOp(OpType::kRemoveMember, staff, carol), "incomplete read"},
  };
  return plan;
}

std::vector<std::pair<Operation, Status>> KnownFailures(const Plan& plan) {
  return {{plan.operations[2], Status::Conflict("bob exists")},
          {plan.operations[5], Status::Conflict("no such member")}};
}

TEST(MetricsTest, RecordRunCountsAppliedFailedAndHeldOperations) {
  Metrics metrics("1.2.3");
  const Plan plan = KnownPlan();
  metrics.SetRunInProgress(true);
  EXPECT_EQ(Parse(metrics.Render()).Value("syncd_run_in_progress"), "1");
  metrics.RecordRun("", "partial", plan, KnownFailures(plan), std::chrono::milliseconds(1500),
                    1'700'000'000, {{"user", 10}, {"group", 3}}, "ldaps://dc1.corp.example.com");
  const Exposition e = Parse(metrics.Render());
  ASSERT_TRUE(e.errors.empty()) << ::testing::PrintToString(e.errors);

  EXPECT_EQ(Runs(e, "incremental", "partial"), "1");  // the kind from the plan
  EXPECT_EQ(Runs(e, "incremental", "ok"), "0");
  EXPECT_EQ(Runs(e, "full", "partial"), "0");

  EXPECT_EQ(Op(e, "user", "create", "applied"), "1");
  EXPECT_EQ(Op(e, "user", "create", "failed"), "1");
  EXPECT_EQ(Op(e, "user", "create", "held"), "0");
  EXPECT_EQ(Op(e, "user", "update", "applied"), "1");
  EXPECT_EQ(Op(e, "user", "delete", "applied"), "0");
  EXPECT_EQ(Op(e, "user", "delete", "held"), "1");
  EXPECT_EQ(Op(e, "group", "create", "applied"), "1");
  EXPECT_EQ(Op(e, "group", "delete", "held"), "1");
  EXPECT_EQ(Op(e, "membership", "add", "applied"), "2");
  EXPECT_EQ(Op(e, "membership", "add", "failed"), "1");
  EXPECT_EQ(Op(e, "membership", "remove", "held"), "1");
  EXPECT_EQ(Op(e, "membership", "remove", "applied"), "0");
  int64_t total = 0;
  for (const auto& s : e.Family("syncd_operations_total")) total += std::stoll(s.value);
  EXPECT_EQ(total, 10);  // 7 planned + 3 held

  EXPECT_EQ(e.Value("syncd_objects_in_scope", {{"kind", "user"}}), "10");
  EXPECT_EQ(e.Value("syncd_objects_in_scope", {{"kind", "group"}}), "3");
  EXPECT_EQ(e.Value("syncd_last_success_timestamp_seconds"), "1700000000");
  EXPECT_EQ(e.Value("syncd_last_run_duration_seconds"), "1.5");
  EXPECT_EQ(e.Value("syncd_run_in_progress"), "0");
  EXPECT_EQ(e.Value("syncd_dc_in_use", {{"uri", "ldaps://dc1.corp.example.com"}}), "1");

  // A second run adds to the counters and replaces the gauges; a failed run
  // counts no operations and keeps the last success time.
  metrics.RecordRun("full", "ok", plan, {}, std::chrono::seconds(2), 1'700'000'100, {{"user", 12}},
                    "ldaps://dc2.corp.example.com");
  metrics.RecordRun("full", "failed", plan, {}, std::chrono::milliseconds(250), 0, {{"user", 12}},
                    "");
  const Exposition after = Parse(metrics.Render());
  ASSERT_TRUE(after.errors.empty()) << ::testing::PrintToString(after.errors);
  EXPECT_EQ(Runs(after, "incremental", "partial"), "1");
  EXPECT_EQ(Runs(after, "full", "ok"), "1");
  EXPECT_EQ(Runs(after, "full", "failed"), "1");
  EXPECT_EQ(Op(after, "user", "create", "applied"), "3");
  EXPECT_EQ(Op(after, "user", "create", "failed"), "1");
  EXPECT_EQ(Op(after, "membership", "add", "applied"), "5");
  EXPECT_EQ(Op(after, "membership", "remove", "held"), "2");
  EXPECT_EQ(after.Value("syncd_objects_in_scope", {{"kind", "user"}}), "12");
  EXPECT_EQ(after.Value("syncd_objects_in_scope", {{"kind", "group"}}), "0");
  EXPECT_EQ(after.Value("syncd_last_success_timestamp_seconds"), "1700000100");
  EXPECT_EQ(after.Value("syncd_last_run_duration_seconds"), "0.25");
  EXPECT_TRUE(after.Family("syncd_dc_in_use").empty());  // no DC answered the last run
}

TEST(MetricsTest, RecordRunTakesARunResult) {
  Metrics metrics("dev");
  RunResult result;
  result.plan = KnownPlan();
  result.failed = KnownFailures(result.plan);
  result.dc_uri = "ldaps://dc1";
  metrics.RecordRun(result, "partial", std::chrono::seconds(3), 42, {{"user", 1}, {"group", 1}});
  const Exposition e = Parse(metrics.Render());
  EXPECT_EQ(Runs(e, "incremental", "partial"), "1");
  EXPECT_EQ(Op(e, "membership", "add", "failed"), "1");
  EXPECT_EQ(e.Value("syncd_dc_in_use", {{"uri", "ldaps://dc1"}}), "1");
  EXPECT_EQ(e.Value("syncd_last_success_timestamp_seconds"), "42");
  EXPECT_EQ(e.Value("syncd_last_run_duration_seconds"), "3");
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  Metrics metrics("v\"1\"\n\\");
  metrics.RecordRun("full", "ok", Plan{}, {}, std::chrono::seconds(1), 1, {}, "ldap://x\"y\\z\n");
  const std::string text = metrics.Render();
  EXPECT_NE(text.find("syncd_dc_in_use{uri=\"ldap://x\\\"y\\\\z\\n\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("syncd_build_info{version=\"v\\\"1\\\"\\n\\\\\"} 1\n"), std::string::npos)
      << text;
  const Exposition e = Parse(text);
  EXPECT_TRUE(e.errors.empty()) << ::testing::PrintToString(e.errors);
  EXPECT_EQ(e.Value("syncd_dc_in_use", {{"uri", "ldap://x\"y\\z\n"}}), "1");
  EXPECT_EQ(e.Value("syncd_build_info", {{"version", "v\"1\"\n\\"}}), "1");
}

TEST(MetricsTest, RenderIsDeterministicAndSorted) {
  Metrics a("1"), b("1");
  const Plan plan = KnownPlan();
  for (Metrics* m : {&a, &b}) {
    m->RecordRun("full", "ok", plan, {}, std::chrono::seconds(1), 5, {{"group", 2}, {"user", 1}},
                 "ldaps://dc1");
  }
  EXPECT_EQ(a.Render(), b.Render());
  EXPECT_EQ(a.Render(), a.Render());
  // Within a family, series come sorted by their labels.
  const Exposition e = Parse(a.Render());
  std::vector<std::map<std::string, std::string>> labels;
  for (const auto& s : e.Family("syncd_operations_total")) labels.push_back(s.labels);
  EXPECT_TRUE(std::is_sorted(labels.begin(), labels.end()));
}

// --- The listen address ---------------------------------------------------------

TEST(MetricsListenTest, AcceptsLoopbackLiterals) {
  auto v4 = ParseListenAddress("127.0.0.1:9469", false);
  ASSERT_TRUE(v4.ok()) << v4.status().ToString();
  EXPECT_EQ(v4->address().to_string(), "127.0.0.1");
  EXPECT_EQ(v4->port(), 9469);
  auto v6 = ParseListenAddress("[::1]:0", false);
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_TRUE(v6->address().is_v6());
  EXPECT_EQ(v6->port(), 0);
  EXPECT_TRUE(ParseListenAddress("127.0.0.2:80", false).ok());
  EXPECT_TRUE(ParseListenAddress("[::ffff:127.0.0.1]:80", false).ok());
}

TEST(MetricsListenTest, RefusesMalformedAddresses) {
  for (const char* bad :
       {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:65536", "127.0.0.1:-1",
        "localhost:9469", "::1:9469", "[::1:9469", "127.0.0.1:94 69"}) {
    auto parsed = ParseListenAddress(bad, true);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_NE(parsed.status().message().find(std::string("\"") + bad + "\""), std::string::npos)
        << parsed.status().message();
  }
}

TEST(MetricsListenTest, NonLoopbackNeedsTheFlag) {
  for (const char* address : {"0.0.0.0:9469", "192.0.2.1:9469", "[::]:9469", "[2001:db8::1]:1"}) {
    auto refused = ParseListenAddress(address, false);
    EXPECT_FALSE(refused.ok()) << address;
    EXPECT_NE(refused.status().message().find("not a loopback address"), std::string::npos)
        << refused.status().message();
    EXPECT_TRUE(ParseListenAddress(address, true).ok()) << address;
  }
}

// --- The server -----------------------------------------------------------------

class MetricsServerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (thread_.joinable()) {
      asio::post(io_, [this] { server_->Stop(); });
      thread_.join();
    }
  }

  // Starts the server on an ephemeral loopback port and runs its loop on a
  // thread of its own; the test is the client.
  void Start(MetricsServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    server_ = std::make_unique<MetricsServer>(io_.get_executor(), metrics_, options);
    Status st = server_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_NE(server_->port(), 0);
    thread_ = std::thread([this] { io_.run(); });
  }

  tcp::socket Connect() {
    tcp::socket socket(client_io_);
    socket.connect({asio::ip::make_address("127.0.0.1"), server_->port()});
    // A hung server fails the test instead of hanging it.
    timeval timeout{10, 0};
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    return socket;
  }

  static std::string ReadToEnd(tcp::socket& socket) {
    std::string response;
    boost::system::error_code ec;
    asio::read(socket, asio::dynamic_buffer(response), ec);
    EXPECT_EQ(ec, asio::error::eof) << ec.message();
    return response;
  }

  std::string Exchange(const std::string& request) {
    tcp::socket socket = Connect();
    asio::write(socket, asio::buffer(request));
    return ReadToEnd(socket);
  }

  static std::string Body(const std::string& response) {
    size_t end = response.find("\r\n\r\n");
    return end == std::string::npos ? "" : response.substr(end + 4);
  }

  Metrics metrics_{"9.9.9"};  // outlives the loop
  asio::io_context io_;
  asio::io_context client_io_;
  std::unique_ptr<MetricsServer> server_;
  std::thread thread_;
};

TEST_F(MetricsServerTest, GetMetricsServesTheExposition) {
  metrics_.RecordRun("full", "ok", KnownPlan(), {}, std::chrono::seconds(1), 7, {{"user", 4}},
                     "ldaps://dc1");
  Start();
  const std::string response =
      Exchange("GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n");
  ASSERT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("\r\nContent-Type: text/plain; version=0.0.4"), std::string::npos);
  const std::string body = Body(response);
  EXPECT_NE(response.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"),
            std::string::npos);
  EXPECT_EQ(body, metrics_.Render());
  const Exposition e = Parse(body);
  EXPECT_TRUE(e.errors.empty()) << ::testing::PrintToString(e.errors);
  EXPECT_EQ(e.Value("syncd_build_info", {{"version", "9.9.9"}}), "1");
  EXPECT_EQ(e.Value("syncd_objects_in_scope", {{"kind", "user"}}), "4");
  EXPECT_EQ(Runs(e, "full", "ok"), "1");
}

TEST_F(MetricsServerTest, AnswersOtherPathsMethodsAndMalformedRequests) {
  Start();
  EXPECT_EQ(Exchange("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 404 ", 0), 0u);
  EXPECT_EQ(Exchange("GET / HTTP/1.0\r\n\r\n").rfind("HTTP/1.1 404 ", 0), 0u);
  // A query string does not change the path; bare LF line endings are fine.
  EXPECT_EQ(Exchange("GET /metrics?x=1 HTTP/1.0\n\n").rfind("HTTP/1.1 200 ", 0), 0u);
  const std::string post = Exchange("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(post.rfind("HTTP/1.1 405 ", 0), 0u) << post;
  EXPECT_NE(post.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);
  const std::string head = Exchange("HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200 ", 0), 0u);
  EXPECT_EQ(Body(head), "");
  for (const char* garbage :
       {"garbage\r\n\r\n", "\x16\x03\x01\x02\x01\xfc\x03\x03\n", "GET /metrics\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/2\r\n\r\n",
        "GET  /metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n"}) {
    const std::string response = Exchange(garbage);
    EXPECT_EQ(response.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u)
        << ::testing::PrintToString(std::string(garbage)) << " -> " << response;
  }
}

TEST_F(MetricsServerTest, OversizedRequestIsRefused) {
  Start();
  std::string request = "GET /metrics HTTP/1.1\r\n";
  while (request.size() < 9000) request += "X-Padding: " + std::string(100, 'x') + "\r\n";
  request += "\r\n";
  const std::string response = Exchange(request);
  EXPECT_EQ(response.rfind("HTTP/1.1 431 ", 0), 0u) << response;
}

TEST_F(MetricsServerTest, SilentOrSlowClientIsClosedAfterTheDeadline) {
  MetricsServerOptions options;
  options.read_timeout = std::chrono::milliseconds(200);
  Start(options);
  for (const std::string sent : {"", "GET /metrics HTTP/1.1\r\nHost: x\r\n"}) {
    const auto start = std::chrono::steady_clock::now();
    tcp::socket socket = Connect();
    if (!sent.empty()) asio::write(socket, asio::buffer(sent));
    const std::string response = ReadToEnd(socket);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(response.rfind("HTTP/1.1 408 ", 0), 0u) << response;
    EXPECT_GE(elapsed, std::chrono::milliseconds(150));
    EXPECT_LT(elapsed, std::chrono::seconds(3));
  }
  // The server still answers afterwards.
  EXPECT_EQ(Exchange("GET /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200 ", 0), 0u);
}

TEST_F(MetricsServerTest, StopClosesTheListenerAndLetsOpenConnectionsFinish) {
  Start();
  tcp::socket open = Connect();
  asio::write(open, asio::buffer(std::string("GET /metrics HTTP/1.1\r\n")));
  // Connected is not yet accepted: give the loop time to accept it.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::promise<void> stopped;
  asio::post(io_, [&] {
    server_->Stop();
    stopped.set_value();
  });
  stopped.get_future().wait();
  boost::system::error_code ec;
  tcp::socket refused(client_io_);
  refused.connect({asio::ip::make_address("127.0.0.1"), server_->port()}, ec);
  EXPECT_EQ(ec, asio::error::connection_refused) << ec.message();
  // The connection accepted before Stop() still gets its answer.
  asio::write(open, asio::buffer(std::string("\r\n")));
  EXPECT_EQ(ReadToEnd(open).rfind("HTTP/1.1 200 ", 0), 0u);
}

TEST(MetricsServerStartTest, RefusesNonLoopbackUnlessAllowed) {
  Metrics metrics("1");
  asio::io_context io;
  MetricsServerOptions options;
  options.listen = "0.0.0.0:0";
  MetricsServer server(io.get_executor(), metrics, options);
  Status st = server.Start();
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("\"0.0.0.0:0\" is not a loopback address"), std::string::npos)
      << st.message();
  EXPECT_EQ(server.port(), 0);

  // Allowed, the bind itself is what fails for an address the host lacks.
  options.listen = "192.0.2.1:0";  // TEST-NET-1
  options.allow_non_loopback = true;
  MetricsServer allowed(io.get_executor(), metrics, options);
  st = allowed.Start();
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_NE(st.message().find("cannot listen on 192.0.2.1:0: "), std::string::npos) << st.message();
}

TEST(MetricsServerStartTest, AddressInUseNamesTheAddress) {
  Metrics metrics("1");
  asio::io_context io;
  tcp::acceptor taken(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const std::string address = "127.0.0.1:" + std::to_string(taken.local_endpoint().port());
  MetricsServerOptions options;
  options.listen = address;
  MetricsServer server(io.get_executor(), metrics, options);
  Status st = server.Start();
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_EQ(st.message(), "cannot listen on " + address + ": Address already in use");
  EXPECT_EQ(server.port(), 0);
  // A second Start() of a running server is refused too.
  MetricsServerOptions free_options;
  free_options.listen = "127.0.0.1:0";
  MetricsServer running(io.get_executor(), metrics, free_options);
  ASSERT_TRUE(running.Start().ok());
  EXPECT_FALSE(running.Start().ok());
}

TEST(MetricsTest, QuarantinedObjectsPerKind) {
  Metrics metrics("1.2.3");
  metrics.SetQuarantined({{"user", 3}});
  Exposition e = Parse(metrics.Render());
  EXPECT_EQ(e.Value("syncd_quarantined_objects", {{"kind", "user"}}), "3");
  EXPECT_EQ(e.Value("syncd_quarantined_objects", {{"kind", "group"}}), "0");
  metrics.SetQuarantined({});
  EXPECT_EQ(Parse(metrics.Render()).Value("syncd_quarantined_objects", {{"kind", "user"}}), "0")
      << "objects that left quarantine leave the gauge";
}

}  // namespace
}  // namespace syncd
