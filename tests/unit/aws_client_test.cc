// The AWS JSON 1.1 client (aws/client.h): the error classifier, and calls
// against the AWS test peer (tests/aws-peer: moto checking every signature
// and IAM policy, plus fault knobs), started once for this binary.
#include "aws/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>

#include "tests/unit/test_util.h"

namespace syncd::aws {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(SanitizeErrorTypeTest, StripsNamespaceAndSuffix) {
  EXPECT_EQ(SanitizeErrorType("aws.protocol#ThrottlingException:http://internal.amazon.com/"),
            "ThrottlingException");
  EXPECT_EQ(SanitizeErrorType("com.amazonaws.swbexternalservice#ConflictException"),
            "ConflictException");
  EXPECT_EQ(SanitizeErrorType("ValidationException:"), "ValidationException");
  EXPECT_EQ(SanitizeErrorType("AccessDeniedException"), "AccessDeniedException");
  EXPECT_EQ(SanitizeErrorType(""), "");
}

TEST(ClassifyErrorTest, ByTypeNameThenByStatus) {
  struct Case {
    const char* type;
    const char* message;
    long status;
    ErrorKind kind;
  };
  const Case cases[] = {
      // JSON-protocol errors come with 400 whatever they are: the name decides.
      {"ThrottlingException", "Rate exceeded", 400, ErrorKind::kThrottling},
      {"TooManyRequestsException", "", 400, ErrorKind::kThrottling},
      {"ConflictException", "", 400, ErrorKind::kConflict},
      {"ConcurrentModificationException", "", 400, ErrorKind::kConflict},
      {"AccessDeniedException", "not authorized", 400, ErrorKind::kAccessDenied},
      {"AccessDenied", "", 403, ErrorKind::kAccessDenied},
      {"ResourceNotFoundException", "", 400, ErrorKind::kNotFound},
      {"AccountNotFoundException", "", 400, ErrorKind::kNotFound},
      {"ValidationException", "", 400, ErrorKind::kValidation},
      {"ValidationException", "", 500, ErrorKind::kValidation},
      {"ServiceQuotaExceededException", "", 402, ErrorKind::kQuotaExceeded},
      {"UnrecognizedClientException", "The security token included in the request is invalid", 400,
       ErrorKind::kAuthFailure},
      {"InvalidClientTokenId", "", 403, ErrorKind::kAuthFailure},
      {"ExpiredTokenException", "", 400, ErrorKind::kAuthFailure},
      {"SignatureDoesNotMatch", "The request signature we calculated does not match", 403,
       ErrorKind::kAuthFailure},
      {"InvalidSignatureException", "The request signature we calculated does not match", 403,
       ErrorKind::kAuthFailure},
      {"InvalidSignatureException",
       "Signature expired: 20240101T000000Z is now earlier than 20240101T001000Z", 403,
       ErrorKind::kClockSkew},
      {"InvalidSignatureException", "Signature not yet current: 20240101T010000Z is still later",
       403, ErrorKind::kClockSkew},
      {"RequestTimeTooSkewed", "", 403, ErrorKind::kClockSkew},
      {"InternalServerException", "", 500, ErrorKind::kServer},
      {"ServiceUnavailable", "", 503, ErrorKind::kServer},
      // Unknown names fall back to the status.
      {"SomethingNew", "", 503, ErrorKind::kServer},
      {"", "", 502, ErrorKind::kServer},
      {"", "", 429, ErrorKind::kThrottling},
      {"", "", 403, ErrorKind::kAccessDenied},
      {"SomethingNew", "", 400, ErrorKind::kValidation},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ErrorKindName(ClassifyError(c.type, c.message, c.status)), ErrorKindName(c.kind))
        << c.type << " " << c.status << " " << c.message;
  }
  for (const ErrorKind kind :
       {ErrorKind::kThrottling, ErrorKind::kConflict, ErrorKind::kServer, ErrorKind::kTransport}) {
    EXPECT_TRUE(IsRetryable(kind)) << ErrorKindName(kind);
  }
  for (const ErrorKind kind :
       {ErrorKind::kAccessDenied, ErrorKind::kNotFound, ErrorKind::kValidation,
        ErrorKind::kQuotaExceeded, ErrorKind::kAuthFailure, ErrorKind::kClockSkew}) {
    EXPECT_FALSE(IsRetryable(kind)) << ErrorKindName(kind);
  }
}

TEST(ErrorTest, ToStringAndToStatus) {
  Error error{.kind = ErrorKind::kThrottling,
              .type = "ThrottlingException",
              .message = "Rate exceeded",
              .http_status = 400,
              .operation = "SSO Admin CreateAccountAssignment",
              .request_id = "1234"};
  EXPECT_EQ(error.ToString(),
            "SSO Admin CreateAccountAssignment: ThrottlingException: Rate exceeded (request 1234)");
  EXPECT_EQ(error.ToStatus().code(), Status::Code::kUnavailable);
  error.kind = ErrorKind::kAccessDenied;
  EXPECT_EQ(error.ToStatus().code(), Status::Code::kPermissionDenied);
  error.kind = ErrorKind::kNotFound;
  EXPECT_EQ(error.ToStatus().code(), Status::Code::kNotFound);
  error.kind = ErrorKind::kValidation;
  EXPECT_EQ(error.ToStatus().code(), Status::Code::kInvalidArgument);
}

// The peer's process and the JSON line it printed.
class AwsPeer {
 public:
  static AwsPeer& Get() {
    static AwsPeer peer;
    return peer;
  }
  ~AwsPeer() {
    if (pid_ > 0) kill(pid_, SIGTERM);
  }
  AwsPeer(const AwsPeer&) = delete;
  AwsPeer& operator=(const AwsPeer&) = delete;

  bool ok() const { return !info_.empty(); }
  const std::string& log() const { return log_; }
  std::string Field(const char* name) const { return json::value_to<std::string>(info_.at(name)); }

 private:
  AwsPeer() {
    const char* root = std::getenv("SYNCD_SOURCE_DIR");
    const std::string out = dir_.path() + "/peer.json";
    const std::string command = "python3 " + std::string(root != nullptr ? root : ".") +
                                "/tests/aws-peer/peer.py --port 0 --permission-sets 5 > " + out +
                                " 2> " + dir_.path() + "/peer.log & echo $! > " + dir_.path() +
                                "/peer.pid";
    if (std::system(command.c_str()) != 0) return;
    pid_ = std::atoi(Read(dir_.path() + "/peer.pid").c_str());
    // Polls for the line the peer prints once it serves (a few seconds).
    for (int i = 0; i < 600; ++i) {
      const std::string text = Read(out);
      if (text.find('\n') != std::string::npos) {
        boost::system::error_code ec;
        json::value parsed = json::parse(text.substr(0, text.find('\n')), ec);
        if (!ec && parsed.is_object()) info_ = parsed.as_object();
        break;
      }
      if (kill(pid_, 0) != 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    log_ = Read(dir_.path() + "/peer.log");
  }

  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  testing::TempDir dir_{"syncd-aws-peer"};
  pid_t pid_ = -1;
  json::object info_;
  std::string log_;
};

class AwsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(peer_.ok()) << "the AWS peer did not start:\n" << peer_.log();
    ASSERT_FALSE(dir_.path().empty());
    for (const char* name : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"}) {
      saved_.emplace_back(name, testing::GetEnv(name));
      unsetenv(name);
    }
    auto http = http::Client::Create(loop_.get_executor(), {});
    ASSERT_TRUE(http.ok()) << http.status().ToString();
    http_ = std::move(*http);
    const std::string credentials = dir_.path() + "/credentials";
    {
      std::ofstream out(credentials);
      out << "[syncd]\naws_access_key_id = " << peer_.Field("access_key_id")
          << "\naws_secret_access_key = " << peer_.Field("secret_access_key")
          << "\n[admin]\naws_access_key_id = " << peer_.Field("admin_access_key_id")
          << "\naws_secret_access_key = " << peer_.Field("admin_secret_access_key")
          << "\n[wrong]\naws_access_key_id = " << peer_.Field("access_key_id")
          << "\naws_secret_access_key = " << kWrongSecret << "\n";
    }
    chmod(credentials.c_str(), 0600);
    std::ofstream(dir_.path() + "/config") << "";
  }

  void TearDown() override {
    if (peer_.ok()) SetFaults(R"({"replace": true})");
    for (const auto& [name, value] : saved_) testing::RestoreEnv(name, value);
  }

  static constexpr const char* kWrongSecret = "wrongSecretAbcdefghijklmnopqrstuvwxyz0123";

  CredentialOptions Profile(const std::string& profile) {
    CredentialOptions options;
    options.profile = profile;
    options.credentials_file = dir_.path() + "/credentials";
    options.config_file = dir_.path() + "/config";
    return options;
  }

  std::unique_ptr<CredentialProvider> Credentials(const CredentialOptions& options) {
    auto provider = CredentialProvider::Create(loop_.get_executor(), options);
    EXPECT_TRUE(provider.ok()) << provider.status().ToString();
    return provider.ok() ? std::move(*provider) : nullptr;
  }

  std::unique_ptr<Client> MakeClient(CredentialProvider& credentials, double rate_limit = 0) {
    ClientOptions options;
    options.region = peer_.Field("region");
    options.endpoint_url = peer_.Field("url");
    options.rate_limit = rate_limit;
    return std::make_unique<Client>(loop_.get_executor(), *http_, credentials, options);
  }

  // Runs `awaitable` on the loop until it completes (the HTTP client may
  // keep other work on the loop).
  template <typename T>
  T Run(boost::asio::awaitable<T> awaitable) {
    auto future = boost::asio::co_spawn(loop_, std::move(awaitable), boost::asio::use_future);
    loop_.restart();
    while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      loop_.run_one_for(std::chrono::milliseconds(100));
    }
    return future.get();
  }

  void SetFaults(const std::string& faults) {
    http::Request request{.method = "POST", .url = peer_.Field("url") + "/_peer/faults"};
    request.headers.push_back({"Content-Type", "application/json"});
    request.body = faults;
    auto response = Run(http_->Send(std::move(request)));
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    ASSERT_EQ(response->status, 200) << response->body;
  }

  AwsPeer& peer_ = AwsPeer::Get();
  testing::TempDir dir_{"syncd-aws-client"};
  boost::asio::io_context loop_;
  std::unique_ptr<http::Client> http_;
  std::vector<std::pair<const char*, std::optional<std::string>>> saved_;
};

TEST_F(AwsClientTest, ListInstancesWithTheLeastPrivilegeUser) {
  auto credentials = Credentials(Profile("syncd"));
  ASSERT_NE(credentials, nullptr);
  auto client = MakeClient(*credentials);
  const json::object input;
  CallResult result = Run(client->Call(kSsoAdmin, "ListInstances", input));
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  const json::array& instances = result.output().at("Instances").as_array();
  ASSERT_EQ(instances.size(), 1U);
  EXPECT_EQ(json::value_to<std::string>(instances[0].at("InstanceArn")),
            peer_.Field("instance_arn"));
  EXPECT_EQ(json::value_to<std::string>(instances[0].at("IdentityStoreId")),
            peer_.Field("identity_store_id"));
  EXPECT_EQ(client->stats().calls, 1);
  EXPECT_EQ(client->stats().retries, 0);
  EXPECT_EQ(client->clock_offset(), std::chrono::milliseconds(0));
}

TEST_F(AwsClientTest, WrongSecretIsAClearAuthFailureWithoutTheSecret) {
  auto credentials = Credentials(Profile("wrong"));
  ASSERT_NE(credentials, nullptr);
  auto client = MakeClient(*credentials);
  const json::object input;
  CallResult result = Run(client->Call(kSsoAdmin, "ListInstances", input));
  ASSERT_FALSE(result.ok());
  const Error& error = result.error();
  EXPECT_EQ(ErrorKindName(error.kind), ErrorKindName(ErrorKind::kAuthFailure));
  EXPECT_EQ(error.type, "InvalidSignatureException");
  EXPECT_EQ(error.http_status, 403);
  EXPECT_FALSE(error.request_id.empty());
  const std::string text = error.ToString();
  EXPECT_THAT(text, HasSubstr("SSO Admin ListInstances: InvalidSignatureException: "));
  EXPECT_THAT(text, HasSubstr("signature"));
  EXPECT_THAT(text, HasSubstr("credentials: profile wrong in " + dir_.path() + "/credentials"));
  EXPECT_THAT(text, Not(HasSubstr(kWrongSecret)));
  EXPECT_THAT(text, Not(HasSubstr(peer_.Field("secret_access_key"))));
  EXPECT_EQ(error.ToStatus().code(), Status::Code::kPermissionDenied);
  // Static keys: nothing fresher to retry with.
  EXPECT_EQ(client->stats().calls, 1);
}

TEST_F(AwsClientTest, MissingPermissionIsAccessDeniedNamingTheAction) {
  auto credentials = Credentials(Profile("syncd"));
  ASSERT_NE(credentials, nullptr);
  auto client = MakeClient(*credentials);
  json::object input{{"InstanceArn", peer_.Field("instance_arn")}, {"Name", "NotAllowed"}};
  CallResult result = Run(client->CallRetrying(kSsoAdmin, "CreatePermissionSet", input));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(ErrorKindName(result.error().kind), ErrorKindName(ErrorKind::kAccessDenied));
  EXPECT_THAT(result.error().message, HasSubstr("sso:CreatePermissionSet"));
  EXPECT_EQ(client->stats().calls, 1);  // not retried
}

TEST_F(AwsClientTest, ListAllFollowsNextTokenToTheEnd) {
  auto credentials = Credentials(Profile("syncd"));
  ASSERT_NE(credentials, nullptr);
  auto client = MakeClient(*credentials);
  json::object input{{"InstanceArn", peer_.Field("instance_arn")}, {"MaxResults", 2}};
  auto sets = Run(client->ListAll(kSsoAdmin, "ListPermissionSets", input, "PermissionSets"));
  ASSERT_TRUE(sets.ok()) << sets.status().ToString();
  EXPECT_EQ(sets->size(), 5U);  // --permission-sets 5
  EXPECT_EQ(client->stats().calls, 3);
  std::set<std::string> unique;
  for (const json::value& arn : *sets) unique.insert(json::value_to<std::string>(arn));
  EXPECT_EQ(unique.size(), 5U);
}

TEST_F(AwsClientTest, ClockSkewIsLearnedFromTheDateHeaderAndRetriedOnce) {
  // The peer's clock runs 15 minutes ahead; its limit is 5.
  SetFaults(R"({"clock_offset": 900})");
  auto credentials = Credentials(Profile("syncd"));
  ASSERT_NE(credentials, nullptr);
  auto client = MakeClient(*credentials);
  const json::object input;
  CallResult result = Run(client->Call(kSsoAdmin, "ListInstances", input));
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(client->stats().calls, 2);
  EXPECT_EQ(client->stats().retries, 1);
  const auto offset = std::chrono::duration_cast<std::chrono::seconds>(client->clock_offset());
  EXPECT_GE(offset.count(), 890);
  EXPECT_LE(offset.count(), 910);
  // Later calls sign with the corrected clock at once.
  CallResult again = Run(client->Call(kSsoAdmin, "ListInstances", input));
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(client->stats().calls, 3);

  // The same from the other side: this host's clock an hour behind.
  SetFaults(R"({"replace": true})");
  auto behind = MakeClient(*credentials);
  behind->SetClockForTesting(
      [] { return std::chrono::system_clock::now() - std::chrono::hours(1); });
  CallResult corrected = Run(behind->Call(kSsoAdmin, "ListInstances", input));
  ASSERT_TRUE(corrected.ok()) << corrected.error().ToString();
  EXPECT_GE(std::chrono::duration_cast<std::chrono::seconds>(behind->clock_offset()).count(), 3590);
}

TEST_F(AwsClientTest, ThrottledCallsAreRetriedWithJitterAndReported) {
  // Five calls per second at most, no burst: back-to-back calls are throttled.
  SetFaults(R"({"rate": 5, "burst": 1})");
  auto credentials = Credentials(Profile("syncd"));
  ASSERT_NE(credentials, nullptr);
  auto client = MakeClient(*credentials);
  int throttle_callbacks = 0;
  client->OnThrottle([&] { ++throttle_callbacks; });
  client->SetRandomForTesting([] { return 1.0; });
  const RetryOptions retry{.max_attempts = 20,
                           .base = std::chrono::milliseconds(50),
                           .cap = std::chrono::milliseconds(200)};
  const json::object input;
  for (int i = 0; i < 4; ++i) {
    CallResult result = Run(client->CallRetrying(kSsoAdmin, "ListInstances", input, retry));
    ASSERT_TRUE(result.ok()) << result.error().ToString();
  }
  EXPECT_GT(client->stats().throttled, 0);
  EXPECT_EQ(throttle_callbacks, client->stats().throttled);
  EXPECT_EQ(client->stats().retries, client->stats().throttled);
  EXPECT_EQ(client->stats().calls, 4 + client->stats().retries);

  // Without retries the throttle is the answer.
  SetFaults(R"({"rate": 1, "burst": 1})");
  CallResult once = Run(client->Call(kSsoAdmin, "ListInstances", input));
  CallResult twice = Run(client->Call(kSsoAdmin, "ListInstances", input));
  EXPECT_TRUE(!once.ok() || !twice.ok());
  const Error& error = once.ok() ? twice.error() : once.error();
  EXPECT_EQ(error.type, "ThrottlingException");
  EXPECT_EQ(ErrorKindName(error.kind), ErrorKindName(ErrorKind::kThrottling));
}

TEST_F(AwsClientTest, RefusedTemporaryCredentialsAreRefreshedOnce) {
  // The helper hands out a wrong secret first, the right one after.
  const std::string runs = dir_.path() + "/runs";
  const std::string helper = dir_.path() + "/helper.sh";
  {
    std::ofstream out(helper);
    out << "#!/bin/sh\nif [ -e " << runs << " ]; then secret='" << peer_.Field("secret_access_key")
        << "'; else secret=" << kWrongSecret << "; fi\necho run >> " << runs
        << "\nprintf '{\"Version\": 1, \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"%s\"}' "
        << peer_.Field("access_key_id") << " \"$secret\"\n";
  }
  chmod(helper.c_str(), 0700);
  std::ofstream(dir_.path() + "/config")
      << "[profile process]\ncredential_process = " << helper << "\n";
  auto credentials = Credentials(Profile("process"));
  ASSERT_NE(credentials, nullptr);
  auto client = MakeClient(*credentials);
  const json::object input;
  CallResult result = Run(client->Call(kSsoAdmin, "ListInstances", input));
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(client->stats().calls, 2);
  EXPECT_EQ(client->stats().retries, 1);
}

TEST_F(AwsClientTest, OrganizationsAndIdentityStoreThroughTheSameEndpoint) {
  auto credentials = Credentials(Profile("admin"));
  ASSERT_NE(credentials, nullptr);
  auto client = MakeClient(*credentials, 50);
  json::object input{{"MaxResults", 2}};
  auto accounts = Run(client->ListAll(kOrganizations, "ListAccounts", input, "Accounts"));
  ASSERT_TRUE(accounts.ok()) << accounts.status().ToString();
  EXPECT_EQ(accounts->size(), 4U);  // the management account and 3 members
  json::object users{{"IdentityStoreId", peer_.Field("identity_store_id")}};
  auto listed = Run(client->ListAll(kIdentityStore, "ListUsers", users, "Users"));
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
}

TEST_F(AwsClientTest, NoAnswerIsATransportError) {
  auto credentials = Credentials(Profile("syncd"));
  ASSERT_NE(credentials, nullptr);
  ClientOptions options;
  options.region = "us-east-1";
  options.endpoint_url = "http://127.0.0.1:1";
  options.timeout = std::chrono::milliseconds(2000);
  Client client(loop_.get_executor(), *http_, *credentials, options);
  const json::object input;
  CallResult result = Run(client.Call(kSsoAdmin, "ListInstances", input));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(ErrorKindName(result.error().kind), ErrorKindName(ErrorKind::kTransport));
  EXPECT_EQ(result.error().ToStatus().code(), Status::Code::kUnavailable);
}

}  // namespace
}  // namespace syncd::aws
