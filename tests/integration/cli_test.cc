// The command line as an operator meets it: directory text that cannot
// steer the terminal, files only their owner reads, --version.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/integration/testbed.h"

namespace syncd::testing {
namespace {

std::string Binary() {
  const char* binary = std::getenv("SYNCD_BINARY");
  return binary ? binary : "syncd";
}

std::string Base64Encode(const std::string& in) {
  static const char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    const size_t n = std::min<size_t>(3, in.size() - i);
    uint32_t block = 0;
    for (size_t j = 0; j < 3; ++j) {
      block = (block << 8) | (j < n ? static_cast<unsigned char>(in[i + j]) : 0u);
    }
    for (size_t j = 0; j < 4; ++j) {
      out.push_back(j <= n ? kChars[(block >> (18 - 6 * j)) & 0x3f] : '=');
    }
  }
  return out;
}

// What a terminal would act on: ESC, BEL, and any other C0 control but the
// line ends and tabs the output itself writes.
bool HasControlBytes(const std::string& text) {
  for (unsigned char c : text) {
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return true;
  }
  return false;
}

int Lines(const std::string& text) {
  int n = 0;
  for (char c : text) n += c == '\n' ? 1 : 0;
  return n;
}

bool HasLineStartingWith(const std::string& text, const std::string& prefix) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

// Regression (issue 14): this displayName retitled the operator's terminal,
// cleared the screen and faked a plan line from --dry-run, store users and
// store members.
TEST(Cli, DirectoryTextCannotSteerTheTerminal) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-Hostile");
  const std::string user = "CN=Hostile User," + ou;
  dc.AddUser(ou, "Hostile User", "hostile.user", "displayName: Plain Name\n");
  dc.Modify("dn: CN=Hostile Group," + ou +
            "\nchangetype: add\nobjectClass: group\nsAMAccountName: hostile.group\nmember: " +
            user + "\n");
  SyncdRun run(OuScope(ou));
  ASSERT_EQ(run.Once().exit_code, 0);

  const std::string hostile = "x\x1b]0;pwned\a\x1b[2J\nFAKE: nothing to do";
  dc.Modify("dn: " + user + "\nchangetype: modify\nreplace: displayName\ndisplayName:: " +
            Base64Encode(hostile) + "\n");
  ASSERT_EQ(dc.SearchValues(user, "displayName"), std::vector<std::string>{hostile});

  CommandResult dry = run.Syncd("--dry-run");
  EXPECT_EQ(dry.exit_code, 2) << dry.err;
  EXPECT_FALSE(HasControlBytes(dry.out + dry.err)) << dry.out << dry.err;
  EXPECT_FALSE(HasLineStartingWith(dry.out, "FAKE")) << dry.out;
  EXPECT_NE(dry.out.find("\"x\\x1b]0;pwned\\x07\\x1b[2J\\nFAKE: nothing to do\""),
            std::string::npos)
      << "shown escaped:\n"
      << dry.out;
  // JSON keeps the value exactly.
  CommandResult json = run.Syncd("--dry-run --json");
  const boost::json::value plan = boost::json::parse(json.out);
  const auto& ops = plan.at("operations").as_array();
  ASSERT_EQ(ops.size(), 1u) << json.out;
  EXPECT_EQ(ops[0].at("changes").at("displayName").at("new").as_string(), hostile);

  ASSERT_EQ(run.Once().exit_code, 0);
  CommandResult users = run.Syncd("store users");
  EXPECT_EQ(users.exit_code, 0) << users.err;
  EXPECT_FALSE(HasControlBytes(users.out)) << users.out;
  EXPECT_EQ(Lines(users.out), 1) << "one line per user:\n" << users.out;
  EXPECT_NE(users.out.find("displayName=x\\x1b]0;pwned"), std::string::npos) << users.out;
  CommandResult members = run.Syncd("store members 'Hostile Group'");
  EXPECT_EQ(members.exit_code, 0) << members.err;
  EXPECT_FALSE(HasControlBytes(members.out)) << members.out;
  EXPECT_EQ(Lines(members.out), 1) << "one line per member:\n" << members.out;
  CommandResult explain = run.Syncd("explain hostile.user");
  EXPECT_EQ(explain.exit_code, 0) << explain.err;
  EXPECT_FALSE(HasControlBytes(explain.out)) << explain.out;
  EXPECT_FALSE(HasLineStartingWith(explain.out, "FAKE")) << explain.out;
}

int ModeOf(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 ? static_cast<int>(info.st_mode & 07777) : -1;
}

// Regression (issue 14): `--once` by hand under umask 022 created the state
// and the store world-readable (0644).
TEST(Cli, StateStoreAndLockAreOwnerOnlyUnderUmask022) {
  TestDc& dc = TestDc::Get();
  const std::string ou = dc.FreshOu("T-Modes");
  dc.AddUser(ou, "Mode User", "mode.user");
  SyncdRun run(OuScope(ou));
  CommandResult once = RunCommand("umask 022 && " + ShellQuote(Binary()) + " --config " +
                                  ShellQuote(run.config_path()) + " --once");
  ASSERT_EQ(once.exit_code, 0) << once.err;
  EXPECT_EQ(ModeOf(run.state_path()), 0600);
  EXPECT_EQ(ModeOf(run.store_path()), 0600);
  EXPECT_EQ(ModeOf(run.state_path() + ".lock"), 0600);
  // The journals come and go within a run; SQLite gives them the database's
  // mode (core_test's SqliteFileMode checks one mid-transaction).
}

TEST(Cli, VersionPrintsTheProjectVersionAndExitsZero) {
  const char* source = std::getenv("SYNCD_SOURCE_DIR");
  std::ifstream cmake(std::string(source ? source : ".") + "/CMakeLists.txt");
  std::stringstream text;
  text << cmake.rdbuf();
  // Plain string search: GCC 12 under ASan warns inside <regex> (maybe-uninitialized).
  const std::string lists = text.str();
  const std::string marker = "project(syncd VERSION ";
  const size_t at = lists.find(marker);
  ASSERT_NE(at, std::string::npos);
  const size_t from = at + marker.size();
  const std::string version =
      lists.substr(from, lists.find_first_not_of("0123456789.", from) - from);
  ASSERT_FALSE(version.empty());
  // No configuration is read: --version works before one exists.
  CommandResult r = RunCommand(ShellQuote(Binary()) + " --config /nonexistent --version");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "syncd " + version + "\n");
  EXPECT_EQ(r.err, "");
}

}  // namespace
}  // namespace syncd::testing
