#include "tests/integration/testbed.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/sqlite.h"
#include "ldap/codec.h"

namespace syncd::testing {
namespace fs = std::filesystem;

namespace {

std::string SourceDir() {
  const char* dir = std::getenv("SYNCD_SOURCE_DIR");
  return dir ? dir : ".";
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string MakeTempDir(const std::string& prefix) {
  std::string pattern = "/tmp/" + prefix + "XXXXXX";
  char* made = mkdtemp(pattern.data());
  if (made == nullptr) throw std::runtime_error("mkdtemp failed");
  return made;
}

}  // namespace

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

CommandResult RunCommand(const std::string& command) {
  static int counter = 0;
  std::string base =
      "/tmp/syncd-it-cmd-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
  std::string full = "(" + command + ") >" + base + ".out 2>" + base + ".err </dev/null";
  int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = Slurp(base + ".out");
  r.err = Slurp(base + ".err");
  fs::remove(base + ".out");
  fs::remove(base + ".err");
  return r;
}

std::string OuScope(const std::string& ou) {
  return "user_bases = [\"" + ou + "\"]\ngroup_bases = [\"" + ou + "\"]\n";
}

boost::json::object ParsePlan(const CommandResult& r) {
  EXPECT_FALSE(r.out.empty()) << r.err;
  return boost::json::parse(r.out).as_object();
}

int Count(const boost::json::object& plan, const char* kind, const char* op) {
  return static_cast<int>(plan.at("summary").at(kind).at(op).as_int64());
}

std::string Base64Encode(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size())
      n |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

std::string Base64Decode(const std::string& in) {
  static const std::string kChars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    auto pos = kChars.find(c);
    if (pos == std::string::npos) continue;
    val = (val << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

std::string FileDigest(const std::string& path) {
  if (!fs::exists(path)) return "";
  return RunCommand("sha256sum " + ShellQuote(path)).out.substr(0, 64);
}

TestDc& TestDc::Get() {
  static TestDc* dc = [] {
    auto* made = new TestDc();
    made->Start();
    return made;
  }();
  return *dc;
}

std::unique_ptr<TestDc> TestDc::StartRealm(const std::string& realm) {
  std::unique_ptr<TestDc> dc(new TestDc());
  dc->Start(realm);
  return dc;
}

void TestDc::Start(const std::string& realm) {
  const std::string script = SourceDir() + "/scripts/testdc.sh";
  const char* reuse = realm.empty() ? std::getenv("SYNCD_TEST_DC_DIR") : nullptr;
  if (reuse != nullptr) {
    dir_ = reuse;
  } else {
    dir_ = MakeTempDir("syncd-it-dc-");
    owned_ = true;
    CommandResult started =
        RunCommand((realm.empty() ? "" : "TESTDC_REALM=" + ShellQuote(realm) + " ") +
                   ShellQuote(script) + " start " + ShellQuote(dir_));
    if (started.exit_code != 0) {
      throw std::runtime_error("testdc.sh start failed:\n" + started.out + started.err);
    }
  }
  CommandResult env = RunCommand(ShellQuote(script) + " env " + ShellQuote(dir_));
  std::istringstream lines(env.out);
  for (std::string line; std::getline(lines, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) env_[line.substr(0, eq)] = line.substr(eq + 1);
  }
  if (!env_.contains("BASE_DN")) throw std::runtime_error("testdc.sh env printed: " + env.out);
  if (!realm.empty()) return;  // another domain: the test brings its own data
  // Sample data: loaded once; a reused DC already has it.
  if (RunCommand(ShellQuote(script) + " ldap " + ShellQuote(dir_) + " ldapsearch -LLL -s base -b " +
                 ShellQuote(SyncOu()) + " dn")
          .exit_code == 0) {
    return;
  }
  const std::string gen = "python3 " + ShellQuote(SourceDir() + "/scripts/gen-ldif.py") +
                          " --users 300 --big-group-members 1600";
  const std::string ldif = dir_ + "/sample.ldif";
  CommandResult loaded = RunCommand(gen + " > " + ShellQuote(ldif) + " && " + ShellQuote(script) +
                                    " load " + ShellQuote(dir_) + " " + ShellQuote(ldif));
  if (loaded.exit_code != 0) throw std::runtime_error("loading sample data: " + loaded.err);
  CommandResult pairs = RunCommand(gen + " --primary-group-pairs");
  std::istringstream pl(pairs.out);
  for (std::string line; std::getline(pl, line);) {
    auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    CommandResult set =
        RunCommand(ShellQuote(script) + " set-primary-group " + ShellQuote(dir_) + " " +
                   ShellQuote(line.substr(0, tab)) + " " + ShellQuote(line.substr(tab + 1)));
    if (set.exit_code != 0) throw std::runtime_error("set-primary-group: " + set.err);
  }
}

void TestDc::AddSidHistory(const std::string& user_dn, const std::string& sid) {
  CommandResult r =
      RunCommand(ShellQuote(SourceDir() + "/scripts/testdc.sh") + " add-sid-history " +
                 ShellQuote(dir_) + " " + ShellQuote(user_dn) + " " + ShellQuote(sid));
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

void TestDc::Halt() {
  CommandResult r =
      RunCommand(ShellQuote(SourceDir() + "/scripts/testdc.sh") + " halt " + ShellQuote(dir_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

void TestDc::Resume() {
  CommandResult r =
      RunCommand(ShellQuote(SourceDir() + "/scripts/testdc.sh") + " resume " + ShellQuote(dir_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

namespace {
void SignalSamba(const std::string& dir, int signal) {
  const int pid = std::atoi(Slurp(dir + "/samba.pid").c_str());
  ASSERT_GT(pid, 0) << "no samba.pid in " << dir;
  ASSERT_EQ(kill(-pid, signal), 0) << "cannot signal samba's process group " << pid;
}
}  // namespace

void TestDc::Freeze() { SignalSamba(dir_, SIGSTOP); }
void TestDc::Thaw() { SignalSamba(dir_, SIGCONT); }

void TestDc::Stop() {
  if (owned_) {
    RunCommand(ShellQuote(SourceDir() + "/scripts/testdc.sh") + " stop " + ShellQuote(dir_));
    owned_ = false;
  }
}

std::string TestDc::Ldap(const std::string& tool, const std::string& args,
                         const std::string& ldif) {
  std::string command = ShellQuote(SourceDir() + "/scripts/testdc.sh") + " ldap " +
                        ShellQuote(dir_) + " " + tool + " " + args;
  std::string input;
  if (!ldif.empty()) {
    input = dir_ + "/input-" + std::to_string(getpid()) + ".ldif";
    std::ofstream(input) << ldif;
    command += " -f " + ShellQuote(input);
  }
  CommandResult r = RunCommand(command);
  if (!input.empty()) fs::remove(input);
  EXPECT_EQ(r.exit_code, 0) << tool << " " << args << "\n" << ldif << "\n" << r.err;
  return r.out;
}

void TestDc::Modify(const std::string& ldif) { Ldap("ldapmodify", "", ldif); }

std::string TestDc::FreshOu(const std::string& name) {
  std::string dn = "OU=" + name + "," + SyncOu();
  RunCommand(ShellQuote(SourceDir() + "/scripts/testdc.sh") + " ldap " + ShellQuote(dir_) +
             " ldapdelete -r " + ShellQuote(dn));
  Modify("dn: " + dn + "\nchangetype: add\nobjectClass: organizationalUnit\n");
  return dn;
}

void TestDc::AddUser(const std::string& ou, const std::string& cn, const std::string& sam,
                     const std::string& extra_ldif) {
  Modify("dn: CN=" + cn + "," + ou + "\nchangetype: add\nobjectClass: user\nsAMAccountName: " +
         sam + "\nuserPrincipalName: " + sam + "@corp.example.com\ngivenName: " + cn +
         "\nuserAccountControl: 514\n" + extra_ldif);
}

std::set<std::string> TestDc::SearchGuids(const std::string& base, const std::string& filter) {
  std::set<std::string> guids;
  for (const auto& [guid, value] : SearchGuidMap(base, filter, "objectGUID")) guids.insert(guid);
  return guids;
}

std::map<std::string, std::string> TestDc::SearchGuidMap(const std::string& base,
                                                         const std::string& filter,
                                                         const std::string& attribute) {
  std::string out =
      Ldap("ldapsearch", "-LLL -o ldif-wrap=no -E pr=500/noprompt -b " + ShellQuote(base) + " " +
                             ShellQuote(filter) + " objectGUID " + attribute);
  std::map<std::string, std::string> result;
  std::istringstream entries(out);
  std::string guid, value;
  auto flush = [&] {
    if (!guid.empty()) result[guid] = value;
    guid.clear();
    value.clear();
  };
  for (std::string line; std::getline(entries, line);) {
    if (line.rfind("dn:", 0) == 0) flush();
    if (line.rfind("objectGUID:: ", 0) == 0) {
      guid = ldap::GuidToString(Base64Decode(line.substr(13))).value_or("?");
    }
    if (value.empty() && line.rfind(attribute + ": ", 0) == 0) {
      value = line.substr(attribute.size() + 2);
    } else if (value.empty() && line.rfind(attribute + ":: ", 0) == 0) {
      value = Base64Decode(line.substr(attribute.size() + 3));
    }
  }
  flush();
  return result;
}

std::vector<std::string> TestDc::SearchValues(const std::string& dn, const std::string& attribute) {
  std::string out = Ldap("ldapsearch", "-LLL -o ldif-wrap=no -s base -b " + ShellQuote(dn) +
                                           " '(objectClass=*)' " + attribute);
  std::vector<std::string> values;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(attribute + ": ", 0) == 0) values.push_back(line.substr(attribute.size() + 2));
    if (line.rfind(attribute + ":: ", 0) == 0) {
      values.push_back(Base64Decode(line.substr(attribute.size() + 3)));
    }
  }
  return values;
}

void TestDc::SetPrimaryGroup(const std::string& user_dn, const std::string& group_dn) {
  CommandResult r =
      RunCommand(ShellQuote(SourceDir() + "/scripts/testdc.sh") + " set-primary-group " +
                 ShellQuote(dir_) + " " + ShellQuote(user_dn) + " " + ShellQuote(group_dn));
  EXPECT_EQ(r.exit_code, 0) << "set-primary-group " << user_dn << " " << group_dn << "\n" << r.err;
}

SyncdRun::SyncdRun(const std::string& scope_toml, const std::string& source_extra,
                   const std::string& more_tables) {
  TestDc& dc = TestDc::Get();
  dir_ = MakeTempDir("syncd-it-run-");
  config_path_ = dir_ + "/syncd.conf";
  base_config_ = "[source]\nuris = [\"" + dc.Value("URI") + "\"]\nbase_dn = \"" + dc.BaseDn() +
                 "\"\nbind_dn = \"" + dc.Value("BIND_DN") + "\"\npassword_file = \"" +
                 dc.Value("PASSWORD_FILE") + "\"\ntls_ca_file = \"" + dc.Value("CA_FILE") + "\"\n" +
                 source_extra + "\n[scope]\n" + scope_toml + "\n[store]\npath = \"" + store_path() +
                 "\"\n[state]\npath = \"" + state_path() + "\"\n" + more_tables;
  WriteConfig(base_config_);
}

SyncdRun::~SyncdRun() { fs::remove_all(dir_); }

void SyncdRun::WriteConfig(const std::string& text) const { std::ofstream(config_path_) << text; }

CommandResult SyncdRun::StateSql(const std::string& sql) const {
  return RunCommand("sqlite3 -batch " + ShellQuote(state_path()) + " " + ShellQuote(sql));
}

CommandResult SyncdRun::Syncd(const std::string& args) const {
  const char* binary = std::getenv("SYNCD_BINARY");
  return RunCommand(ShellQuote(binary ? binary : "syncd") + " --config " +
                    ShellQuote(config_path_) + " " + args);
}

std::map<std::string, std::string> SyncdRun::StoreObjects(const std::string& what) const {
  CommandResult r = Syncd("store " + what + " --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, std::string> out;
  if (r.exit_code != 0) return out;
  const boost::json::value listing = boost::json::parse(r.out);
  for (const auto& o : listing.as_array()) {
    out[std::string(o.at("externalId").as_string())] = std::string(o.at("name").as_string());
  }
  return out;
}

std::set<std::string> SyncdRun::StoreMembers(const std::string& group, bool effective) const {
  CommandResult r =
      Syncd("store members " + ShellQuote(group) + " --json" + (effective ? " --effective" : ""));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> out;
  if (r.exit_code != 0) return out;
  const boost::json::value listing = boost::json::parse(r.out);
  for (const auto& o : listing.as_array()) {
    out.insert(std::string(o.at("externalId").as_string()));
  }
  return out;
}

// Runs `syncd --once` and SIGKILLs it as soon as the journal holds the plan,
// that is while the store batch is in flight. False if the run finished
// before that could happen.
DaemonProcess::DaemonProcess(const SyncdRun& run, const std::vector<std::string>& env,
                             const std::vector<std::string>& wrapper) {
  const char* binary = std::getenv("SYNCD_BINARY");
  if (binary == nullptr) {
    ADD_FAILURE() << "SYNCD_BINARY is not set";
    return;
  }
  log_path_ = run.config_path() + ".daemon.log";
  pid_ = fork();
  if (pid_ == 0) {
    int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(log, 1);
    dup2(log, 2);
    for (const auto& entry : env) putenv(const_cast<char*>(entry.c_str()));
    std::vector<std::string> args = wrapper;
    for (const char* arg : {binary, "--config", run.config_path().c_str(), "-v"}) {
      args.emplace_back(arg);
    }
    ExecChild(args);
  }
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0 && WaitExit(std::chrono::milliseconds(0)) == -1 && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string DaemonProcess::Log() const { return Slurp(log_path_); }

int DaemonProcess::Count(const std::string& text) const {
  const std::string log = Log();
  int n = 0;
  for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
  return n;
}

bool DaemonProcess::WaitForLog(const std::string& text, int times,
                               std::chrono::milliseconds timeout) const {
  return Eventually([&] { return Count(text) >= times; }, timeout);
}

void DaemonProcess::Signal(int signal) const { kill(pid_, signal); }

int DaemonProcess::WaitExit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return exit_status_;
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -2;
      return exit_status_;
    }
    if (std::chrono::steady_clock::now() >= until) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void ExecChild(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  _exit(127);
}

bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

bool KillOnceApplying(const SyncdRun& run) {
  const char* binary = std::getenv("SYNCD_BINARY");
  if (binary == nullptr) {
    ADD_FAILURE() << "SYNCD_BINARY is not set";
    return false;
  }
  pid_t child = fork();
  if (child == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(binary, binary, "--config", run.config_path().c_str(), "--once", nullptr);
    _exit(127);
  }
  // Polled in process, from one connection, every 0.2 ms: a small batch is
  // applied in a few milliseconds (an sqlite3 process per look took longer
  // than that).
  std::unique_ptr<sql::Database> db;
  auto applying = [&] {
    if (!db) {
      auto opened = sql::Database::Open(run.state_path(), /*read_only=*/true);
      if (!opened.ok()) return false;  // not created yet
      db = std::move(*opened);
    }
    auto count = db->Prepare("SELECT count(*) FROM runs WHERE outcome = 'running'");
    if (!count.ok()) return false;
    auto row = count->Step();
    const bool found = row.ok() && *row && count->ColumnInt(0) > 0;
    count->Reset();
    return found;
  };
  int status = 0;
  for (;;) {
    if (waitpid(child, &status, WNOHANG) == child) return false;  // finished first
    if (applying()) break;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  kill(child, SIGKILL);
  waitpid(child, &status, 0);
  return WIFSIGNALED(status);
}

}  // namespace syncd::testing
