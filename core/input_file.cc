#include "core/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/log.h"

namespace syncd {
namespace {

// Closes the descriptor however the read ends.
class InputFile {
 public:
  explicit InputFile(const std::string& path) : fd_(open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~InputFile() {
    if (fd_ >= 0) close(fd_);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// Reads the file, stopping once `limit` bytes are in.
Result<std::string> Read(const std::string& path, std::string_view label, std::string_view expected,
                         size_t limit) {
  const std::string where = std::string(label) + ": " + path;
  InputFile file(path);
  if (file.fd() < 0) {
    if (errno == ENOENT) return Status::InvalidArgument(where + " does not exist");
    return Status::InvalidArgument(where + " cannot be read: " + std::strerror(errno));
  }
  struct stat info {};
  if (fstat(file.fd(), &info) == 0 && S_ISDIR(info.st_mode)) {
    return Status::InvalidArgument(where + " is a directory, expected " + std::string(expected));
  }
  std::string text;
  char buf[8192];
  for (;;) {
    const ssize_t n = read(file.fd(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::InvalidArgument(where + " cannot be read: " + std::strerror(errno));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxInputFileBytes) {
      return Status::InvalidArgument(where + " is larger than " +
                                     std::to_string(kMaxInputFileBytes >> 20) + " MiB, expected " +
                                     std::string(expected));
    }
    if (text.size() >= limit) break;
  }
  return text;
}

}  // namespace

Result<std::string> ReadInputFile(const std::string& path, std::string_view label,
                                  std::string_view expected) {
  return Read(path, label, expected, SIZE_MAX);
}

Status CheckInputFile(const std::string& path, std::string_view label, std::string_view expected) {
  return Read(path, label, expected, 1).status();
}

Result<std::string> ReadSecretFile(const std::string& path, const std::string& key) {
  auto text = ReadInputFile(path, key, "a file whose first line is the secret");
  if (!text.ok()) return text.status();
  std::string line = text->substr(0, text->find('\n'));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    return Status::InvalidArgument(key + ": " + path +
                                   (text->empty() ? " is empty" : " has an empty first line") +
                                   ", expected the secret on its first line");
  }
  struct stat info {};
  if (stat(path.c_str(), &info) == 0 && (info.st_mode & S_IROTH) != 0) {
    Log(LogLevel::kWarning, key + ": " + path + " is readable by every user; make it mode 0600");
  }
  return line;
}

}  // namespace syncd
