// The integration test bed: a real Samba AD DC provisioned once per test
// binary by scripts/testdc.sh, plus helpers to run syncd and OpenLDAP tools.
#ifndef SYNCD_TESTS_INTEGRATION_TESTBED_H_
#define SYNCD_TESTS_INTEGRATION_TESTBED_H_

#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace syncd::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `command` through /bin/sh with stdout and stderr captured.
CommandResult RunCommand(const std::string& command);
std::string ShellQuote(const std::string& s);

class TestDc {
 public:
  // Starts the shared DC (or adopts SYNCD_TEST_DC_DIR when set, for fast
  // local iteration) and loads the sample data once.
  static TestDc& Get();
  // Provisions and starts a DC for another domain (TESTDC_REALM=realm), with
  // no sample data; stopped and removed when destroyed. It takes the
  // loopback ports: Halt() the shared DC first.
  static std::unique_ptr<TestDc> StartRealm(const std::string& realm);
  ~TestDc() { Stop(); }

  const std::string& dir() const { return dir_; }
  std::string Value(const std::string& key) const { return env_.at(key); }
  std::string BaseDn() const { return Value("BASE_DN"); }
  std::string SyncOu() const { return "OU=Sync," + BaseDn(); }

  // Runs an OpenLDAP tool as Administrator over LDAPS; fails the test on error.
  std::string Ldap(const std::string& tool, const std::string& args, const std::string& ldif = "");
  // Adds, modifies or deletes with LDIF text.
  void Modify(const std::string& ldif);
  // Creates a fresh OU (deleting any left from an earlier run).
  std::string FreshOu(const std::string& name);
  void AddUser(const std::string& ou, const std::string& cn, const std::string& sam,
               const std::string& extra_ldif = "");
  // objectGUIDs (dashed) of the entries the filter matches under base.
  std::set<std::string> SearchGuids(const std::string& base, const std::string& filter);
  // objectGUID (dashed) -> the first value of `attribute`, same search.
  std::map<std::string, std::string> SearchGuidMap(const std::string& base,
                                                   const std::string& filter,
                                                   const std::string& attribute);
  // The values of `attribute` (e.g. member) of one entry, ranged reads included.
  std::vector<std::string> SearchValues(const std::string& dn, const std::string& attribute);
  // testdc.sh set-primary-group: makes the group the user's primaryGroupID.
  void SetPrimaryGroup(const std::string& user_dn, const std::string& group_dn);

  // testdc.sh add-sid-history: adds `sid` ("S-1-5-21-...") to the account's
  // sIDHistory, as a domain migration would (not writable over LDAP).
  void AddSidHistory(const std::string& user_dn, const std::string& sid);

  // Stops the DC's samba, keeping its data (testdc.sh halt), and starts it
  // again (testdc.sh resume): an outage and a restart.
  void Halt();
  void Resume();
  // SIGSTOP / SIGCONT to samba's process group: a DC that accepts nothing
  // and answers nothing, the connection left open.
  void Freeze();
  void Thaw();

  void Stop();

 private:
  TestDc() = default;
  // realm empty: the shared DC (SYNCD_TEST_DC_DIR is honoured).
  void Start(const std::string& realm = "");
  std::string dir_;
  bool owned_ = false;
  std::map<std::string, std::string> env_;
};

// A syncd config, state and store in a private temp directory.
class SyncdRun {
 public:
  // `extra` is appended to a [source] table pointing at the test DC; it can
  // hold more [source] keys first, then further tables.
  explicit SyncdRun(const std::string& scope_toml, const std::string& source_extra = "",
                    const std::string& more_tables = "");
  ~SyncdRun();

  CommandResult Syncd(const std::string& args) const;
  CommandResult Once() const { return Syncd("--once"); }
  CommandResult DryRunJson() const { return Syncd("--dry-run --json"); }

  // Store listings as externalId -> name.
  std::map<std::string, std::string> StoreObjects(const std::string& what) const;
  std::set<std::string> StoreMembers(const std::string& group, bool effective = false) const;

  const std::string& config_path() const { return config_path_; }
  std::string store_path() const { return dir_ + "/store.db"; }
  std::string state_path() const { return dir_ + "/state.db"; }
  void WriteConfig(const std::string& text) const;
  // Runs SQL on the state database with the sqlite3 CLI (-batch, no header).
  CommandResult StateSql(const std::string& sql) const;
  std::string BaseConfig() const { return base_config_; }

 private:
  std::string dir_;
  std::string config_path_;
  std::string base_config_;
};

// The shared DC (TestDc::Get()) halted for the length of a scope, resumed
// whatever happens: a test that switches to another domain.
class HaltedDc {
 public:
  HaltedDc() { TestDc::Get().Halt(); }
  ~HaltedDc() { TestDc::Get().Resume(); }
  HaltedDc(const HaltedDc&) = delete;
  HaltedDc& operator=(const HaltedDc&) = delete;
};

// syncd running as a daemon (`syncd --config F -v`), stderr captured to a
// file the test reads. Killed when destroyed if still running.
class DaemonProcess {
 public:
  // `env`: extra NAME=VALUE entries for the daemon's environment.
  // `wrapper`: a command that ends by exec'ing its arguments (the daemon's
  // command line is appended), e.g. to run it in a private mount namespace.
  explicit DaemonProcess(const SyncdRun& run, const std::vector<std::string>& env = {},
                         const std::vector<std::string>& wrapper = {});
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  std::string Log() const;
  // How often `text` occurs in the log.
  int Count(const std::string& text) const;
  // Waits until `text` occurs at least `times` times; false after `timeout`.
  bool WaitForLog(const std::string& text, int times = 1,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  void Signal(int signal) const;
  // The exit status once the daemon exited, or -1 if it is still running
  // after `timeout` (-2: killed by a signal).
  int WaitExit(std::chrono::milliseconds timeout);
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
  int exit_status_ = -1;
  std::string log_path_;
};

// In a forked child: replaces it with `args` (args[0] found on PATH); exits
// 127 if that fails.
[[noreturn]] void ExecChild(const std::vector<std::string>& args);

// Polls `condition` every 50 ms until it holds or `timeout` passes.
bool Eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Runs `syncd --once` and SIGKILLs it as soon as the state records the run
// as started (its record "running"), that is while the plan is applied.
// False if the run finished before that could happen.
bool KillOnceApplying(const SyncdRun& run);

// A [scope] that syncs the users and groups of one OU.
std::string OuScope(const std::string& ou);
// The plan of `--dry-run --json` or `--once --json`; fails the test when empty.
boost::json::object ParsePlan(const CommandResult& r);
// summary.<kind>.<op> of a JSON plan.
int Count(const boost::json::object& plan, const char* kind, const char* op);

std::string Base64Decode(const std::string& in);
// Standard base64 with padding (LDIF "attr:: value").
std::string Base64Encode(const std::string& bytes);
std::string FileDigest(const std::string& path);  // "" if absent

}  // namespace syncd::testing

#endif  // SYNCD_TESTS_INTEGRATION_TESTBED_H_
