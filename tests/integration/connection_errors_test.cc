// What syncd says when the connection to the DC fails: the CA hint only when
// the DC's certificate was refused, an accurate reason otherwise (issue 14).
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tests/integration/fault_proxy.h"
#include "tests/integration/testbed.h"

namespace syncd::testing {
namespace {

// The words of the CA hint; a message that has them blames the certificate.
constexpr char kCaHint[] = "check that tls_ca_file";

using Fault = FaultProxy::Fault;

// The URI syncd is given: the DC's name (its certificate's), the proxy's port.
std::string ProxyUri(const FaultProxy& proxy, const std::string& scheme) {
  return scheme + "://dc1.corp.example.com:" + std::to_string(proxy.port());
}

// A run against the test DC with each `from` in its config replaced by `to`.
std::unique_ptr<SyncdRun> RunWith(const std::string& ou,
                                  const std::vector<std::pair<std::string, std::string>>& edits,
                                  const std::string& source_extra = "") {
  auto run = std::make_unique<SyncdRun>(OuScope(ou), source_extra);
  std::string config = run->BaseConfig();
  for (const auto& [from, to] : edits) {
    const size_t at = config.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) config.replace(at, from.size(), to);
  }
  run->WriteConfig(config);
  return run;
}

std::string UrisLine() { return "uris = [\"" + TestDc::Get().Value("URI") + "\"]"; }
std::string CaLine() { return "tls_ca_file = \"" + TestDc::Get().Value("CA_FILE") + "\""; }

// Fails with `message`, exit 1, nothing created.
void ExpectFailure(const SyncdRun& run, const std::string& message, bool ca_hint) {
  CommandResult r = run.Once();
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(kCaHint) != std::string::npos, ca_hint) << r.err;
  EXPECT_EQ(r.err.find("cannot set LDAP option"), std::string::npos) << r.err;
  EXPECT_EQ(FileDigest(run.store_path()), "") << r.err;
  EXPECT_EQ(FileDigest(run.state_path()), "") << r.err;
}

TEST(ConnectionErrors, CaFileThatIsNoCaBundleNamesTheKey) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-CaFile");
  dc.AddUser(ou, "Ca User", "ca.user");
  auto probe = std::make_unique<SyncdRun>(OuScope(ou));
  const std::string dir = probe->store_path() + ".d";  // inside the run's private directory
  ASSERT_EQ(RunCommand("mkdir -p " + ShellQuote(dir)).exit_code, 0);
  std::ofstream(dir + "/garbage.pem") << "this is not a certificate\n";
  std::ofstream(dir + "/bad-body.pem")
      << "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";

  auto garbage = RunWith(ou, {{CaLine(), "tls_ca_file = \"" + dir + "/garbage.pem\""}});
  ExpectFailure(*garbage, "source.tls_ca_file: " + dir + "/garbage.pem holds no PEM certificate",
                false);
  auto directory = RunWith(ou, {{CaLine(), "tls_ca_file = \"" + dir + "\""}});
  ExpectFailure(*directory,
                "source.tls_ca_file: " + dir +
                    " is a directory, expected a PEM file of CA "
                    "certificates",
                false);
  auto bad_body = RunWith(ou, {{CaLine(), "tls_ca_file = \"" + dir + "/bad-body.pem\""}});
  ExpectFailure(*bad_body,
                "source.tls_ca_file: " + dir + "/bad-body.pem: its certificates cannot be loaded",
                false);
}

TEST(ConnectionErrors, WrongCaIsStillBlamedOnTheCa) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-WrongCa");
  // The system bundle does not hold the test domain's CA.
  const std::pair<std::string, std::string> wrong_ca{
      CaLine(), "tls_ca_file = \"/etc/ssl/certs/ca-certificates.crt\""};
  auto ldaps = RunWith(ou, {wrong_ca});
  ExpectFailure(*ldaps, "TLS handshake failed: the DC's certificate was not accepted", true);
  auto starttls = RunWith(ou, {wrong_ca, {UrisLine(), "uris = [\"ldap://dc1.corp.example.com\"]"}},
                          "starttls = true\n");
  ExpectFailure(*starttls, "StartTLS failed: the DC's certificate was not accepted", true);
}

TEST(ConnectionErrors, DroppedConnectionIsNotBlamedOnTheCa) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-Dropped");
  FaultProxy ldaps_proxy(636, Fault::kDropAtFirstReply);
  auto ldaps = RunWith(ou, {{UrisLine(), "uris = [\"" + ProxyUri(ldaps_proxy, "ldaps") + "\"]"}});
  ExpectFailure(*ldaps, "TLS handshake failed", false);
  ExpectFailure(*ldaps, "the connection was dropped, or the port does not speak TLS", false);

  FaultProxy plain_proxy(389, Fault::kDropAtFirstReply);
  auto starttls = RunWith(ou, {{UrisLine(), "uris = [\"" + ProxyUri(plain_proxy, "ldap") + "\"]"}},
                          "starttls = true\n");
  ExpectFailure(*starttls, "StartTLS failed: the connection was closed before the DC answered",
                false);
}

TEST(ConnectionErrors, RefusedStartTlsSaysTheDcRefusedIt) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-NoStartTls");
  FaultProxy proxy(389, Fault::kRefuseStartTls);
  auto run = RunWith(ou, {{UrisLine(), "uris = [\"" + ProxyUri(proxy, "ldap") + "\"]"}},
                     "starttls = true\n");
  ExpectFailure(*run, ProxyUri(proxy, "ldap") + ": the DC refused StartTLS: ", false);
}

TEST(ConnectionErrors, SilentDcIsATimeoutNotACaProblem) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-Silent");
  FaultProxy proxy(636, Fault::kSwallowReplies);
  auto run = RunWith(ou, {{UrisLine(), "uris = [\"" + ProxyUri(proxy, "ldaps") + "\"]"}},
                     "connect_timeout = 1\ntimeout = 2\n");
  ExpectFailure(*run, ProxyUri(proxy, "ldaps") + ": no answer within 3 s", false);
}

}  // namespace
}  // namespace syncd::testing
