// syncd as a daemon against the real Samba DC: change notifications wake it
// long before its interval, a DC outage is ridden out with backoff and
// nothing lost, SIGHUP swaps in a good config and rejects a bad one, SIGTERM
// finishes (or abandons, at the deadline) the run in flight and exits 0, and
// the sd_notify protocol is spoken on a real NOTIFY_SOCKET.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/testbed.h"

namespace syncd::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const char kUserFilter[] = "(&(objectCategory=person)(objectClass=user))";

// The [daemon] table: a long interval (so only notifications or failures
// make runs) and quick backoff, with `overrides` ("key = value" lines) winning.
std::string DaemonTable(const std::string& overrides) {
  std::map<std::string, std::string> keys = {{"interval", "600"},
                                             {"jitter", "0"},
                                             {"backoff_initial", "1"},
                                             {"backoff_max", "2"},
                                             {"coalesce_ms", "100"}};
  std::istringstream lines(overrides);
  for (std::string line; std::getline(lines, line);) {
    const auto eq = line.find(" = ");
    if (eq != std::string::npos) keys[line.substr(0, eq)] = line.substr(eq + 3);
  }
  std::string table = "[daemon]\n";
  for (const auto& [key, value] : keys) table += key + " = " + value + "\n";
  return table;
}

// A daemon on its own OU, allowed any number of deletions.
struct DaemonFixture {
  explicit DaemonFixture(const std::string& name, const std::string& daemon_toml = "",
                         const std::string& source_extra = "")
      : dc(TestDc::Get()),
        ou(dc.FreshOu(name)),
        run("user_bases = [\"" + ou + "\"]\ngroup_bases = [\"" + ou + "\"]\n", source_extra,
            "[safety]\nmax_deletes = -1\nmax_delete_percent = 100\n" + DaemonTable(daemon_toml)) {}

  std::set<std::string> AdUsers() const { return dc.SearchGuids(ou, kUserFilter); }
  std::set<std::string> StoreUsers() const {
    std::set<std::string> guids;
    for (const auto& [guid, name] : run.StoreObjects("users")) guids.insert(guid);
    return guids;
  }
  std::string UserGuid(const std::string& cn) const {
    auto guids = dc.SearchGuids("CN=" + cn + "," + ou, kUserFilter);
    return guids.empty() ? "" : *guids.begin();
  }

  TestDc& dc;
  std::string ou;
  SyncdRun run;
};

TEST(Daemon, ChangeNotificationsDeliverChangesLongBeforeTheInterval) {
  DaemonFixture f("DaemonNotify");
  f.dc.AddUser(f.ou, "Notify One", "notify.one");
  DaemonProcess daemon(f.run);
  ASSERT_TRUE(daemon.WaitForLog("full run ok")) << daemon.Log();
  ASSERT_TRUE(daemon.WaitForLog("change notifications registered")) << daemon.Log();
  EXPECT_EQ(f.StoreUsers(), f.AdUsers());

  // A create, a rename of the login name, and a delete: each reaches the
  // store through the notification path; the interval is 10 minutes.
  f.dc.AddUser(f.ou, "Notify Two", "notify.two");
  const std::string two = f.UserGuid("Notify Two");
  EXPECT_TRUE(Eventually([&] { return f.StoreUsers().contains(two); }, seconds(15)))
      << daemon.Log();

  f.dc.Modify("dn: CN=Notify Two," + f.ou +
              "\nchangetype: modify\nreplace: userPrincipalName\nuserPrincipalName: "
              "notify.renamed@corp.example.com\n");
  EXPECT_TRUE(Eventually(
      [&] { return f.run.StoreObjects("users")[two] == "notify.renamed@corp.example.com"; },
      seconds(15)))
      << daemon.Log();

  // A new OU below the base: watched once it appears (the notification on
  // its parent makes the daemon register again), so a user created in it
  // arrives the same way.
  const std::string sub = "OU=NotifySub," + f.ou;
  f.dc.Modify("dn: " + sub + "\nchangetype: add\nobjectClass: organizationalUnit\n");
  EXPECT_TRUE(daemon.WaitForLog("registering change notifications again", 1, seconds(15)))
      << daemon.Log();
  EXPECT_TRUE(daemon.WaitForLog("change notifications registered", 2, seconds(15))) << daemon.Log();
  f.dc.AddUser(sub, "Notify Deep", "notify.deep");
  const std::string deep = *f.dc.SearchGuids(sub, kUserFilter).begin();
  EXPECT_TRUE(Eventually([&] { return f.StoreUsers().contains(deep); }, seconds(15)))
      << daemon.Log();

  const std::string one = f.UserGuid("Notify One");
  f.dc.Ldap("ldapdelete", ShellQuote("CN=Notify One," + f.ou));
  EXPECT_TRUE(Eventually([&] { return !f.StoreUsers().contains(one); }, seconds(15)))
      << daemon.Log();
  EXPECT_EQ(f.StoreUsers(), f.AdUsers());
  EXPECT_GE(daemon.Count("incremental run ok"), 3) << daemon.Log();

  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.WaitExit(seconds(20)), 0) << daemon.Log();
}

// Regression: with five notification searches on one connection, Samba
// ended them every 5 s (MaxNotificationPerConn reached, counting the search
// it re-runs), and changes waited for the next registration.
TEST(Daemon, FiveNotificationsOnOneConnectionAreNotDropped) {
  DaemonFixture f("DaemonFiveWatches");
  std::vector<std::string> subs;
  for (int i = 1; i <= 4; ++i) {  // the base, four sub-OUs and Deleted Objects: six searches
    subs.push_back("OU=Watch" + std::to_string(i) + "," + f.ou);
    f.dc.Modify("dn: " + subs.back() + "\nchangetype: add\nobjectClass: organizationalUnit\n");
  }
  DaemonProcess daemon(f.run);
  ASSERT_TRUE(daemon.WaitForLog("change notifications registered on 6 containers")) << daemon.Log();
  std::this_thread::sleep_for(seconds(7));  // past Samba's 5 s re-run of pending notifications
  EXPECT_EQ(daemon.Count("change notifications stopped"), 0) << daemon.Log();
  for (const auto& sub : subs) {
    const std::string cn = "Watched " + sub.substr(3, 6);
    f.dc.AddUser(sub, cn, "watched." + sub.substr(3, 6));
    const std::string guid = *f.dc.SearchGuids("CN=" + cn + "," + sub, kUserFilter).begin();
    EXPECT_TRUE(Eventually([&] { return f.StoreUsers().contains(guid); }, seconds(5)))
        << sub << "\n"
        << daemon.Log();
  }
  EXPECT_EQ(daemon.Count("change notifications stopped"), 0) << daemon.Log();
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.WaitExit(seconds(20)), 0) << daemon.Log();
}

TEST(Daemon, DcOutageIsRiddenOutWithBackoffAndNothingIsLost) {
  DaemonFixture f("DaemonOutage", "interval = 2\n");
  f.dc.AddUser(f.ou, "Outage One", "outage.one");
  DaemonProcess daemon(f.run);
  ASSERT_TRUE(daemon.WaitForLog("full run ok")) << daemon.Log();
  ASSERT_TRUE(daemon.WaitForLog("change notifications registered")) << daemon.Log();
  const auto before = f.run.StoreObjects("users");

  f.dc.Halt();
  // Failed runs back off (1 s, then 2 s capped) and the notifications
  // wait to register again; the store keeps everything it had.
  EXPECT_TRUE(daemon.WaitForLog("(attempt 3; retrying with backoff)", 1, seconds(40)))
      << daemon.Log();
  EXPECT_TRUE(daemon.WaitForLog("change notifications stopped")) << daemon.Log();
  EXPECT_EQ(f.run.StoreObjects("users"), before);
  // Counted before the DC is back: the daemon may register again before
  // Resume() returns (seen under load).
  const int registered = daemon.Count("change notifications registered");
  f.dc.Resume();

  // Back: the first run after the outage succeeds, notifications register
  // again, and a change made now arrives.
  EXPECT_TRUE(daemon.WaitForLog("incremental run ok", 1, seconds(30))) << daemon.Log();
  EXPECT_TRUE(daemon.WaitForLog("change notifications registered", registered + 1, seconds(30)))
      << daemon.Log();
  f.dc.AddUser(f.ou, "Outage Two", "outage.two");
  const std::string two = f.UserGuid("Outage Two");
  EXPECT_TRUE(Eventually([&] { return f.StoreUsers().contains(two); }, seconds(20)))
      << daemon.Log();
  EXPECT_EQ(f.StoreUsers(), f.AdUsers());

  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.WaitExit(seconds(20)), 0) << daemon.Log();
  // Nothing left behind: a full dry run against AD plans nothing.
  CommandResult dry = f.run.Syncd("--dry-run --full");
  EXPECT_EQ(dry.exit_code, 0) << dry.out << dry.err;
}

TEST(Daemon, SighupRejectsABadConfigAndAppliesAGoodOne) {
  DaemonFixture f("DaemonReload");
  f.dc.AddUser(f.ou, "Reload Keep", "reload.keep");
  f.dc.AddUser(f.ou, "Reload Drop", "reload.drop");
  DaemonProcess daemon(f.run);
  ASSERT_TRUE(daemon.WaitForLog("full run ok")) << daemon.Log();
  ASSERT_TRUE(daemon.WaitForLog("change notifications registered")) << daemon.Log();
  const std::string good = f.run.BaseConfig();

  // A bad file: rejected with the key and line, and the daemon carries on
  // with the configuration it has (notifications included).
  std::string bad = good;
  bad.replace(bad.find("interval = 600"), 14, "interval = -5");
  f.run.WriteConfig(bad);
  daemon.Signal(SIGHUP);
  ASSERT_TRUE(daemon.WaitForLog("reload rejected")) << daemon.Log();
  EXPECT_NE(daemon.Log().find("daemon.interval must be between"), std::string::npos)
      << daemon.Log();
  // (The CLI cannot read the store with the bad file in place: the log tells.)
  f.dc.AddUser(f.ou, "Reload New", "reload.new");
  const std::string fresh = f.UserGuid("Reload New");
  EXPECT_TRUE(daemon.WaitForLog("incremental run ok: users +1 ~0 -0", 1, seconds(15)))
      << daemon.Log();
  f.run.WriteConfig(good);
  EXPECT_TRUE(f.StoreUsers().contains(fresh));

  // A good one that narrows the scope: the next run reconciles fully and
  // the user now filtered out leaves the store.
  const std::string drop = f.UserGuid("Reload Drop");
  ASSERT_TRUE(f.StoreUsers().contains(drop));
  std::string narrowed = good;
  narrowed.insert(narrowed.find("[store]"), "user_filter = \"(!(sAMAccountName=reload.drop))\"\n");
  f.run.WriteConfig(narrowed);
  daemon.Signal(SIGHUP);
  ASSERT_TRUE(daemon.WaitForLog("configuration reloaded")) << daemon.Log();
  EXPECT_TRUE(daemon.WaitForLog("full run ok", 2, seconds(20))) << daemon.Log();
  EXPECT_FALSE(f.StoreUsers().contains(drop)) << daemon.Log();
  EXPECT_TRUE(f.StoreUsers().contains(fresh));

  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.WaitExit(seconds(20)), 0) << daemon.Log();
}

TEST(Daemon, SigtermLetsTheRunInFlightFinish) {
  DaemonFixture f("DaemonFinish", "shutdown_timeout = 30\n");
  f.dc.AddUser(f.ou, "Finish One", "finish.one");
  // The DC answers nothing, so the first run hangs mid-flight.
  f.dc.Freeze();
  DaemonProcess daemon(f.run);
  std::this_thread::sleep_for(milliseconds(1500));
  daemon.Signal(SIGTERM);
  EXPECT_TRUE(daemon.WaitForLog("letting the run in flight finish", 1, seconds(5))) << daemon.Log();
  f.dc.Thaw();
  EXPECT_EQ(daemon.WaitExit(seconds(40)), 0) << daemon.Log();
  EXPECT_EQ(daemon.Count("full run ok"), 1) << daemon.Log();
  EXPECT_EQ(f.StoreUsers(), f.AdUsers());
}

TEST(Daemon, SigtermAbandonsAHungRunAtTheShutdownDeadline) {
  DaemonFixture f("DaemonAbandon", "shutdown_timeout = 2\n", "connect_timeout = 3\ntimeout = 4\n");
  f.dc.AddUser(f.ou, "Abandon One", "abandon.one");
  f.dc.Freeze();
  DaemonProcess daemon(f.run);
  std::this_thread::sleep_for(milliseconds(1500));
  const auto signalled = std::chrono::steady_clock::now();
  daemon.Signal(SIGTERM);
  const int status = daemon.WaitExit(seconds(30));
  const auto took = std::chrono::steady_clock::now() - signalled;
  f.dc.Thaw();
  EXPECT_EQ(status, 0) << daemon.Log();
  // Bounded: the shutdown deadline plus at most one blocking connect step.
  EXPECT_LT(took, seconds(2 + 4 + 3)) << daemon.Log();
  EXPECT_EQ(daemon.Count("run ok"), 0) << daemon.Log();

  // Nothing half-done: the next run converges.
  CommandResult once = f.run.Once();
  EXPECT_EQ(once.exit_code, 0) << once.out << once.err;
  EXPECT_EQ(f.StoreUsers(), f.AdUsers());
}

// A datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path.copy(address.sun_path, sizeof address.sun_path - 1);
    unlink(path.c_str());
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }

  // Every message received so far, in order (waits up to `timeout` for the first).
  std::vector<std::string> Drain(milliseconds timeout = milliseconds(100)) {
    timeval tv{0, static_cast<suseconds_t>(timeout.count() * 1000)};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::vector<std::string> messages;
    char buffer[4096];
    for (;;) {
      ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      messages.emplace_back(buffer, static_cast<size_t>(n));
      received_.push_back(messages.back());
    }
    return messages;
  }
  // All messages so far joined, after draining.
  std::string All() {
    Drain();
    std::string all;
    for (const auto& m : received_) all += m + "\n--\n";
    return all;
  }
  // The index of the first message received containing `text`, or -1.
  int Find(const std::string& text, int from = 0) {
    Drain();
    for (size_t i = static_cast<size_t>(from); i < received_.size(); ++i) {
      if (received_[i].find(text) != std::string::npos) return static_cast<int>(i);
    }
    return -1;
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> received_;
};

TEST(Daemon, SpeaksTheSdNotifyProtocol) {
  DaemonFixture f("DaemonNotifySocket");
  f.dc.AddUser(f.ou, "Systemd One", "systemd.one");
  NotifySocket socket(f.run.state_path() + ".notify");
  DaemonProcess daemon(
      f.run, {"NOTIFY_SOCKET=" + f.run.state_path() + ".notify", "WATCHDOG_USEC=1000000"});
  ASSERT_TRUE(daemon.WaitForLog("full run ok")) << daemon.Log();
  ASSERT_TRUE(Eventually([&] { return socket.Find("STATUS=last run: full run ok") >= 0; }))
      << socket.All();
  const int ready = socket.Find("READY=1");
  ASSERT_GE(ready, 0) << socket.All();
  EXPECT_LT(ready, socket.Find("STATUS=last run:")) << "READY before the first run's outcome";
  // WATCHDOG=1 every half second (half of WATCHDOG_USEC).
  std::this_thread::sleep_for(milliseconds(1200));
  const std::string all = socket.All();
  int watchdogs = 0;
  for (size_t at = all.find("WATCHDOG=1"); at != std::string::npos;
       at = all.find("WATCHDOG=1", at + 1)) {
    ++watchdogs;
  }
  EXPECT_GE(watchdogs, 2) << all;

  daemon.Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] { return socket.Find("STATUS=configuration reloaded") >= 0; }))
      << socket.All();
  const int reloading = socket.Find("RELOADING=1");
  ASSERT_GE(reloading, 0) << socket.All();
  EXPECT_NE(socket.Find("MONOTONIC_USEC=", reloading), -1);
  EXPECT_GT(socket.Find("READY=1", reloading + 1), reloading) << socket.All();

  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.WaitExit(seconds(20)), 0) << daemon.Log();
  EXPECT_GE(socket.Find("STOPPING=1"), 0) << socket.All();
}

// A port nobody listens on right now.
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  close(fd);
  return ntohs(address.sin_port);
}

// GET /metrics, parsed: "name{labels}" -> value. Empty if it cannot connect.
std::map<std::string, double> Scrape(int port) {
  std::map<std::string, double> samples;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return samples;
  }
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
  EXPECT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) response.append(buffer, n);
  close(fd);
  EXPECT_EQ(response.rfind("HTTP/1.1 200", 0), 0u) << response;
  std::istringstream lines(response.substr(response.find("\r\n\r\n") + 4));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

TEST(Daemon, ServesPrometheusMetrics) {
  const int port = FreePort();
  DaemonFixture f("DaemonMetrics", "metrics_listen = \"127.0.0.1:" + std::to_string(port) + "\"\n");
  f.dc.AddUser(f.ou, "Metrics One", "metrics.one");
  f.dc.AddUser(f.ou, "Metrics Two", "metrics.two");
  DaemonProcess daemon(f.run);
  ASSERT_TRUE(daemon.WaitForLog("full run ok")) << daemon.Log();
  ASSERT_TRUE(daemon.WaitForLog("change notifications registered")) << daemon.Log();

  auto metrics = Scrape(port);
  EXPECT_EQ(metrics["syncd_runs_total{kind=\"full\",outcome=\"ok\"}"], 1) << daemon.Log();
  EXPECT_EQ(metrics["syncd_operations_total{kind=\"user\",op=\"create\",outcome=\"applied\"}"], 2);
  EXPECT_EQ(metrics["syncd_objects_in_scope{kind=\"user\"}"], 2);
  EXPECT_EQ(metrics["syncd_dc_in_use{uri=\"" + f.dc.Value("URI") + "\"}"], 1);
  EXPECT_EQ(metrics["syncd_run_in_progress"], 0);
  EXPECT_GT(metrics["syncd_last_success_timestamp_seconds"], 1.7e9);
  EXPECT_TRUE(metrics.contains("syncd_last_run_duration_seconds"));

  // A change: one more incremental run, one more user, counted.
  f.dc.AddUser(f.ou, "Metrics Three", "metrics.three");
  ASSERT_TRUE(daemon.WaitForLog("incremental run ok: users +1", 1, seconds(15))) << daemon.Log();
  metrics = Scrape(port);
  EXPECT_EQ(metrics["syncd_runs_total{kind=\"incremental\",outcome=\"ok\"}"], 1);
  EXPECT_EQ(metrics["syncd_operations_total{kind=\"user\",op=\"create\",outcome=\"applied\"}"], 3);
  EXPECT_EQ(metrics["syncd_objects_in_scope{kind=\"user\"}"], 3);

  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.WaitExit(seconds(20)), 0) << daemon.Log();
  EXPECT_TRUE(Scrape(port).empty()) << "the endpoint closes with the daemon";
}

TEST(Explain, InScopeOutOfScopeAndExcluded) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("ExplainCli");
  dc.AddUser(ou, "Explain In", "explain.in");
  dc.AddUser(ou, "Explain Out", "explain.out");
  SyncdRun run("user_bases = [\"" + ou + "\"]\ngroup_bases = [\"" + ou +
               "\"]\nexclude = [\"explain.out\"]\n");
  ASSERT_EQ(run.Once().exit_code, 0);

  CommandResult in = run.Syncd("explain explain.in");
  EXPECT_EQ(in.exit_code, 0) << in.err;
  EXPECT_NE(in.out.find("in scope"), std::string::npos) << in.out;
  EXPECT_NE(in.out.find(ou), std::string::npos) << in.out;  // the base that brings it in

  CommandResult excluded = run.Syncd("explain explain.out --json");
  EXPECT_EQ(excluded.exit_code, 0) << excluded.err;
  EXPECT_NE(excluded.out.find("\"excluded\""), std::string::npos) << excluded.out;
  EXPECT_NE(excluded.out.find("scope.exclude"), std::string::npos) << excluded.out;

  CommandResult outside =
      run.Syncd("explain " + ShellQuote("CN=Administrator,CN=Users," + dc.BaseDn()));
  EXPECT_EQ(outside.exit_code, 0) << outside.err;
  EXPECT_NE(outside.out.find("outside every configured base"), std::string::npos) << outside.out;
}

}  // namespace
}  // namespace syncd::testing
