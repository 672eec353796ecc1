// Host-keytab Kerberos credentials against the real DC: a TGT from a keytab
// that samba-tool exported, a GSSAPI bind with no password, and the user's own
// credential cache left alone.
#include "ldap/kerberos.h"

#include <gtest/gtest.h>
#include <krb5.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ldap/connection.h"
#include "tests/integration/testbed.h"
#include "tests/unit/test_util.h"

namespace syncd::testing {
namespace {
namespace fs = std::filesystem;
using ldap::KerberosCredentials;
using ldap::KerberosOptions;

constexpr char kRealm[] = "CORP.EXAMPLE.COM";
constexpr char kGssapiUri[] = "ldap://dc1.corp.example.com";  // GSSAPI: plain LDAP, DC's name

std::string Base64Encode(const std::string& in) {
  static const char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16 |
                       static_cast<unsigned char>(in[i + 1]) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kChars[(v >> shift) & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kChars[(v >> 18) & 63];
    out += kChars[(v >> 12) & 63];
    out += i + 1 < in.size() ? kChars[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// unicodePwd: the quoted password in UTF-16LE (ASCII here), base64 for LDIF.
std::string UnicodePwd(const std::string& password) {
  std::string utf16;
  for (char c : "\"" + password + "\"") {
    utf16 += c;
    utf16 += '\0';
  }
  return Base64Encode(utf16);
}

std::string RandomPassword() {
  static const char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string hex;
  for (int i = 0; i < 32; ++i) hex += kHex[rd() % 16];
  return "Krb-" + hex + "-Aa1!";  // meets the default complexity policy
}

std::string ShortHostUpper() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string out(host);
  out = out.substr(0, out.find('.'));
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// The server principals of the tickets in a credential cache.
std::vector<std::string> CacheServers(const std::string& cache_name) {
  std::vector<std::string> servers;
  krb5_context ctx = nullptr;
  if (krb5_init_context(&ctx) != 0) return servers;
  krb5_ccache cc = nullptr;
  krb5_cc_cursor cursor = nullptr;
  if (krb5_cc_resolve(ctx, cache_name.c_str(), &cc) == 0 &&
      krb5_cc_start_seq_get(ctx, cc, &cursor) == 0) {
    krb5_creds creds;
    while (krb5_cc_next_cred(ctx, cc, &cursor, &creds) == 0) {
      char* name = nullptr;
      if (!krb5_is_config_principal(ctx, creds.server) &&
          krb5_unparse_name(ctx, creds.server, &name) == 0) {
        servers.emplace_back(name);
        krb5_free_unparsed_name(ctx, name);
      }
      krb5_free_cred_contents(ctx, &creds);
    }
    krb5_cc_end_seq_get(ctx, cc, &cursor);
  }
  if (cc != nullptr) krb5_cc_close(ctx, cc);
  krb5_free_context(ctx);
  return servers;
}

// Empties a credential cache (what an expired or wiped cache looks like).
void EmptyCache(const std::string& cache_name, const std::string& principal) {
  krb5_context ctx = nullptr;
  ASSERT_EQ(krb5_init_context(&ctx), 0);
  krb5_ccache cc = nullptr;
  krb5_principal p = nullptr;
  EXPECT_EQ(krb5_cc_resolve(ctx, cache_name.c_str(), &cc), 0);
  EXPECT_EQ(krb5_parse_name(ctx, principal.c_str(), &p), 0);
  EXPECT_EQ(krb5_cc_initialize(ctx, cc, p), 0);
  krb5_free_principal(ctx, p);
  krb5_cc_close(ctx, cc);
  krb5_free_context(ctx);
}

// A GSSAPI bind to the DC (no password anywhere) and a base search of the
// domain; the negotiated SASL SSF.
Result<int> GssapiBindAndSearch() {
  boost::asio::io_context loop;
  boost::asio::thread_pool workers(1);
  ldap::ConnectOptions options;
  options.uris = {kGssapiUri};
  options.auth = ldap::AuthMethod::kGssapi;
  const std::string base = TestDc::Get().BaseDn();
  auto future = boost::asio::co_spawn(
      loop,
      [&]() -> boost::asio::awaitable<Result<int>> {
        auto connection =
            co_await ldap::Connection::Open(loop.get_executor(), workers, options, nullptr);
        if (!connection.ok()) co_return connection.status();
        ldap::SearchRequest request;
        request.base = base;
        request.scope = ldap::Scope::kBase;
        request.attributes = {"distinguishedName"};
        request.extended_dn = false;
        auto entries = co_await (*connection)->Search(request);
        if (!entries.ok()) co_return entries.status();
        if (entries->size() != 1) co_return Status::Internal("base search found no entry");
        co_return (*connection)->sasl_ssf();
      },
      boost::asio::use_future);
  loop.run();
  workers.join();
  return future.get();
}

class KerberosCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestDc& dc = TestDc::Get();
    char tmpl[] = "/tmp/syncd-it-krb-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    setenv("KRB5_CONFIG", dc.Value("KRB5_CONFIG").c_str(), 1);
    // The user's own cache, with content that must stay as it is.
    user_cache_file_ = dir_ + "/user-krb5cc";
    std::ofstream(user_cache_file_) << "the user's own cache";
    setenv("KRB5CCNAME", ("FILE:" + user_cache_file_).c_str(), 1);
  }
  void TearDown() override {
    RestoreEnv("KRB5_CONFIG", saved_config_);
    RestoreEnv("KRB5CCNAME", saved_ccache_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A fresh OU for this test's accounts.
  static std::string Ou() { return TestDc::Get().FreshOu("T-KrbCreds"); }

  // An enabled account (user, or computer when the name ends in '$') with a
  // random password, under `ou`.
  static void AddAccount(const std::string& ou, const std::string& sam) {
    const bool computer = sam.back() == '$';
    const std::string cn = computer ? sam.substr(0, sam.size() - 1) : sam;
    TestDc::Get().Modify("dn: CN=" + cn + "," + ou + "\nchangetype: add\nobjectClass: " +
                         (computer ? "computer" : "user") + "\nsAMAccountName: " + sam +
                         "\nunicodePwd:: " + UnicodePwd(RandomPassword()) +
                         "\nuserAccountControl: " + (computer ? "4096" : "66048") + "\n");
  }

  static void SetPassword(const std::string& dn) {
    TestDc::Get().Modify("dn: " + dn + "\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: " +
                         UnicodePwd(RandomPassword()) + "\n-\n");
  }

  // testdc.sh keytab: PRINCIPAL's current keys into a keytab file.
  std::string ExportKeytab(const std::string& principal) const {
    std::string file = dir_ + "/" + principal.substr(0, principal.find('@')) + ".keytab";
    const char* source_dir = std::getenv("SYNCD_SOURCE_DIR");
    CommandResult r = RunCommand(
        ShellQuote(std::string(source_dir != nullptr ? source_dir : ".") + "/scripts/testdc.sh") +
        " keytab " + ShellQuote(TestDc::Get().dir()) + " " + ShellQuote(principal) + " " +
        ShellQuote(file));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return file;
  }

  std::string UserCacheContent() const {
    std::ifstream in(user_cache_file_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string dir_;
  std::string user_cache_file_;
  std::optional<std::string> saved_config_ = GetEnv("KRB5_CONFIG");
  std::optional<std::string> saved_ccache_ = GetEnv("KRB5CCNAME");
};

TEST_F(KerberosCredentialsTest, KeytabBindsWithoutPasswordAndLeavesUserCacheAlone) {
  const std::string ou = Ou();
  AddAccount(ou, "svc-krbcreds");
  const std::string keytab = ExportKeytab(std::string("svc-krbcreds@") + kRealm);

  KerberosOptions options;
  options.keytab = keytab;
  options.principal = "svc-krbcreds";  // the default realm is appended
  const auto before = std::chrono::system_clock::now();
  auto creds = KerberosCredentials::Acquire(options);
  ASSERT_TRUE(creds.ok()) << creds.status().ToString();
  EXPECT_EQ((*creds)->principal(), "svc-krbcreds@CORP.EXAMPLE.COM");
  EXPECT_EQ((*creds)->ccache_name(), "MEMORY:syncd");
  EXPECT_EQ(GetEnv("KRB5CCNAME"), "MEMORY:syncd");
  EXPECT_GT((*creds)->expires(), before + std::chrono::hours(1));
  EXPECT_EQ(CacheServers("MEMORY:syncd"),
            std::vector<std::string>{"krbtgt/CORP.EXAMPLE.COM@CORP.EXAMPLE.COM"});

  Result<int> ssf = GssapiBindAndSearch();
  ASSERT_TRUE(ssf.ok()) << ssf.status().ToString();
  EXPECT_GT(*ssf, 0);
  // The bind used the private cache: its service ticket is there.
  const auto servers = CacheServers("MEMORY:syncd");
  EXPECT_NE(std::find(servers.begin(), servers.end(), "ldap/dc1.corp.example.com@CORP.EXAMPLE.COM"),
            servers.end())
      << ::testing::PrintToString(servers);
  EXPECT_EQ(UserCacheContent(), "the user's own cache");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2)
      << "only the keytab and the user's cache file";

  // Not due: nothing changes. Due (the margin covers the ticket's life): a new TGT.
  const auto expires = (*creds)->expires();
  ASSERT_TRUE((*creds)->RenewIfNeeded(std::chrono::seconds(0)).ok());
  EXPECT_EQ((*creds)->expires(), expires);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  Status renewed = (*creds)->RenewIfNeeded(std::chrono::hours(24 * 365));
  ASSERT_TRUE(renewed.ok()) << renewed.ToString();
  EXPECT_GT((*creds)->expires(), expires);
  EXPECT_EQ(CacheServers("MEMORY:syncd"),
            std::vector<std::string>{"krbtgt/CORP.EXAMPLE.COM@CORP.EXAMPLE.COM"})
      << "renewal replaces the cache";

  // An emptied cache is refilled on the next check, and binds work again.
  EmptyCache("MEMORY:syncd", (*creds)->principal());
  EXPECT_TRUE(CacheServers("MEMORY:syncd").empty());
  renewed = (*creds)->RenewIfNeeded();
  ASSERT_TRUE(renewed.ok()) << renewed.ToString();
  ssf = GssapiBindAndSearch();
  ASSERT_TRUE(ssf.ok()) << ssf.status().ToString();
  EXPECT_EQ(UserCacheContent(), "the user's own cache");
}

TEST_F(KerberosCredentialsTest, DefaultPrincipalIsTheMachineAccount) {
  const std::string ou = Ou();
  const std::string machine = ShortHostUpper() + "$";
  AddAccount(ou, machine);
  KerberosOptions options;
  options.keytab = ExportKeytab(machine + "@" + kRealm);
  auto creds = KerberosCredentials::Acquire(options);  // no principal
  ASSERT_TRUE(creds.ok()) << creds.status().ToString();
  EXPECT_EQ((*creds)->principal(), machine + "@CORP.EXAMPLE.COM");
  Result<int> ssf = GssapiBindAndSearch();
  ASSERT_TRUE(ssf.ok()) << ssf.status().ToString();
  EXPECT_EQ(UserCacheContent(), "the user's own cache");
}

TEST_F(KerberosCredentialsTest, KeytabForAnotherPrincipalIsAClearError) {
  const std::string ou = Ou();
  AddAccount(ou, "svc-krbother");
  const std::string keytab = ExportKeytab(std::string("svc-krbother@") + kRealm);
  KerberosOptions options;
  options.keytab = keytab;
  options.principal = "svc-krbcreds@CORP.EXAMPLE.COM";
  auto creds = KerberosCredentials::Acquire(options);
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(creds.status().message(),
            "keytab " + keytab +
                " holds no key for svc-krbcreds@CORP.EXAMPLE.COM (it holds: "
                "svc-krbother@CORP.EXAMPLE.COM)");
  EXPECT_EQ(GetEnv("KRB5CCNAME"), "FILE:" + user_cache_file_);
}

TEST_F(KerberosCredentialsTest, StaleKeytabIsPermissionDenied) {
  const std::string ou = Ou();
  AddAccount(ou, "svc-krbstale");
  const std::string keytab = ExportKeytab(std::string("svc-krbstale@") + kRealm);
  SetPassword("CN=svc-krbstale," + ou);  // the keytab's keys are now the old ones
  KerberosOptions options;
  options.keytab = keytab;
  options.principal = "svc-krbstale";
  auto creds = KerberosCredentials::Acquire(options);
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), Status::Code::kPermissionDenied) << creds.status().ToString();
  EXPECT_NE(creds.status().message().find(
                "cannot get Kerberos credentials for svc-krbstale@CORP.EXAMPLE.COM from keytab " +
                keytab + ": "),
            std::string::npos)
      << creds.status().message();
  EXPECT_NE(creds.status().message().find("export the keytab again"), std::string::npos)
      << creds.status().message();
  EXPECT_EQ(GetEnv("KRB5CCNAME"), "FILE:" + user_cache_file_);
  EXPECT_EQ(UserCacheContent(), "the user's own cache");
}

}  // namespace
}  // namespace syncd::testing
