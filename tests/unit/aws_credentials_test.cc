// The AWS credential chain (aws/credentials.h): INI parsing, environment and
// profile selection, the permission check, and credential_process run for
// real (small shell scripts in a temporary directory).
#include "aws/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/strings.h"
#include "tests/unit/test_util.h"

namespace syncd::aws {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::array<const char*, 9> kAwsVariables = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",       "AWS_SESSION_TOKEN",
    "AWS_PROFILE",       "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
    "AWS_REGION",        "AWS_DEFAULT_REGION",          "HOME"};

TEST(ParseIniTest, SectionsKeysCommentsAndNestedSubSections) {
  const std::string text =
      "# a comment\n"
      "[default]\n"
      "Region = eu-west-1\r\n"
      "; another comment\n"
      "s3 =\n"
      "  max_concurrent_requests = 20\n"
      "\tsignature_version = s3v4\n"
      "\n"
      "[profile syncd]\n"
      "credential_process = /usr/bin/helper --flag \"a b\"\n"
      "output=json\n";
  auto ini = ParseIni(text, "/etc/aws/config");
  ASSERT_TRUE(ini.ok()) << ini.status().ToString();
  const IniFile expected = {
      {"default", {{"region", "eu-west-1"}, {"s3", ""}}},
      {"profile syncd",
       {{"credential_process", "/usr/bin/helper --flag \"a b\""}, {"output", "json"}}}};
  EXPECT_EQ(*ini, expected);
}

TEST(ParseIniTest, MalformedLinesNameTheFileAndLineButNotTheText) {
  auto no_equals = ParseIni("[default]\nwJalrXUtnFEMI-secret-looking\n", "/root/.aws/credentials");
  ASSERT_FALSE(no_equals.ok());
  EXPECT_THAT(no_equals.status().message(), HasSubstr("/root/.aws/credentials line 2"));
  EXPECT_THAT(no_equals.status().message(), Not(HasSubstr("secret-looking")));

  auto before_section = ParseIni("region = x\n[default]\n", "cfg");
  ASSERT_FALSE(before_section.ok());
  EXPECT_THAT(before_section.status().message(), HasSubstr("cfg line 1"));

  EXPECT_FALSE(ParseIni("[default\n", "cfg").ok());
}

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    for (const char* name : kAwsVariables) {
      saved_.emplace_back(name, testing::GetEnv(name));
      unsetenv(name);
    }
    setenv("HOME", dir_.path().c_str(), 1);
  }
  void TearDown() override {
    for (const auto& [name, value] : saved_) testing::RestoreEnv(name, value);
  }

  // Writes `text` to `name` in the temp dir with `mode`; returns its path.
  std::string Write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    std::string path = dir_.path() + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    {
      std::ofstream out(path);
      out << text;
    }
    chmod(path.c_str(), mode);
    return path;
  }

  // A shell script as a credential helper.
  std::string Script(const std::string& name, const std::string& body) {
    return Write(name, "#!/bin/sh\n" + body, 0700);
  }

  CredentialOptions Options(const std::string& profile = "") {
    CredentialOptions options;
    options.profile = profile;
    options.credentials_file = dir_.path() + "/credentials";
    options.config_file = dir_.path() + "/config";
    return options;
  }

  Result<std::unique_ptr<CredentialProvider>> Create(CredentialOptions options) {
    return CredentialProvider::Create(loop_.get_executor(), std::move(options));
  }

  template <typename T>
  T Run(boost::asio::awaitable<T> awaitable) {
    auto future = boost::asio::co_spawn(loop_, std::move(awaitable), boost::asio::use_future);
    loop_.restart();
    loop_.run();
    return future.get();
  }

  Result<Credentials> Get(CredentialProvider& provider) { return Run(provider.Get()); }

  int Counter(const std::string& name) {
    std::ifstream in(dir_.path() + "/" + name);
    int lines = 0;
    std::string line;
    while (std::getline(in, line)) ++lines;
    return lines;
  }

  testing::TempDir dir_{"syncd-aws-cred"};
  boost::asio::io_context loop_;
  std::vector<std::pair<const char*, std::optional<std::string>>> saved_;
};

TEST_F(CredentialsTest, EnvironmentComesFirst) {
  Write("credentials",
        "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n");
  Write("config", "");
  setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
  setenv("AWS_SESSION_TOKEN", "envtoken", 1);
  auto provider = Create(Options());
  ASSERT_TRUE(provider.ok()) << provider.status().ToString();
  EXPECT_EQ((*provider)->Describe(), "environment");
  auto credentials = Get(**provider);
  ASSERT_TRUE(credentials.ok());
  EXPECT_EQ(credentials->access_key_id, "ENVKEY");
  EXPECT_EQ(credentials->secret_access_key, "envsecret");
  EXPECT_EQ(credentials->session_token, "envtoken");
  EXPECT_FALSE(credentials->expiration.has_value());
}

TEST_F(CredentialsTest, HalfAnEnvironmentIsAnError) {
  setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
  auto provider = Create(Options());
  ASSERT_FALSE(provider.ok());
  EXPECT_THAT(provider.status().message(), HasSubstr("AWS_SECRET_ACCESS_KEY"));
}

TEST_F(CredentialsTest, ProfileFromOptionsThenAwsProfileThenDefault) {
  const std::string path = Write("credentials",
                                 "[default]\naws_access_key_id = DEFAULTKEY\n"
                                 "aws_secret_access_key = s1\n"
                                 "[syncd]\naws_access_key_id = SYNCDKEY\n"
                                 "aws_secret_access_key = s2\naws_session_token = t2\n"
                                 "[other]\naws_access_key_id = OTHERKEY\n"
                                 "aws_secret_access_key = s3\n");
  Write("config", "");
  auto key_of = [&](const CredentialOptions& options) -> std::string {
    auto provider = Create(options);
    if (!provider.ok()) return provider.status().ToString();
    auto credentials = Get(**provider);
    return credentials.ok() ? credentials->access_key_id : credentials.status().ToString();
  };
  EXPECT_EQ(key_of(Options()), "DEFAULTKEY");
  setenv("AWS_PROFILE", "other", 1);
  EXPECT_EQ(key_of(Options()), "OTHERKEY");
  EXPECT_EQ(key_of(Options("syncd")), "SYNCDKEY");
  auto provider = Create(Options("syncd"));
  ASSERT_TRUE(provider.ok());
  EXPECT_EQ((*provider)->Describe(), "profile syncd in " + path);

  // The default paths under $HOME, and the AWS_SHARED_CREDENTIALS_FILE
  // override.
  unsetenv("AWS_PROFILE");
  Write(".aws/credentials", "[default]\naws_access_key_id = HOMEKEY\naws_secret_access_key = s\n");
  EXPECT_EQ(key_of(CredentialOptions{}), "HOMEKEY");
  setenv("AWS_SHARED_CREDENTIALS_FILE", path.c_str(), 1);
  EXPECT_EQ(key_of(CredentialOptions{}), "DEFAULTKEY");
}

TEST_F(CredentialsTest, ConfigSectionsAreNamedProfileXAndCredentialsWin) {
  Write("credentials",
        "[both]\naws_access_key_id = CREDKEY\naws_secret_access_key = s\n"
        "[profile wrong]\naws_access_key_id = NOPE\naws_secret_access_key = s\n");
  const std::string config = Write("config",
                                   "[profile both]\naws_access_key_id = CONFIGKEY\n"
                                   "aws_secret_access_key = s\nregion = eu-central-1\n"
                                   "[profile cfg]\naws_access_key_id = CFGKEY\n"
                                   "aws_secret_access_key = s\n"
                                   "[bare]\naws_access_key_id = BAREKEY\n"
                                   "aws_secret_access_key = s\n"
                                   "[default]\nregion = ap-south-1\n");
  auto both = Create(Options("both"));
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(Get(**both)->access_key_id, "CREDKEY");

  auto cfg = Create(Options("cfg"));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(Get(**cfg)->access_key_id, "CFGKEY");
  EXPECT_EQ((*cfg)->Describe(), "profile cfg in " + config);

  // [bare] in the config file is not a profile; the error says so.
  auto bare = Create(Options("bare"));
  ASSERT_FALSE(bare.ok());
  EXPECT_EQ(bare.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(bare.status().message(), HasSubstr("[profile bare]"));
  // Nor is [profile X] in the credentials file.
  EXPECT_FALSE(Create(Options("wrong")).ok());

  EXPECT_EQ(ProfileRegion(Options("both")), "eu-central-1");
  EXPECT_EQ(ProfileRegion(Options()), "ap-south-1");
  EXPECT_EQ(ProfileRegion(Options("cfg")), "");
  setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
  EXPECT_EQ(ProfileRegion(Options("both")), "us-west-1");
  setenv("AWS_REGION", "us-east-2", 1);
  EXPECT_EQ(ProfileRegion(Options("both")), "us-east-2");
}

TEST_F(CredentialsTest, UnsupportedProvidersPointAtCredentialProcess) {
  Write("credentials", "");
  for (const std::string key : {"role_arn", "sso_session", "sso_start_url",
                                "web_identity_token_file", "credential_source", "source_profile"}) {
    SCOPED_TRACE(key);
    const std::string config = Write("config", "[profile admin]\n" + key + " = something\n");
    auto provider = Create(Options("admin"));
    ASSERT_FALSE(provider.ok());
    EXPECT_EQ(provider.status().code(), Status::Code::kInvalidArgument);
    EXPECT_THAT(provider.status().message(), HasSubstr(key));
    EXPECT_THAT(provider.status().message(), HasSubstr(config));
    EXPECT_THAT(provider.status().message(),
                HasSubstr("aws configure export-credentials --profile admin --format process"));
  }
}

TEST_F(CredentialsTest, RefusesKeyFilesOthersCanRead) {
  const std::string path = Write("credentials",
                                 "[default]\naws_access_key_id = KEY\n"
                                 "aws_secret_access_key = topsecretvalue\n",
                                 0644);
  Write("config", "");
  auto provider = Create(Options());
  ASSERT_FALSE(provider.ok());
  EXPECT_EQ(provider.status().code(), Status::Code::kPermissionDenied);
  EXPECT_THAT(provider.status().message(), HasSubstr(path));
  EXPECT_THAT(provider.status().message(), HasSubstr("0644"));
  EXPECT_THAT(provider.status().message(), Not(HasSubstr("topsecretvalue")));
  chmod(path.c_str(), 0640);
  EXPECT_FALSE(Create(Options()).ok());
  chmod(path.c_str(), 0600);
  EXPECT_TRUE(Create(Options()).ok());

  // A config file without keys may be world-readable.
  const std::string helper = Script("helper.sh", "echo '{}'\n");
  Write("config", "[default]\ncredential_process = " + helper + "\n", 0644);
  Write("credentials", "");
  EXPECT_TRUE(Create(Options()).ok());
}

TEST_F(CredentialsTest, NamedFileThatDoesNotExistIsAnError) {
  Write("config", "");
  auto provider = Create(Options());
  ASSERT_FALSE(provider.ok());
  EXPECT_THAT(provider.status().message(), HasSubstr(dir_.path() + "/credentials does not exist"));
  // The default files may be absent.
  auto defaults = Create(CredentialOptions{});
  ASSERT_FALSE(defaults.ok());
  EXPECT_EQ(defaults.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(defaults.status().message(), HasSubstr("no AWS credentials"));
}

std::string ProcessJson(const std::string& expiration_shell) {
  return "printf '{\"Version\": 1, \"AccessKeyId\": \"PROCKEY%s\", \"SecretAccessKey\": "
         "\"procsecret\", \"SessionToken\": \"proctoken\", \"Expiration\": \"%s\"}' \"$1\" " +
         expiration_shell + "\n";
}

TEST_F(CredentialsTest, CredentialProcessIsCachedUntilNearExpiration) {
  const std::string runs = dir_.path() + "/runs";
  // Expires in an hour: cached.
  const std::string helper = Script(
      "bin dir/long lived.sh", "echo run >> " + runs + "\n" +
                                   ProcessJson("\"$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)\""));
  const std::string config = Write(
      "config", "[profile p]\ncredential_process = \"" + helper + "\" '-suffix with space'\n");
  Write("credentials", "");
  auto provider = Create(Options("p"));
  ASSERT_TRUE(provider.ok()) << provider.status().ToString();
  EXPECT_EQ((*provider)->Describe(), "credential_process of profile p in " + config);
  EXPECT_EQ(Counter("runs"), 0);  // not run by Create
  auto credentials = Get(**provider);
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  EXPECT_EQ(credentials->access_key_id, "PROCKEY-suffix with space");
  EXPECT_EQ(credentials->secret_access_key, "procsecret");
  EXPECT_EQ(credentials->session_token, "proctoken");
  ASSERT_TRUE(credentials->expiration.has_value());
  EXPECT_GT(*credentials->expiration, std::chrono::system_clock::now());
  ASSERT_TRUE(Get(**provider).ok());
  EXPECT_EQ(Counter("runs"), 1);
  (*provider)->Invalidate();
  ASSERT_TRUE(Get(**provider).ok());
  EXPECT_EQ(Counter("runs"), 2);

  // Calls that overlap share one run.
  (*provider)->Invalidate();
  auto first = boost::asio::co_spawn(loop_, (*provider)->Get(), boost::asio::use_future);
  auto second = boost::asio::co_spawn(loop_, (*provider)->Get(), boost::asio::use_future);
  loop_.restart();
  loop_.run();
  EXPECT_TRUE(first.get().ok());
  EXPECT_TRUE(second.get().ok());
  EXPECT_EQ(Counter("runs"), 3);
}

TEST_F(CredentialsTest, CredentialProcessRunsAgainWithinTheRefreshMargin) {
  // Expires in a minute, inside the default 5-minute margin: every Get runs it.
  const std::string helper = Script(
      "short.sh", "echo run >> " + dir_.path() + "/runs\n" +
                      ProcessJson("\"$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:%S.000+00:00)\""));
  Write("config", "[default]\ncredential_process = " + helper + "\n");
  Write("credentials", "");
  auto provider = Create(Options());
  ASSERT_TRUE(provider.ok());
  ASSERT_TRUE(Get(**provider).ok());
  ASSERT_TRUE(Get(**provider).ok());
  EXPECT_EQ(Counter("runs"), 2);
}

TEST_F(CredentialsTest, FailedProcessReportsStatusAndStderrButNeverStdout) {
  const std::string helper =
      Script("fail.sh",
             "echo '{\"Version\": 1, \"SecretAccessKey\": \"leakedsecret\"}'\n"
             "echo 'the SSO session expired; run aws sso login' >&2\n"
             "exit 3\n");
  Write("config", "[default]\ncredential_process = " + helper + "\n");
  Write("credentials", "");
  auto provider = Create(Options());
  ASSERT_TRUE(provider.ok());
  auto credentials = Get(**provider);
  ASSERT_FALSE(credentials.ok());
  const std::string message = credentials.status().message();
  EXPECT_THAT(message, HasSubstr("status 3"));
  EXPECT_THAT(message, HasSubstr("the SSO session expired; run aws sso login"));
  EXPECT_THAT(message, HasSubstr("credential_process of profile default"));
  EXPECT_THAT(message, Not(HasSubstr("leakedsecret")));
}

TEST_F(CredentialsTest, BadOutputIsNamedWithoutQuotingIt) {
  for (const std::string output : {"not json leakedsecret",
                                   "{\"Version\": 2, \"AccessKeyId\": \"A\", "
                                   "\"SecretAccessKey\": \"leakedsecret\"}",
                                   "{\"Version\": 1, \"SecretAccessKey\": \"leakedsecret\"}"}) {
    SCOPED_TRACE(output);
    const std::string helper = Script("bad.sh", "cat <<'EOF'\n" + output + "\nEOF\n");
    Write("config", "[default]\ncredential_process = " + helper + "\n");
    Write("credentials", "");
    auto provider = Create(Options());
    ASSERT_TRUE(provider.ok());
    auto credentials = Get(**provider);
    ASSERT_FALSE(credentials.ok());
    EXPECT_THAT(credentials.status().message(), HasSubstr("credential_process must print"));
    EXPECT_THAT(credentials.status().message(), Not(HasSubstr("leakedsecret")));
  }
}

TEST_F(CredentialsTest, ProcessThatHangsIsKilledAtTheTimeout) {
  // A grandchild holding the pipe open too: the whole group goes.
  const std::string helper = Script("hang.sh", "sleep 60 &\nsleep 60\n");
  Write("config", "[default]\ncredential_process = " + helper + "\n");
  Write("credentials", "");
  CredentialOptions options = Options();
  options.process_timeout = std::chrono::seconds(1);
  auto provider = Create(options);
  ASSERT_TRUE(provider.ok());
  auto credentials = Get(**provider);
  ASSERT_FALSE(credentials.ok());
  EXPECT_EQ(credentials.status().code(), Status::Code::kUnavailable);
  EXPECT_THAT(credentials.status().message(), HasSubstr("did not finish within 1 s"));
}

TEST_F(CredentialsTest, MissingProgramAndBadQuotingAreClear) {
  Write("credentials", "");
  Write("config", "[default]\ncredential_process = /nonexistent/helper --x\n");
  auto provider = Create(Options());
  ASSERT_TRUE(provider.ok());
  auto credentials = Get(**provider);
  ASSERT_FALSE(credentials.ok());
  EXPECT_THAT(credentials.status().message(), HasSubstr("cannot run /nonexistent/helper"));

  Write("config", "[default]\ncredential_process = \"/usr/bin/helper --x\n");
  auto unterminated = Create(Options());
  ASSERT_FALSE(unterminated.ok());
  EXPECT_THAT(unterminated.status().message(), HasSubstr("unterminated"));
}

}  // namespace
}  // namespace syncd::aws
