// Keytab checks and principal defaulting of KerberosCredentials, offline:
// keytabs made with ktutil, and a krb5.conf whose KDC is not there.
#include "ldap/kerberos.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "tests/unit/test_util.h"

namespace syncd::ldap {
namespace {

using testing::GetEnv;
using testing::RestoreEnv;
using testing::TempDir;

constexpr char kRealm[] = "CORP.EXAMPLE.COM";

class KerberosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    // A krb5.conf of our own: the realm, and a KDC where nothing listens.
    krb5_conf_ = dir_.path() + "/krb5.conf";
    WriteKrb5Conf(std::string("[libdefaults]\n  default_realm = ") + kRealm +
                  "\n  dns_lookup_kdc = false\n  dns_lookup_realm = false\n"
                  "[realms]\n  " +
                  kRealm + " = {\n    kdc = 127.0.0.1:9\n  }\n");
    setenv("KRB5_CONFIG", krb5_conf_.c_str(), 1);
    // The user's own cache: syncd must neither use nor touch it.
    user_ccache_ = "FILE:" + dir_.path() + "/user-cc";
    setenv("KRB5CCNAME", user_ccache_.c_str(), 1);
  }
  void TearDown() override {
    RestoreEnv("KRB5_CONFIG", saved_config_);
    RestoreEnv("KRB5CCNAME", saved_ccache_);
  }

  void WriteKrb5Conf(const std::string& text) const { std::ofstream(krb5_conf_) << text; }

  // A keytab at dir/name with one aes256 key (kvno 1) per principal, made
  // offline by ktutil. Empty if ktutil failed.
  std::string MakeKeytab(const std::string& name, const std::vector<std::string>& principals) {
    std::string path = dir_.path() + "/" + name;
    const std::string script = path + ".ktutil";
    {
      std::ofstream in(script);
      for (const auto& p : principals) {
        in << "addent -password -p " << p << " -k 1 -e aes256-cts-hmac-sha1-96\nPass-1-word\n";
      }
      in << "wkt " << path << "\nquit\n";
    }
    const std::string command = "ktutil <'" + script + "' >/dev/null 2>&1";
    if (std::system(command.c_str()) != 0 || access(path.c_str(), F_OK) != 0) return "";
    return path;
  }

  static bool HaveKtutil() { return std::system("command -v ktutil >/dev/null 2>&1") == 0; }

  TempDir dir_{"syncd-krb"};
  std::string krb5_conf_;
  std::string user_ccache_;
  std::optional<std::string> saved_config_ = GetEnv("KRB5_CONFIG");
  std::optional<std::string> saved_ccache_ = GetEnv("KRB5CCNAME");
};

std::string ShortHostUpper() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string out(host);
  out = out.substr(0, out.find('.'));
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

TEST(DefaultMachinePrincipal, ShortHostNameUpperCasedWithDollarAndRealm) {
  EXPECT_EQ(DefaultMachinePrincipal("sync01.corp.example.com", kRealm), "SYNC01$@CORP.EXAMPLE.COM");
  EXPECT_EQ(DefaultMachinePrincipal("sync01", kRealm), "SYNC01$@CORP.EXAMPLE.COM");
  EXPECT_EQ(DefaultMachinePrincipal("Web-Srv2.Other.Example", "OTHER.EXAMPLE"),
            "WEB-SRV2$@OTHER.EXAMPLE");
  EXPECT_EQ(DefaultMachinePrincipal("", kRealm), "");
  EXPECT_EQ(DefaultMachinePrincipal(".corp.example.com", kRealm), "");
  EXPECT_EQ(DefaultMachinePrincipal("sync01", ""), "");
}

TEST(KerberosOptionsTest, DefaultsToHostKeytabAndPrivateMemoryCache) {
  KerberosOptions options;
  EXPECT_EQ(options.keytab, "/etc/krb5.keytab");
  EXPECT_EQ(options.principal, "");
  EXPECT_EQ(options.ccache_name, "MEMORY:syncd");
}

TEST_F(KerberosTest, MissingKeytabSaysSo) {
  KerberosOptions options;
  options.keytab = dir_.path() + "/nope.keytab";
  options.principal = "svc-sync";
  auto creds = KerberosCredentials::Acquire(options);
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(creds.status().message(), "source.keytab: " + options.keytab + " does not exist");
  EXPECT_EQ(GetEnv("KRB5CCNAME"), user_ccache_) << "KRB5CCNAME is set only on success";
}

TEST_F(KerberosTest, DirectoryIsNotReadableAsKeytab) {
  KerberosOptions options;
  options.keytab = dir_.path();
  options.principal = "svc-sync";
  auto creds = KerberosCredentials::Acquire(options);
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(creds.status().message(),
            "source.keytab: " + dir_.path() + " is a directory, expected a Kerberos keytab file");
}

TEST_F(KerberosTest, UnreadableKeytabSaysPermissionDenied) {
  if (geteuid() == 0) {
    GTEST_SKIP() << "running as root, which reads a mode-000 file anyway; the directory case "
                    "covers the read error";
  }
  const std::string path = dir_.path() + "/locked.keytab";
  std::ofstream(path) << "x";
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  KerberosOptions options;
  options.keytab = path;
  auto creds = KerberosCredentials::Acquire(options);
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().message(),
            "source.keytab: " + path + " cannot be read: Permission denied");
}

TEST_F(KerberosTest, FileThatIsNotAKeytab) {
  const std::string path = dir_.path() + "/text.keytab";
  std::ofstream(path) << "not a keytab\n";
  KerberosOptions options;
  options.keytab = path;
  options.principal = "svc-sync";
  auto creds = KerberosCredentials::Acquire(options);
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(creds.status().message().find("keytab " + path + " cannot be read as a keytab: "),
            std::string::npos)
      << creds.status().message();
}

TEST_F(KerberosTest, KeytabWithoutThePrincipalListsWhatItHolds) {
  if (!HaveKtutil()) GTEST_SKIP() << "ktutil (krb5-user) is not installed";
  // Neither matches exactly: another service, the name in lower case, another realm.
  const std::string keytab =
      MakeKeytab("host.keytab",
                 {"host/sync01.corp.example.com@CORP.EXAMPLE.COM", "sync01$@CORP.EXAMPLE.COM",
                  "SYNC01$@OTHER.EXAMPLE.COM", "host/sync01.corp.example.com@CORP.EXAMPLE.COM"});
  ASSERT_FALSE(keytab.empty());
  KerberosOptions options;
  options.keytab = keytab;
  options.principal = "SYNC01$@CORP.EXAMPLE.COM";
  auto creds = KerberosCredentials::Acquire(options);
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(creds.status().message(),
            "keytab " + keytab +
                " holds no key for SYNC01$@CORP.EXAMPLE.COM (it holds: "
                "host/sync01.corp.example.com@CORP.EXAMPLE.COM, sync01$@CORP.EXAMPLE.COM, "
                "SYNC01$@OTHER.EXAMPLE.COM)");
  EXPECT_EQ(GetEnv("KRB5CCNAME"), user_ccache_);
}

TEST_F(KerberosTest, PrincipalWithoutRealmGetsTheDefaultRealm) {
  if (!HaveKtutil()) GTEST_SKIP() << "ktutil (krb5-user) is not installed";
  const std::string keytab = MakeKeytab("svc.keytab", {"other@CORP.EXAMPLE.COM"});
  ASSERT_FALSE(keytab.empty());
  KerberosOptions options;
  options.keytab = "FILE:" + keytab;  // the prefix is accepted
  options.principal = "svc-sync";
  auto creds = KerberosCredentials::Acquire(options);
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().message(), "keytab " + keytab +
                                          " holds no key for svc-sync@CORP.EXAMPLE.COM "
                                          "(it holds: other@CORP.EXAMPLE.COM)");
}

TEST_F(KerberosTest, NoPrincipalMeansTheMachineAccount) {
  if (!HaveKtutil()) GTEST_SKIP() << "ktutil (krb5-user) is not installed";
  const std::string keytab = MakeKeytab("krb5.keytab", {"other@CORP.EXAMPLE.COM"});
  ASSERT_FALSE(keytab.empty());
  KerberosOptions options;
  options.keytab = keytab;
  auto creds = KerberosCredentials::Acquire(options);
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().message(), "keytab " + keytab + " holds no key for " + ShortHostUpper() +
                                          "$@CORP.EXAMPLE.COM (it holds: other@CORP.EXAMPLE.COM)");
}

TEST_F(KerberosTest, NoPrincipalAndNoDefaultRealm) {
  WriteKrb5Conf("[libdefaults]\n  dns_lookup_realm = false\n");
  const std::string keytab = dir_.path() + "/any.keytab";
  std::ofstream(keytab) << "x";
  KerberosOptions options;
  options.keytab = keytab;
  auto creds = KerberosCredentials::Acquire(options);
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(creds.status().message().find(
                "no principal configured and no default realm for the machine account"),
            std::string::npos)
      << creds.status().message();
}

TEST_F(KerberosTest, UnreachableKdcIsUnavailableWithKrb5sMessage) {
  if (!HaveKtutil()) GTEST_SKIP() << "ktutil (krb5-user) is not installed";
  const std::string keytab = MakeKeytab("svc.keytab", {"svc-sync@CORP.EXAMPLE.COM"});
  ASSERT_FALSE(keytab.empty());
  KerberosOptions options;
  options.keytab = keytab;
  options.principal = "svc-sync";
  const auto started = std::chrono::steady_clock::now();
  auto creds = KerberosCredentials::Acquire(options);
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), Status::Code::kUnavailable) << creds.status().message();
  EXPECT_NE(creds.status().message().find("cannot get Kerberos credentials for "
                                          "svc-sync@CORP.EXAMPLE.COM from keytab " +
                                          keytab +
                                          ": Cannot contact any KDC for realm "
                                          "'CORP.EXAMPLE.COM'"),
            std::string::npos)
      << creds.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  EXPECT_EQ(GetEnv("KRB5CCNAME"), user_ccache_);
  EXPECT_NE(access((dir_.path() + "/user-cc").c_str(), F_OK), 0) << "the user's cache was made";
}

}  // namespace
}  // namespace syncd::ldap
