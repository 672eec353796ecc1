// DC discovery end to end: syncd configured with `[source] domain` finds its
// DCs through DNS SRV records served by a resolver the test controls
// (tests/integration/fake_dns.py, made syncd's resolver through a private
// mount namespace), falls over from a dead preferred DC to the next, and the
// daemon then keeps away from the dead one.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/testbed.h"

namespace syncd::testing {
namespace {

using std::chrono::seconds;

constexpr char kDnsAddress[] = "127.0.0.2";
constexpr char kUserFilter[] = "(&(objectCategory=person)(objectClass=user))";

// fake_dns.py on 127.0.0.2:53 for the test's life.
class FakeDns {
 public:
  FakeDns(const std::string& dir, const std::vector<std::string>& records) {
    const std::string ready = dir + "/dns.ready";
    const char* source_dir = std::getenv("SYNCD_SOURCE_DIR");
    const std::string script =
        std::string(source_dir != nullptr ? source_dir : ".") + "/tests/integration/fake_dns.py";
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<std::string> args = {"python3", script, kDnsAddress, ready};
      args.insert(args.end(), records.begin(), records.end());
      ExecChild(args);
    }
    ready_ = Eventually([&] { return std::filesystem::exists(ready); }, seconds(10));
    // syncd's resolver: only the fake server, answering fast.
    resolv_conf_ = dir + "/resolv.conf";
    std::ofstream(resolv_conf_) << "nameserver " << kDnsAddress
                                << "\noptions timeout:1 attempts:1\n";
  }
  ~FakeDns() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

  bool ready() const { return ready_; }
  // Runs what follows with resolv_conf_ as /etc/resolv.conf, in a private
  // mount namespace (nothing else on the machine sees it).
  std::vector<std::string> Wrapper() const {
    return {
        "unshare",   "--mount", "sh", "-c", "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"",
        resolv_conf_};
  }
  std::string ShellWrapper() const {
    std::string out;
    for (const auto& part : Wrapper()) out += ShellQuote(part) + " ";
    return out;
  }

 private:
  pid_t pid_ = -1;
  bool ready_ = false;
  std::string resolv_conf_;
};

TEST(Discovery, SrvRecordsFindTheDcsAndADeadOneIsSkipped) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("Discovery");
  dc.AddUser(ou, "Found One", "found.one");
  SyncdRun run("user_bases = [\"" + ou + "\"]\ngroup_bases = [\"" + ou + "\"]\n", "",
               "[daemon]\ninterval = 600\ncoalesce_ms = 100\n");
  // [source] domain instead of uris.
  std::string config = run.BaseConfig();
  const auto uris = config.find("uris = ");
  config.replace(uris, config.find('\n', uris) - uris, "domain = \"corp.example.com\"");
  run.WriteConfig(config);

  // dc9 is preferred (priority 0) but does not exist; dc1 is the real DC.
  const std::string qname = "_ldap._tcp.dc._msdcs.corp.example.com";
  FakeDns dns(
      std::filesystem::path(run.config_path()).parent_path(),
      {qname + " 0 100 389 dc9.corp.example.com", qname + " 10 100 389 dc1.corp.example.com"});
  ASSERT_TRUE(dns.ready());

  const char* binary = std::getenv("SYNCD_BINARY");
  ASSERT_NE(binary, nullptr) << "SYNCD_BINARY is not set";
  CommandResult once = RunCommand(dns.ShellWrapper() + ShellQuote(binary) + " --config " +
                                  ShellQuote(run.config_path()) + " --once -v");
  ASSERT_EQ(once.exit_code, 0) << once.err;
  EXPECT_NE(once.err.find("DCs of corp.example.com: ldaps://dc9.corp.example.com:636, "
                          "ldaps://dc1.corp.example.com:636"),
            std::string::npos)
      << once.err;
  EXPECT_NE(once.err.find("ldaps://dc9.corp.example.com:636: cannot connect"), std::string::npos)
      << once.err;
  EXPECT_NE(once.err.find("connected to ldaps://dc1.corp.example.com:636"), std::string::npos)
      << once.err;
  EXPECT_EQ(run.StoreObjects("users").size(), 1u);

  // The daemon remembers the failure: after its first run and notification
  // registration, later runs go straight to dc1.
  DaemonProcess daemon(run, {}, dns.Wrapper());
  ASSERT_TRUE(daemon.WaitForLog("incremental run ok")) << daemon.Log();
  ASSERT_TRUE(daemon.WaitForLog("change notifications registered")) << daemon.Log();
  const int skipped = daemon.Count("dc9.corp.example.com:636: cannot connect");
  EXPECT_GE(skipped, 1) << daemon.Log();
  dc.AddUser(ou, "Found Two", "found.two");
  const std::string two = *dc.SearchGuids("CN=Found Two," + ou, kUserFilter).begin();
  EXPECT_TRUE(Eventually([&] { return run.StoreObjects("users").contains(two); }, seconds(15)))
      << daemon.Log();
  EXPECT_EQ(daemon.Count("dc9.corp.example.com:636: cannot connect"), skipped) << daemon.Log();
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.WaitExit(seconds(20)), 0) << daemon.Log();
}

}  // namespace
}  // namespace syncd::testing
