// SigV4 (aws/sigv4.h) against AWS's published test suite
// (tests/data/sigv4/README.md) and against botocore's signer on random
// requests (tests/aws-sign-reference.py).
#include "aws/sigv4.h"
#include "http/url.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <array>
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/strings.h"
#include "tests/unit/test_util.h"

namespace syncd::aws {
namespace {

namespace json = boost::json;
using std::chrono::system_clock;

std::string SourceDir() {
  const char* root = std::getenv("SYNCD_SOURCE_DIR");
  return root != nullptr ? root : ".";
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Sha256Hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), length));
}

system_clock::time_point At(int64_t unix_seconds) {
  return system_clock::time_point(std::chrono::seconds(unix_seconds));
}

// 2015-08-30T12:36:00Z, the test suite's time.
constexpr int64_t kSuiteTime = 1440938160;

// request.txt: "METHOD PATH HTTP/1.1", header lines (a line starting with
// white space continues the previous value), a blank line, the body. The
// Host header becomes the URL's authority.
http::Request ParseSuiteRequest(const std::string& text) {
  http::Request request;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  const size_t method_end = line.find(' ');
  request.method = line.substr(0, method_end);
  const std::string path = line.substr(method_end + 1, line.rfind(" HTTP/") - method_end - 1);
  std::string host;
  while (std::getline(in, line) && !line.empty()) {
    if ((line[0] == ' ' || line[0] == '\t') && !request.headers.empty()) {
      request.headers.back().value += "\n" + line;
      continue;
    }
    const size_t colon = line.find(':');
    http::Header header{line.substr(0, colon), line.substr(colon + 1)};
    if (AsciiLower(header.name) == "host") {
      host = header.value;
    } else {
      request.headers.push_back(std::move(header));
    }
  }
  std::stringstream body;
  body << in.rdbuf();
  request.body = body.str();
  request.url = "https://" + host + path;
  return request;
}

std::string AuthorizationLine(const std::string& signed_request) {
  std::istringstream in(signed_request);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Authorization:", 0) == 0) return line.substr(14);
  }
  return "";
}

TEST(SigV4SuiteTest, EveryVectorSignsAsPublished) {
  const std::filesystem::path root = SourceDir() + "/tests/data/sigv4";
  int cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    const std::filesystem::path& dir = entry.path();
    SCOPED_TRACE(dir.filename().string());
    const json::object context = json::parse(ReadFile(dir / "context.json")).as_object();
    const json::object& keys = context.at("credentials").as_object();
    Credentials credentials{
        .access_key_id = json::value_to<std::string>(keys.at("access_key_id")),
        .secret_access_key = json::value_to<std::string>(keys.at("secret_access_key"))};
    if (const json::value* token = keys.if_contains("token")) {
      credentials.session_token = json::value_to<std::string>(*token);
    }
    const SigningScope scope{json::value_to<std::string>(context.at("region")),
                             json::value_to<std::string>(context.at("service"))};
    http::Request request = ParseSuiteRequest(ReadFile(dir / "request.txt"));
    if (context.at("sign_body").as_bool()) {
      request.headers.push_back({"X-Amz-Content-Sha256", Sha256Hex(request.body)});
    }
    const SignatureParts parts = SignV4(request, credentials, scope, At(kSuiteTime));
    EXPECT_EQ(parts.canonical_request, ReadFile(dir / "header-canonical-request.txt"));
    EXPECT_EQ(parts.string_to_sign, ReadFile(dir / "header-string-to-sign.txt"));
    const std::string expected = AuthorizationLine(ReadFile(dir / "header-signed-request.txt"));
    EXPECT_EQ(parts.authorization, expected);
    EXPECT_EQ(request.headers.back().name, "Authorization");
    EXPECT_EQ(request.headers.back().value, expected);
    ++cases;
  }
  EXPECT_GE(cases, 30);
}

TEST(SigV4Test, AddsDateTokenAndAuthorizationOnceWhenSignedAgain) {
  http::Request request{.method = "POST", .url = "https://sso.eu-west-1.amazonaws.com/"};
  request.headers.push_back({"Content-Type", "application/x-amz-json-1.1"});
  request.headers.push_back({"X-Amz-Target", "SWBExternalService.ListInstances"});
  request.headers.push_back({"User-Agent", "syncd/test"});
  request.body = "{}";
  const Credentials credentials{
      .access_key_id = "AKID", .secret_access_key = "secret", .session_token = "token"};
  SignV4(request, credentials, {"eu-west-1", "sso"}, At(kSuiteTime));
  const SignatureParts again =
      SignV4(request, credentials, {"eu-west-1", "sso"}, At(kSuiteTime + 60));
  EXPECT_EQ(again.signed_headers, "content-type;host;x-amz-date;x-amz-security-token;x-amz-target");
  int dates = 0;
  int tokens = 0;
  int authorizations = 0;
  for (const http::Header& header : request.headers) {
    dates += header.name == "X-Amz-Date" ? 1 : 0;
    tokens += header.name == "X-Amz-Security-Token" ? 1 : 0;
    authorizations += header.name == "Authorization" ? 1 : 0;
    if (header.name == "X-Amz-Date") {
      EXPECT_EQ(header.value, "20150830T123700Z");
    }
  }
  EXPECT_EQ(dates, 1);
  EXPECT_EQ(tokens, 1);
  EXPECT_EQ(authorizations, 1);
  EXPECT_EQ(again.canonical_request.find("secret"), std::string::npos);
}

// Random requests, signed by syncd and by botocore.
class RandomRequests {
 public:
  explicit RandomRequests(uint32_t seed) : random_(seed) {}

  json::object Next() {
    static constexpr std::array<const char*, 5> kMethods = {"GET", "POST", "PUT", "DELETE",
                                                            "PATCH"};
    static constexpr std::array<const char*, 4> kHosts = {
        "sso.eu-west-1.amazonaws.com", "identitystore.us-east-1.amazonaws.com:443",
        "127.0.0.1:5000", "Example.AmazonAWS.com"};
    json::object spec;
    spec["method"] = kMethods[Pick(kMethods.size())];
    const std::string scheme = Pick(2) == 0 ? "https" : "http";
    spec["url"] = scheme + "://" + kHosts[Pick(kHosts.size())] + Path() + Query();
    json::array headers;
    const size_t count = Pick(5);
    for (size_t i = 0; i < count; ++i) headers.push_back(Header());
    spec["headers"] = std::move(headers);
    spec["body"] = Pick(3) == 0 ? "" : Text(Pick(64), true);
    spec["access_key_id"] = "AKID" + Text(16, false);
    spec["secret_access_key"] = Text(40, false);
    spec["session_token"] = Pick(2) == 0 ? "" : Text(120, false);
    spec["region"] = Pick(2) == 0 ? "eu-west-1" : "us-east-1";
    spec["service"] = Pick(2) == 0 ? "sso" : "identitystore";
    // Any second of 2001..2033.
    spec["timestamp"] = AmzDate(978307200 + static_cast<int64_t>(Pick(1000000000)));
    return spec;
  }

  static std::string AmzDate(int64_t unix_seconds) {
    std::string iso = UtcTimestamp(unix_seconds);  // 2026-11-22T10:30:00Z
    std::erase(iso, '-');
    std::erase(iso, ':');
    return iso;
  }

 private:
  size_t Pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(random_); }

  // Printable ASCII, and in `rich` text some UTF-8 and reserved characters.
  std::string Text(size_t length, bool rich) {
    static constexpr std::array<const char*, 8> kRich = {"é", "✓", " ", "/", "+", "=", "&", "%"};
    std::string out;
    for (size_t i = 0; i < length; ++i) {
      if (rich && Pick(6) == 0) {
        out += kRich[Pick(kRich.size())];
      } else {
        out += static_cast<char>('!' + Pick(94));
      }
    }
    return out;
  }

  // Segments as a URL carries them: percent-encoded odd characters, raw
  // sub-delimiters, dot segments and doubled slashes.
  std::string Path() {
    static constexpr std::array<const char*, 9> kSegments = {
        "a", "users", "%20x%2Fy", "caf%C3%A9", "!$'()*+,;=:@", ".", "..", "", "~tilde-_."};
    std::string path;
    const size_t count = Pick(5);
    for (size_t i = 0; i < count; ++i) path += "/" + std::string(kSegments[Pick(kSegments.size())]);
    if (Pick(3) == 0) path += "/";
    return path;
  }

  // Parameters as a client encodes them (upper-case %XX): reserved
  // characters, repeated keys, empty values, keys without '='.
  std::string Query() {
    static constexpr std::array<const char*, 4> kKeys = {"nextToken", "maxResults", "a", "A"};
    const size_t count = Pick(5);
    if (count == 0) return "";
    std::string query;
    for (size_t i = 0; i < count; ++i) {
      query += i == 0 ? "?" : "&";
      query +=
          Pick(4) == 0 ? http::PercentEncode(Text(1 + Pick(6), true)) : kKeys[Pick(kKeys.size())];
      const size_t shape = Pick(4);
      if (shape == 0) continue;  // no '='
      query += "=";
      if (shape > 1) query += http::PercentEncode(Text(Pick(20), true));
    }
    return query;
  }

  // Mixed-case names (some repeated, some never signed), values with
  // runs of spaces and tabs.
  json::array Header() {
    static constexpr std::array<const char*, 6> kNames = {
        "X-Amz-Target", "content-type", "My-Header", "my-header", "User-Agent", "X-Custom"};
    std::string value;
    const size_t words = 1 + Pick(3);
    for (size_t i = 0; i < words; ++i) {
      value += std::string(Pick(3), Pick(2) == 0 ? ' ' : '\t');
      value += Text(1 + Pick(8), false);
    }
    value += std::string(Pick(3), ' ');
    return {kNames[Pick(kNames.size())], value};
  }

  std::mt19937 random_;
};

TEST(SigV4ReferenceTest, MatchesBotocoreOnRandomRequests) {
  constexpr int kRequests = 200;
  testing::TempDir dir("syncd-sigv4");
  ASSERT_FALSE(dir.path().empty());
  RandomRequests random(20240611);
  std::vector<json::object> specs;
  specs.reserve(kRequests);
  {
    std::ofstream out(dir.path() + "/specs.jsonl");
    for (int i = 0; i < kRequests; ++i) {
      specs.push_back(random.Next());
      out << json::serialize(specs.back()) << "\n";
    }
  }
  const std::string command = "python3 " + SourceDir() + "/tests/aws-sign-reference.py < " +
                              dir.path() + "/specs.jsonl > " + dir.path() + "/expected.txt";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::istringstream expected(ReadFile(dir.path() + "/expected.txt"));

  for (const json::object& spec : specs) {
    std::string botocore;
    ASSERT_TRUE(std::getline(expected, botocore)) << "botocore printed too few lines";
    http::Request request{.method = json::value_to<std::string>(spec.at("method")),
                          .url = json::value_to<std::string>(spec.at("url")),
                          .body = json::value_to<std::string>(spec.at("body"))};
    for (const json::value& header : spec.at("headers").as_array()) {
      request.headers.push_back({json::value_to<std::string>(header.as_array().at(0)),
                                 json::value_to<std::string>(header.as_array().at(1))});
    }
    const Credentials credentials{
        .access_key_id = json::value_to<std::string>(spec.at("access_key_id")),
        .secret_access_key = json::value_to<std::string>(spec.at("secret_access_key")),
        .session_token = json::value_to<std::string>(spec.at("session_token"))};
    const SigningScope scope{json::value_to<std::string>(spec.at("region")),
                             json::value_to<std::string>(spec.at("service"))};
    const std::string stamp = json::value_to<std::string>(spec.at("timestamp"));
    const std::string iso = stamp.substr(0, 4) + "-" + stamp.substr(4, 2) + "-" +
                            stamp.substr(6, 5) + ":" + stamp.substr(11, 2) + ":" +
                            stamp.substr(13, 3);
    const auto unix_seconds = ParseUtcTimestamp(iso);
    ASSERT_TRUE(unix_seconds.has_value()) << iso;
    const SignatureParts parts = SignV4(request, credentials, scope, At(*unix_seconds));
    EXPECT_EQ(parts.authorization, botocore) << json::serialize(spec) << "\ncanonical request:\n"
                                             << parts.canonical_request;
  }
}

}  // namespace
}  // namespace syncd::aws
