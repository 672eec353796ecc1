#include "syncd/systemd.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "tests/unit/test_util.h"

namespace syncd {
namespace {

// Regression (issue 14): a status carrying directory text with a line break
// would have added its own assignments (READY=1, STOPPING=1, ...) to the
// sd_notify message.
TEST(ServiceManager, StatusWithALineBreakStaysOneAssignment) {
  testing::TempDir dir("syncd-notify");
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/notify";
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const auto saved = testing::GetEnv("NOTIFY_SOCKET");
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  ServiceManager().Status("last run failed: CN=x\nSTOPPING=1\x1b[2J");
  testing::RestoreEnv("NOTIFY_SOCKET", saved);
  char buffer[512] = {};
  const ssize_t n = recv(fd, buffer, sizeof buffer - 1, MSG_DONTWAIT);
  close(fd);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buffer, static_cast<size_t>(n)),
            "STATUS=last run failed: CN=x\\nSTOPPING=1\\x1b[2J");
}

}  // namespace
}  // namespace syncd
