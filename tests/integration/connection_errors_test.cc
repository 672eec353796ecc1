// What syncd says when the connection to the DC fails: the CA hint only when
// the DC's certificate was refused, an accurate reason otherwise (issue 14).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "tests/integration/testbed.h"

namespace syncd::testing {
namespace {

// The words of the CA hint; a message that has them blames the certificate.
constexpr char kCaHint[] = "check that tls_ca_file";

// A loopback TCP relay to one of the DC's ports that injects one fault.
class FaultProxy {
 public:
  enum class Fault {
    kDropAtFirstReply,  // hangs up when the DC first answers (mid-handshake)
    kRefuseStartTls,    // renames the StartTLS request, which the DC then refuses
    kSwallowReplies,    // passes requests on, never an answer: a DC that hangs
  };

  FaultProxy(int upstream_port, Fault fault) : upstream_port_(upstream_port), fault_(fault) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listener_, 8) != 0) {
      throw std::runtime_error("proxy cannot listen on loopback");
    }
    socklen_t len = sizeof addr;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FaultProxy() {
    stop_ = true;
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    thread_.join();
  }
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  // The URI syncd is given: the DC's name (its certificate's), this port.
  std::string Uri(const std::string& scheme) const {
    return scheme + "://dc1.corp.example.com:" + std::to_string(port_);
  }

 private:
  void Serve() {
    while (!stop_) {
      int client = accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      int upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
      if (connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        Relay(client, upstream);
      }
      close(upstream);
      close(client);
    }
  }

  void Relay(int client, int upstream) {
    char buf[16384];
    pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    while (!stop_ && poll(fds, 2, 200) >= 0) {
      for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
        ssize_t n = read(fds[i].fd, buf, sizeof buf);
        if (n <= 0) return;
        const bool from_dc = i == 1;
        if (from_dc && fault_ == Fault::kDropAtFirstReply) return;
        if (from_dc && fault_ == Fault::kSwallowReplies) continue;
        if (!from_dc && fault_ == Fault::kRefuseStartTls) {
          // Same length, so the BER lengths stay right; the DC knows no such
          // extended operation and says so.
          const std::string_view data(buf, static_cast<size_t>(n));
          const std::string_view oid = "1.3.6.1.4.1.1466.20037";
          if (size_t at = data.find(oid); at != std::string_view::npos) {
            buf[at + oid.size() - 1] = '8';
          }
        }
        if (write(fds[1 - i].fd, buf, static_cast<size_t>(n)) != n) return;
      }
    }
  }

  int upstream_port_;
  Fault fault_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

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
  FaultProxy ldaps_proxy(636, FaultProxy::Fault::kDropAtFirstReply);
  auto ldaps = RunWith(ou, {{UrisLine(), "uris = [\"" + ldaps_proxy.Uri("ldaps") + "\"]"}});
  ExpectFailure(*ldaps, "TLS handshake failed", false);
  ExpectFailure(*ldaps, "the connection was dropped, or the port does not speak TLS", false);

  FaultProxy plain_proxy(389, FaultProxy::Fault::kDropAtFirstReply);
  auto starttls = RunWith(ou, {{UrisLine(), "uris = [\"" + plain_proxy.Uri("ldap") + "\"]"}},
                          "starttls = true\n");
  ExpectFailure(*starttls, "StartTLS failed: the connection was closed before the DC answered",
                false);
}

TEST(ConnectionErrors, RefusedStartTlsSaysTheDcRefusedIt) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-NoStartTls");
  FaultProxy proxy(389, FaultProxy::Fault::kRefuseStartTls);
  auto run =
      RunWith(ou, {{UrisLine(), "uris = [\"" + proxy.Uri("ldap") + "\"]"}}, "starttls = true\n");
  ExpectFailure(*run, proxy.Uri("ldap") + ": the DC refused StartTLS: ", false);
}

TEST(ConnectionErrors, SilentDcIsATimeoutNotACaProblem) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-Silent");
  FaultProxy proxy(636, FaultProxy::Fault::kSwallowReplies);
  auto run = RunWith(ou, {{UrisLine(), "uris = [\"" + proxy.Uri("ldaps") + "\"]"}},
                     "connect_timeout = 1\ntimeout = 2\n");
  ExpectFailure(*run, proxy.Uri("ldaps") + ": no answer within 3 s", false);
}

}  // namespace
}  // namespace syncd::testing
