#include "syncd/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "core/input_file.h"
#include "tests/unit/test_util.h"

namespace syncd {
namespace {

const std::string kMinimal = R"([source]
uris = ["ldaps://dc1.corp.example.com", "ldaps://dc2.corp.example.com"]
base_dn = "DC=corp,DC=example,DC=com"
bind_dn = "CN=svc,DC=corp,DC=example,DC=com"
password_file = "/etc/syncd/password"
)";

void ExpectError(const std::string& text, const std::string& fragment) {
  auto config = ParseConfig(text, "test.conf");
  ASSERT_FALSE(config.ok()) << "accepted:\n" << text;
  EXPECT_NE(config.status().message().find(fragment), std::string::npos)
      << config.status().message();
}

TEST(Config, MinimalGetsDefaults) {
  auto config = ParseConfig(kMinimal, "test.conf");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->source.uris.size(), 2u);
  EXPECT_EQ(config->source.auth, ldap::AuthMethod::kSimple);
  EXPECT_TRUE(config->source.tls_verify);
  EXPECT_EQ(config->scope.user_bases, std::vector<std::string>{"DC=corp,DC=example,DC=com"});
  EXPECT_EQ(config->store.kind, "local");
  EXPECT_EQ(config->safety.max_deletes, 500);
}

TEST(Config, ShippedExampleParses) {
  auto config = ParseConfig(testing::ReadTestData("../../conf/syncd.conf"), "conf/syncd.conf");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
}

TEST(Config, UnknownKeyNamesKeyAndLine) {
  ExpectError(kMinimal + "colour = \"blue\"\n",
              "test.conf line 6: source.colour is not a known key");
  ExpectError(kMinimal + "[scope]\nuser_base = \"x\"\n",
              "line 7: scope.user_base is not a known key");
  ExpectError(kMinimal + "[bogus]\n", "bogus is not a known key");
}

TEST(Config, BadValuesNameKeyAndLine) {
  ExpectError(kMinimal + "auth = \"ntlm\"\n",
              "line 6: source.auth must be \"simple\" or \"gssapi\"");
  ExpectError(kMinimal + "page_size = 0\n", "source.page_size must be between 1 and 1000");
  ExpectError(kMinimal + "starttls = \"yes\"\n", "source.starttls must be true or false");
  ExpectError(kMinimal + "[safety]\nmax_delete_percent = 150\n",
              "line 7: safety.max_delete_percent must be between 0 and 100");
  ExpectError(kMinimal + "[store]\nkind = \"ldap\"\n",
              "test.conf line 7: store.kind must be one of \"local\", \"scim\", not \"ldap\"");
  ExpectError(kMinimal + "[mapping.user]\nactive = \"description\"\n",
              "mapping.user.active can only read userAccountControl");
}

TEST(Config, SyntaxErrorNamesLine) { ExpectError(kMinimal + "[scope\n", "test.conf line 6"); }

TEST(Config, MissingRequiredKeys) {
  ExpectError("", "[source] table is required");
  ExpectError("[source]\nbase_dn = \"DC=x\"\n",
              "uris or domain (for DNS SRV discovery) is required");
  ExpectError("[source]\nuris = \"ldaps://x\"\n", "base_dn is required");
  ExpectError("[source]\nuris = \"ldaps://x\"\nbase_dn = \"DC=x\"\n",
              "needs bind_dn and password_file");
}

TEST(Config, DaemonDefaultsAndOverrides) {
  auto defaults = ParseConfig(kMinimal, "test.conf");
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->daemon.interval, 300);
  EXPECT_EQ(defaults->daemon.jitter, 30);
  EXPECT_TRUE(defaults->daemon.notify);
  EXPECT_EQ(defaults->daemon.metrics_listen, "");

  auto set = ParseConfig(kMinimal +
                             "[daemon]\ninterval = 60\njitter = 0\nbackoff_initial = 2\n"
                             "backoff_max = 30\nnotify = false\ncoalesce_ms = 50\n"
                             "metrics_listen = \"127.0.0.1:9469\"\nshutdown_timeout = 5\n",
                         "test.conf");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->daemon.interval, 60);
  EXPECT_EQ(set->daemon.jitter, 0);
  EXPECT_EQ(set->daemon.backoff_max, 30);
  EXPECT_FALSE(set->daemon.notify);
  EXPECT_EQ(set->daemon.coalesce_ms, 50);
  EXPECT_EQ(set->daemon.metrics_listen, "127.0.0.1:9469");
  EXPECT_EQ(set->daemon.shutdown_timeout, 5);

  ExpectError(kMinimal + "[daemon]\ninterval = 0\n", "line 7: daemon.interval must be between");
  ExpectError(kMinimal + "[daemon]\nintervall = 5\n", "daemon.intervall is not a known key");
  ExpectError(kMinimal + "[daemon]\nmetrics_listen = \"0.0.0.0:9469\"\n",
              "line 7: daemon.metrics_listen");
  ExpectError(kMinimal + "[daemon]\nmetrics_listen = \"localhost\"\n", "daemon.metrics_listen");
  ExpectError(kMinimal + "[daemon]\nbackoff_initial = 60\nbackoff_max = 10\n",
              "backoff_max must be at least backoff_initial");
}

TEST(Config, DomainDiscoveryAndKerberosKeys) {
  const std::string gssapi = R"([source]
domain = "corp.example.com"
site = "Paris"
base_dn = "DC=corp,DC=example,DC=com"
auth = "gssapi"
)";
  auto config = ParseConfig(gssapi, "test.conf");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->source.uris.empty());
  EXPECT_EQ(config->source.domain, "corp.example.com");
  EXPECT_EQ(config->source.site, "Paris");
  EXPECT_EQ(config->source.keytab, "/etc/krb5.keytab");  // unset: the host keytab
  EXPECT_EQ(config->source.principal, "");               // the machine account

  auto ccache = ParseConfig(gssapi + "keytab = \"\"\nprincipal = \"svc-sync\"\n", "test.conf");
  ASSERT_TRUE(ccache.ok()) << ccache.status().ToString();
  EXPECT_EQ(ccache->source.keytab, "");  // explicitly empty: the caller's credential cache
  EXPECT_EQ(ccache->source.principal, "svc-sync");

  ExpectError("[source]\nsite = \"Paris\"\nuris = \"ldaps://x\"\nbase_dn = \"DC=x\"\n",
              "site needs domain");
  ExpectError(kMinimal + "principal = \"svc\"\n", "principal needs auth = \"gssapi\"");
}

TEST(Config, KeytabDefaultsToTheSystemdCredential) {
  testing::TempDir dir;
  const std::string keytab = dir.path() + "/krb5.keytab";
  std::ofstream(keytab) << "x";
  setenv("CREDENTIALS_DIRECTORY", dir.path().c_str(), 1);
  auto config = ParseConfig(
      "[source]\ndomain = \"corp.example.com\"\nbase_dn = \"DC=x\"\n"
      "auth = \"gssapi\"\n",
      "test.conf");
  unsetenv("CREDENTIALS_DIRECTORY");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->source.keytab, keytab);
}

TEST(Config, RefusesCleartextSimpleBind) {
  std::string text = kMinimal;
  text.replace(text.find("ldaps://dc2"), 8, "ldap://d");
  ExpectError(text, "clear text");
  auto with_starttls = ParseConfig(text + "starttls = true\n", "test.conf");
  EXPECT_TRUE(with_starttls.ok()) << with_starttls.status().ToString();
}

TEST(Config, ScopeAndMappingAndSafety) {
  auto config = ParseConfig(kMinimal + R"(
[scope]
user_bases = ["OU=People,DC=corp,DC=example,DC=com"]
groups = "CN=Sync,OU=Groups,DC=corp,DC=example,DC=com"
exclude = ["OU=Contractors,DC=corp,DC=example,DC=com", "svc-backup"]
[mapping.user]
userName = "sAMAccountName"
department = ["department", "division"]
[safety]
max_deletes = 10
max_delete_percent = 5.5
)",
                            "test.conf");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->scope.groups.size(), 1u);
  EXPECT_EQ(config->scope.exclude.size(), 2u);
  EXPECT_EQ(config->scope.group_bases, std::vector<std::string>{"DC=corp,DC=example,DC=com"});
  EXPECT_EQ(config->safety.max_deletes, 10);
  EXPECT_DOUBLE_EQ(config->safety.max_delete_percent, 5.5);
  const auto& rules = config->mapping.rules(ObjectKind::kUser);
  EXPECT_EQ(rules.front().sources, std::vector<std::string>{"sAMAccountName"});
  EXPECT_EQ(rules.back().store_attribute, "department");
}

TEST(Config, ChangeBudgetDefaultsAndPerAttributeLimits) {
  auto defaults = ParseConfig(kMinimal, "test.conf");
  ASSERT_TRUE(defaults.ok());
  EXPECT_DOUBLE_EQ(defaults->safety.max_change_percent, 20);
  EXPECT_EQ(defaults->safety.change_budget_floor, 10);
  auto config = ParseConfig(kMinimal + R"(
[mapping.user]
department = "department"
[safety]
max_change_percent = 5
change_budget_floor = 0
[safety.max_change_percent_by_attribute]
email = 50
department = 100
)",
                            "test.conf");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_DOUBLE_EQ(config->safety.max_change_percent, 5);
  EXPECT_EQ(config->safety.change_budget_floor, 0);
  EXPECT_EQ(config->safety.max_change_percent_by_attribute,
            (std::map<std::string, double>{{"department", 100}, {"email", 50}}));
  ExpectError(kMinimal + "[safety.max_change_percent_by_attribute]\nemial = 50\n",
              "line 7: safety.max_change_percent_by_attribute.emial is not a store attribute");
  ExpectError(kMinimal + "[safety.max_change_percent_by_attribute]\nemail = 500\n",
              "safety.max_change_percent_by_attribute.email must be between 0 and 100");
}

}  // namespace
}  // namespace syncd

namespace syncd {
namespace {

TEST(Config, AssignmentsReapplyAndMatchOrder) {
  auto defaults = ParseConfig(kMinimal, "test.conf");
  ASSERT_TRUE(defaults.ok());
  EXPECT_FALSE(defaults->assignments.auto_reapply);
  EXPECT_EQ(defaults->assignments.match.size(), 6u);
  EXPECT_EQ(defaults->assignments.match.front(), MatchKey::kObjectGuid);
  auto config = ParseConfig(
      kMinimal + "[assignments]\nreapply = \"auto\"\nmatch = [\"sidhistory\", \"mail\"]\n",
      "test.conf");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->assignments.auto_reapply);
  EXPECT_EQ(config->assignments.match,
            (std::vector<MatchKey>{MatchKey::kSidHistory, MatchKey::kMail}));
  ExpectError(kMinimal + "[assignments]\nreapply = \"always\"\n",
              "assignments.reapply must be \"auto\" or \"manual\"");
  ExpectError(kMinimal + "[assignments]\nmatch = [\"employeeID\"]\n",
              "assignments.match holds \"employeeID\"");
  ExpectError(kMinimal + "[assignments]\nmatch = [\"mail\", \"MAIL\"]\n",
              "assignments.match names mail twice");
  ExpectError(kMinimal + "[assignments]\nmatch = []\n", "must name at least one key");
}

TEST(SecretFile, ReadsFirstLineAndWarnsWhenWorldReadable) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/password";
  std::ofstream(path) << "s3cret\r\nignored\n";
  chmod(path.c_str(), 0644);
  ::testing::internal::CaptureStderr();
  auto secret = ReadSecretFile(path, "source.password_file");
  std::string warnings = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(secret.ok()) << secret.status().ToString();
  EXPECT_EQ(*secret, "s3cret");
  EXPECT_NE(warnings.find("readable by every user"), std::string::npos) << warnings;
  EXPECT_EQ(warnings.find("s3cret"), std::string::npos) << "the secret must never be logged";

  chmod(path.c_str(), 0600);
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(ReadSecretFile(path, "source.password_file").ok());
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST(SecretFile, MissingAndEmptyFilesAreClearErrors) {
  testing::TempDir dir;
  auto missing = ReadSecretFile(dir.path() + "/nope", "source.password_file");
  EXPECT_EQ(missing.status().message(),
            "source.password_file: " + dir.path() + "/nope does not exist");
  std::ofstream(dir.path() + "/empty") << "";
  auto empty = ReadSecretFile(dir.path() + "/empty", "source.password_file");
  EXPECT_NE(empty.status().message().find("is empty"), std::string::npos);
}

}  // namespace
}  // namespace syncd

// Issue 14: configs that were accepted, or refused with the wrong reason.
namespace syncd {
namespace {

TEST(ConfigStrictTypes, BooleansAreOnlyTrueOrFalse) {
  // `tls_verify = 0` used to turn verification off.
  ExpectError(kMinimal + "tls_verify = 0\n", "line 6: source.tls_verify must be true or false");
  ExpectError(kMinimal + "starttls = 1\n", "line 6: source.starttls must be true or false");
  ExpectError(kMinimal + "[daemon]\nnotify = 0\n", "line 7: daemon.notify must be true or false");
  auto off = ParseConfig(kMinimal + "tls_verify = false\n", "test.conf");
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_FALSE(off->source.tls_verify);
}

TEST(ConfigStrictTypes, IntegersAreOnlyIntegersInRange) {
  // A float was converted to an integer before the type check: undefined
  // behaviour for 6E40, and 25.0 passed as 25.
  ExpectError(kMinimal + "page_size = 6E40\n", "line 6: source.page_size must be an integer");
  ExpectError(kMinimal + "page_size = 25.0\n", "line 6: source.page_size must be an integer");
  ExpectError(kMinimal + "page_size = -6E40\n", "source.page_size must be an integer");
  ExpectError(kMinimal + "page_size = nan\n", "source.page_size must be an integer");
  ExpectError(kMinimal + "page_size = inf\n", "source.page_size must be an integer");
  ExpectError(kMinimal + "page_size = true\n", "source.page_size must be an integer");
  ExpectError(kMinimal + "page_size = 9223372036854775807\n",
              "source.page_size must be between 1 and 1000");
  ExpectError(kMinimal + "range_step = -1\n", "source.range_step must be between 0 and 5000");
  ExpectError(kMinimal + "timeout = 1e3\n", "source.timeout must be an integer");
  ExpectError(kMinimal + "reconcile_interval_hours = 1.5\n",
              "source.reconcile_interval_hours must be an integer");
  ExpectError(kMinimal + "[daemon]\njitter = 3.0\n", "line 7: daemon.jitter must be an integer");
  ExpectError(kMinimal + "[safety]\nmax_deletes = 1e10\n",
              "line 7: safety.max_deletes must be an integer");
  ExpectError(kMinimal + "[safety]\nmax_deletes = 2147483648\n",
              "safety.max_deletes must be between -1 and 2147483647");
}

TEST(ConfigStrictTypes, NumbersAreFiniteAndInRange) {
  ExpectError(kMinimal + "[safety]\nmax_delete_percent = nan\n",
              "line 7: safety.max_delete_percent must be a number");
  ExpectError(kMinimal + "[safety]\nmax_delete_percent = true\n",
              "safety.max_delete_percent must be a number");
  ExpectError(kMinimal + "[safety]\nmax_delete_percent = 6E40\n",
              "safety.max_delete_percent must be between 0 and 100");
  ExpectError(kMinimal + "[safety]\nmax_delete_percent = -inf\n",
              "safety.max_delete_percent must be between 0 and 100");
  auto whole = ParseConfig(kMinimal + "[safety]\nmax_delete_percent = 20\n", "test.conf");
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_DOUBLE_EQ(whole->safety.max_delete_percent, 20);
}

TEST(ConfigSyntax, DnsAreParsedAtLoad) {
  ExpectError("[source]\nuris = \"ldaps://x\"\nbase_dn = \"not a dn\"\n",
              "test.conf line 3: source.base_dn must be a DN (RFC 4514)");
  ExpectError("[source]\nuris = \"ldaps://x\"\nbase_dn = \"DC=corp,,DC=com\"\n",
              "line 3: source.base_dn must be a DN");
  ExpectError("[source]\nuris = \"ldaps://x\"\nbase_dn = \"\"\n",
              "line 3: source.base_dn must be a DN, not empty");
  // A 5 MB base_dn ran; the message does not echo all of it.
  const std::string huge = "DC=" + std::string(size_t{5} << 20, 'x');
  auto config = ParseConfig("[source]\nuris = \"ldaps://x\"\nbase_dn = \"" + huge + "\"\n", "t");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find(
                "t line 3: source.base_dn must be a DN of at most 8192 characters, not 5242883"),
            std::string::npos)
      << config.status().message().substr(0, 200);
  EXPECT_LT(config.status().message().size(), 200u);

  ExpectError(kMinimal + "[scope]\nuser_bases = [\"OU=People,DC=corp\", \"People\"]\n",
              "line 7: scope.user_bases must be a DN (RFC 4514) such as");
  ExpectError(kMinimal + "[scope]\ngroup_bases = \"OU=Groups,,DC=corp\"\n",
              "line 7: scope.group_bases must be a DN");
  ExpectError(kMinimal + "[scope]\ngroups = [\"CN=Sync,,DC=corp\"]\n",
              "line 7: scope.groups must be a DN");
  ExpectError(kMinimal + "[scope]\nexclude = [\"OU People, DC corp\"]\n",
              "line 7: scope.exclude must hold DNs or sAMAccountNames; \"OU People, DC corp\" "
              "is neither");
  ExpectError(kMinimal + "[scope]\nexclude = [\"\"]\n", "scope.exclude must hold DNs or");

  // What a real AD holds: escaped commas, spaces after commas, names in groups.
  auto real = ParseConfig(kMinimal + R"([scope]
user_bases = ["OU=Smith\\, John,DC=corp,DC=example,DC=com", "OU=People, DC=corp, DC=example, DC=com"]
groups = ["CN=Sync Users,OU=Groups,DC=corp,DC=example,DC=com", "Domain Users"]
exclude = ["svc-backup"]
)",
                          "test.conf");
  EXPECT_TRUE(real.ok()) << real.status().ToString();
}

TEST(ConfigSyntax, BindDnIsADnOrAnAccountName) {
  std::string text = kMinimal;
  const std::string dn = "CN=svc,DC=corp,DC=example,DC=com";
  text.replace(text.find(dn), dn.size(), "not a dn");
  ExpectError(text, "line 4: source.bind_dn must be a DN such as");
  for (const char* name : {"svc-syncd@corp.example.com", "CORP\\\\svc-syncd"}) {
    std::string other = kMinimal;
    other.replace(other.find(dn), dn.size(), name);
    auto config = ParseConfig(other, "test.conf");
    EXPECT_TRUE(config.ok()) << name << ": " << config.status().ToString();
  }
}

TEST(ConfigSyntax, FiltersAreParsedAtLoad) {
  // Found only at run time as "Bad search filter", without the key.
  ExpectError(kMinimal + "[scope]\nuser_filter = \"(department=Sales\"\n",
              "line 7: scope.user_filter must be an LDAP filter (RFC 4515): expected \")\" at the "
              "end");
  ExpectError(kMinimal + "[scope]\nuser_filter = \"(&(a=1)(b=2)))\"\n",
              "scope.user_filter must be an LDAP filter (RFC 4515): unbalanced \")\" at character "
              "14");
  ExpectError(kMinimal + "[scope]\ngroup_filter = \"(cn=a(b)\"\n",
              "line 7: scope.group_filter must be an LDAP filter (RFC 4515): \"(\" in a value must "
              "be written \\28 at character 6");
  ExpectError(
      kMinimal + "[scope]\nuser_filter = \"(bad attr=x)\"\n",
      "scope.user_filter must be an LDAP filter (RFC 4515): expected \"=\", \"~=\", \">=\", "
      "\"<=\" or \":=\" after \"bad\" at character 5");
  ExpectError(kMinimal + "[scope]\nuser_filter = \"(&)\"\n",
              "\"&\" needs at least one \"(...)\" filter at character 3");
  ExpectError(kMinimal + "[scope]\nuser_filter = \"(cn=\\\\zz)\"\n",
              "\"\\\" in a value must start an escape of two hex digits");
  ExpectError(kMinimal + "[scope]\nuser_filter = \"(cn>=a*)\"\n",
              "\"*\" in a value must be written \\2a");
  ExpectError(kMinimal + "[scope]\nuser_filter = \"department=Sales)\"\n",
              "scope.user_filter must be an LDAP filter (RFC 4515): unbalanced \")\"");
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "(&";
  deep += "(a=1)" + std::string(100, ')');
  ExpectError(kMinimal + "[scope]\nuser_filter = \"" + deep + "\"\n",
              "nests deeper than 64 levels");

  // Filters as AD users write them, with and without outer parentheses.
  for (const char* filter :
       {"(department=Sales)", "department=Sales", "(mail=*)", "(cn=J*n*son)",
        "(!(userAccountControl:1.2.840.113556.1.4.803:=2))",
        "(memberOf:1.2.840.113556.1.4.1941:=CN=Staff\\\\2c Paris,OU=Groups,DC=corp,DC=com)",
        "(|(department=Sales)(department=R\\\\26D))", "|(a=1)(b=2)", "(a=1)(b=2)",
        "(& (a=1) (b=2))", "(whenChanged>=20240101000000.0Z)", "(cn:dn:=People)",
        "(:caseExactMatch:=x)", "(2.5.4.3=x)", "(cn;lang-fr~=Jean)"}) {
    auto config = ParseConfig(kMinimal + "[scope]\nuser_filter = \"" + filter + "\"\n", "t");
    EXPECT_TRUE(config.ok()) << filter << ": " << config.status().ToString();
  }
}

TEST(ConfigSyntax, MappingSourcesAreAttributeNames) {
  // Accepted before, and the run cleared every user's email.
  ExpectError(kMinimal + "[mapping.user]\nemail = \"no such attr!\"\n",
              "line 7: mapping.user.email must name AD attributes; \"no such attr!\" is not an "
              "attribute name (RFC 4512)");
  ExpectError(kMinimal + "[mapping.group]\ndescription = [\"description\", \"\"]\n",
              "line 7: mapping.group.description must name AD attributes; \"\" is not");
  ExpectError(kMinimal + "[mapping.user]\nemail = \"1mail\"\n", "\"1mail\" is not an attribute");
  ExpectError(kMinimal + "[mapping.user]\nemail = \"mail;\"\n", "\"mail;\" is not an attribute");
  auto config = ParseConfig(kMinimal + R"([mapping.user]
email = ["mail", "proxyAddresses", "msDS-cloudExtensionAttribute1", "0.9.2342.19200300.100.1.3"]
title = "title;lang-en"
)",
                            "test.conf");
  EXPECT_TRUE(config.ok()) << config.status().ToString();
}

TEST(ConfigFiles, ConfigPathThatIsADirectoryOrMissingSaysSo) {
  testing::TempDir dir;
  auto directory = LoadConfig(dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().message(),
            "config file: " + dir.path() + " is a directory, expected a TOML config file");
  auto missing = LoadConfig(dir.path() + "/syncd.conf");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "config file: " + dir.path() + "/syncd.conf does not exist");
  std::ofstream(dir.path() + "/syncd.conf") << kMinimal;
  auto present = LoadConfig(dir.path() + "/syncd.conf");
  EXPECT_TRUE(present.ok()) << present.status().ToString();
}

TEST(SecretFile, DirectoryOrEmptyFirstLineSaysWhatWasExpected) {
  testing::TempDir dir;
  auto directory = ReadSecretFile(dir.path(), "source.password_file");
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().message(),
            "source.password_file: " + dir.path() +
                " is a directory, expected a file whose first line is the secret");
  std::ofstream(dir.path() + "/blank") << "\nsecret on line two\n";
  auto blank = ReadSecretFile(dir.path() + "/blank", "source.password_file");
  ASSERT_FALSE(blank.ok());
  EXPECT_NE(blank.status().message().find("has an empty first line"), std::string::npos)
      << blank.status().message();
  EXPECT_EQ(blank.status().message().find("secret on line two"), std::string::npos);
}

// Issue 14: a relative store.path made a second store wherever syncd was run
// from. Relative paths are the config file's neighbours.
TEST(Config, RelativePathsAreRelativeToTheConfigFile) {
  testing::TempDir dir;
  std::filesystem::create_directory(dir.path() + "/etc");
  const std::string path = dir.path() + "/etc/syncd.conf";
  std::ofstream(path) << kMinimal << "tls_ca_file = \"ca.pem\"\n"
                      << "[store]\npath = \"../var/store.db\"\n[state]\npath = \"state.db\"\n";
  auto config = LoadConfig(path);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->store.path, dir.path() + "/var/store.db");
  EXPECT_EQ(config->state_path, dir.path() + "/etc/state.db");
  EXPECT_EQ(config->source.tls_ca_file, dir.path() + "/etc/ca.pem");
  EXPECT_EQ(config->source.password_file, "/etc/syncd/password") << "absolute stays";
}

// Issue 11: [store] kind = "scim" and its keys.
const std::string kScim = kMinimal + R"([store]
kind = "scim"
url = "https://scim.us-east-1.amazonaws.com/tenant/scim/v2"
token_file = "scim-token"
)";

TEST(Config, ScimStore) {
  auto config = ParseConfig(kScim + "profile = \"aws\"\ntls_ca_file = \"/etc/ssl/ca.pem\"\n" +
                                "rate_limit = 12.5\nmax_in_flight = 8\nnested_groups = " +
                                "\"flatten\"\nadopt = \"userName\"\n",
                            "test.conf");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->store.kind, "scim");
  EXPECT_EQ(config->store.url, "https://scim.us-east-1.amazonaws.com/tenant/scim/v2");
  EXPECT_EQ(config->store.profile, "aws");
  EXPECT_EQ(config->store.rate_limit, 12.5);
  EXPECT_EQ(config->store.max_in_flight, 8);
  EXPECT_EQ(config->store.nested_groups, "flatten");
  EXPECT_EQ(config->store.adopt, "userName");
  auto defaults = ParseConfig(kScim, "test.conf");
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->store.profile, "generic");
  EXPECT_EQ(defaults->store.adopt, "externalId");
}

TEST(Config, ScimStoreBadValuesNameKeyAndLine) {
  ExpectError(kScim + "profile = \"okta\"\n",
              "test.conf line 10: store.profile must be one of \"aws\", \"generic\"");
  ExpectError(kScim + "adopt = \"always\"\n", "line 10: store.adopt must be one of");
  ExpectError(kScim + "nested_groups = \"deep\"\n", "line 10: store.nested_groups must be one of");
  ExpectError(kScim + "profile = \"aws\"\nnested_groups = \"direct\"\n",
              "line 11: store.nested_groups cannot be \"direct\" with profile \"aws\"");
  ExpectError(kScim + "max_in_flight = 0\n", "line 10: store.max_in_flight must be between 1");
  ExpectError(kScim + "rate_limit = -1\n", "line 10: store.rate_limit must be between 0");
  ExpectError(kScim + "bearer = \"x\"\n", "line 10: store.bearer is not a known key");
  ExpectError(kMinimal + "[store]\nkind = \"scim\"\nurl = \"http://scim.example.com/v2\"\n",
              "line 8: store.url must use https://; http:// is accepted only for a loopback host");
  ExpectError(kMinimal + "[store]\nkind = \"scim\"\nurl = \"https://x/scim/v2\"\n",
              "needs store.token_file");
  ExpectError(kMinimal + "[store]\nkind = \"scim\"\ntoken_file = \"t\"\n", "needs store.url");
  EXPECT_TRUE(ParseConfig(kMinimal + "[store]\nkind = \"scim\"\nurl = "
                                     "\"http://127.0.0.1:8080/scim/v2\"\ntoken_file = \"t\"\n",
                          "test.conf")
                  .ok());
}

TEST(Config, AwsIdentityCenter) {
  auto defaults = ParseConfig(kMinimal, "test.conf");
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_FALSE(defaults->aws.present);
  EXPECT_EQ(defaults->assignments.applier, "local");
  EXPECT_EQ(defaults->aws.rate_limit, 10);
  EXPECT_EQ(defaults->aws.max_outstanding, 10);
  auto config = ParseConfig(
      kMinimal +
          "[assignments]\napplier = \"aws\"\n[aws]\nregion = \"eu-west-1\"\nprofile = "
          "\"syncd\"\ninstance_arn = \"arn:aws:sso:::instance/ssoins-1234\"\n"
          "endpoint_url = \"http://127.0.0.1:5000\"\nrate_limit = 4.5\nmax_outstanding = 15\n"
          "capture = true\n",
      "test.conf");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->assignments.applier, "aws");
  EXPECT_TRUE(config->aws.present);
  EXPECT_EQ(config->aws.region, "eu-west-1");
  EXPECT_EQ(config->aws.profile, "syncd");
  EXPECT_EQ(config->aws.instance_arn, "arn:aws:sso:::instance/ssoins-1234");
  EXPECT_EQ(config->aws.endpoint_url, "http://127.0.0.1:5000");
  EXPECT_EQ(config->aws.rate_limit, 4.5);
  EXPECT_EQ(config->aws.max_outstanding, 15);
  EXPECT_TRUE(config->aws.capture);
}

TEST(Config, AwsBadValuesNameKeyAndLine) {
  ExpectError(kMinimal + "[aws]\nmax_outstanding = 16\n",
              "line 7: aws.max_outstanding must be between 1 and 15");
  ExpectError(kMinimal + "[aws]\nrate_limit = 50\n", "line 7: aws.rate_limit must be between");
  ExpectError(kMinimal + "[aws]\nendpoint_url = \"http://sso.example.com\"\n",
              "line 7: aws.endpoint_url must use https://");
  ExpectError(kMinimal + "[aws]\ninstance_arn = \"ssoins-1234\"\n",
              "line 7: aws.instance_arn must be an ARN");
  ExpectError(kMinimal + "[aws]\nsecret_access_key = \"x\"\n",
              "aws.secret_access_key is not a known key");
  ExpectError(kMinimal + "[assignments]\napplier = \"okta\"\n",
              "assignments.applier must be \"local\" or \"aws\"");
  ExpectError(kMinimal + "[assignments]\napplier = \"aws\"\n",
              "applier = \"aws\" needs an [aws] table");
}

TEST(Config, ScimFilesAreRelativeToTheConfigFile) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/syncd.conf";
  std::ofstream(path) << kScim << "tls_ca_file = \"ca.pem\"\n";
  auto config = LoadConfig(path);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->store.token_file, dir.path() + "/scim-token");
  EXPECT_EQ(config->store.tls_ca_file, dir.path() + "/ca.pem");
}

}  // namespace
}  // namespace syncd
