// The credential chain (credentials.h). credential_process runs as a child
// process without a shell: posix_spawnp in its own process group, stdout and
// stderr read through Asio stream descriptors, the whole group killed at the
// timeout. Its stdout holds secrets: it is parsed, never quoted in an error.
#include "aws/credentials.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "core/input_file.h"
#include "core/log.h"
#include "core/strings.h"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace syncd::aws {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using std::chrono::system_clock;

// Profile keys of providers syncd leaves to credential_process.
constexpr std::array<std::string_view, 7> kUnsupportedKeys = {
    "role_arn",      "source_profile",          "credential_source", "sso_session",
    "sso_start_url", "web_identity_token_file", "sso_account_id"};

// What a credential_process may print before syncd stops reading.
constexpr size_t kMaxProcessOutput = size_t{64} << 10;
// The stderr quoted in an error message.
constexpr size_t kMaxQuotedStderr = 2000;

std::string_view Trim(std::string_view text) {
  const size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  const size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

std::string DefaultAwsFile(const char* name) { return EnvOr("HOME", "") + "/.aws/" + name; }

std::string CredentialsFilePath(const CredentialOptions& options) {
  if (!options.credentials_file.empty()) return options.credentials_file;
  return EnvOr("AWS_SHARED_CREDENTIALS_FILE", DefaultAwsFile("credentials"));
}

std::string ConfigFilePath(const CredentialOptions& options) {
  if (!options.config_file.empty()) return options.config_file;
  return EnvOr("AWS_CONFIG_FILE", DefaultAwsFile("config"));
}

std::string ProfileName(const CredentialOptions& options) {
  if (!options.profile.empty()) return options.profile;
  return EnvOr("AWS_PROFILE", "default");
}

// One of the shared files, parsed; empty when it does not exist and was not
// named explicitly.
struct AwsFile {
  std::string path;
  IniFile sections;
};

Result<AwsFile> LoadAwsFile(const std::string& path, bool explicitly_named,
                            std::string_view label) {
  AwsFile file{path, {}};
  struct stat info {};
  if (stat(path.c_str(), &info) != 0 && errno == ENOENT && !explicitly_named) return file;
  auto text = ReadInputFile(path, label, "an AWS shared credentials or config file");
  if (!text.ok()) return text.status();
  auto parsed = ParseIni(*text, path);
  if (!parsed.ok()) return parsed.status();
  file.sections = std::move(*parsed);
  return file;
}

// The config file's section of `profile`: [profile NAME], or [default] for
// the default profile.
const std::map<std::string, std::string>* ConfigSection(const IniFile& config,
                                                        const std::string& profile) {
  if (auto it = config.find("profile " + profile); it != config.end()) return &it->second;
  if (profile == "default") {
    if (auto it = config.find("default"); it != config.end()) return &it->second;
  }
  return nullptr;
}

const std::map<std::string, std::string>* Section(const IniFile& file, const std::string& name) {
  auto it = file.find(name);
  return it != file.end() ? &it->second : nullptr;
}

std::string ValueOr(const std::map<std::string, std::string>* section, const std::string& key) {
  if (section == nullptr) return "";
  auto it = section->find(key);
  return it != section->end() ? it->second : "";
}

// Key files must be private: their keys are as good as a password.
Status CheckPrivate(const std::string& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) {
    return Status::InvalidArgument(path + " cannot be read: " + std::strerror(errno));
  }
  if ((info.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    std::array<char, 8> mode{};
    std::snprintf(mode.data(), mode.size(), "%04o",  // NOLINT(cert-err33-c): fits
                  static_cast<unsigned>(info.st_mode & 07777));
    return Status::PermissionDenied(
        path + " holds AWS keys and is readable by group or others (mode " +
        std::string(mode.data()) + "); make it private: chmod 600 " + path);
  }
  return Status::Ok();
}

// "2026-11-22T10:30:00Z", with optional fractional seconds and a numeric
// offset instead of Z.
std::optional<system_clock::time_point> ParseRfc3339(std::string_view text) {
  std::tm parts{};
  int consumed = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n",  // NOLINT(cert-err34-c)
                  &parts.tm_year, &parts.tm_mon, &parts.tm_mday, &parts.tm_hour, &parts.tm_min,
                  &parts.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  parts.tm_year -= 1900;
  parts.tm_mon -= 1;
  std::string_view rest = text.substr(static_cast<size_t>(consumed));
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') rest.remove_prefix(1);
  }
  int64_t offset_seconds = 0;
  if (rest == "Z" || rest == "z") {
    offset_seconds = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    const int hours = (rest[1] - '0') * 10 + (rest[2] - '0');
    const int minutes = (rest[4] - '0') * 10 + (rest[5] - '0');
    offset_seconds = (rest[0] == '-' ? -1 : 1) * (int64_t{hours} * 3600 + int64_t{minutes} * 60);
  } else {
    return std::nullopt;
  }
  const std::time_t local = timegm(&parts);
  if (local == -1) return std::nullopt;
  return system_clock::from_time_t(local) - std::chrono::seconds(offset_seconds);
}

// The command line split as the AWS CLI splits it (POSIX shell words, no
// expansion): white space separates, single quotes are literal, double
// quotes group and take \" and \\, a backslash outside quotes escapes.
Result<std::vector<std::string>> SplitCommandLine(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      const size_t close = line.find('\'', i + 1);
      if (close == std::string_view::npos) return Status::InvalidArgument("unterminated ' quote");
      word.append(line.substr(i + 1, close - i - 1));
      in_word = true;
      i = close;
    } else if (c == '"') {
      in_word = true;
      for (++i;; ++i) {
        if (i >= line.size()) return Status::InvalidArgument("unterminated \" quote");
        if (line[i] == '"') break;
        if (line[i] == '\\' && i + 1 < line.size() &&
            (line[i + 1] == '"' || line[i + 1] == '\\' || line[i + 1] == '$' ||
             line[i + 1] == '`')) {
          ++i;
        }
        word += line[i];
      }
    } else if (c == '\\' && i + 1 < line.size()) {
      word += line[++i];
      in_word = true;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) return Status::InvalidArgument("empty command");
  return words;
}

// Credentials that never change: the environment or a file's keys.
class StaticProvider : public CredentialProvider {
 public:
  StaticProvider(Credentials credentials, std::string description)
      : credentials_(std::move(credentials)), description_(std::move(description)) {}
  asio::awaitable<Result<Credentials>> Get() override { co_return credentials_; }
  void Invalidate() override {}
  std::string Describe() const override { return description_; }

 private:
  Credentials credentials_;
  std::string description_;
};

// A pipe end the child writes; closed on destruction if still open.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Close(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Both ends of a pipe, close-on-exec (the child gets dup2'ed copies).
bool MakePipe(Fd& read_end, Fd& write_end) {
  std::array<int, 2> fds{};
  if (pipe2(fds.data(), O_CLOEXEC) != 0) return false;
  read_end = Fd(fds[0]);
  write_end = Fd(fds[1]);
  return true;
}

// Reads `pipe` until EOF, keeping at most `limit` bytes (the rest is
// drained so the child never blocks on a full pipe).
asio::awaitable<void> ReadUntilEof(asio::posix::stream_descriptor& pipe, std::string& out,
                                   size_t limit) {
  std::array<char, 4096> buffer{};
  for (;;) {
    boost::system::error_code ec;
    const size_t n = co_await pipe.async_read_some(asio::buffer(buffer),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;  // EOF, or the pipe closed under us
    out.append(buffer.data(), std::min(n, limit - std::min(limit, out.size())));
  }
}

// Until `timer` is cancelled (or expires).
asio::awaitable<void> WaitUntilCancelled(asio::steady_timer& timer) {
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

struct ProcessOutcome {
  bool timed_out = false;
  int wait_status = 0;
  bool status_known = false;
  std::string out;
  std::string err;
};

// Runs `argv` to completion (or kills its process group after `timeout`).
// `spawn_error` is set when it could not start at all.
asio::awaitable<ProcessOutcome> RunProcess(const std::vector<std::string>& argv,
                                           std::chrono::seconds timeout, int& spawn_error) {
  using namespace asio::experimental::awaitable_operators;  // NOLINT(google-build-using-namespace)
  const auto executor = co_await asio::this_coro::executor;
  ProcessOutcome outcome;
  Fd out_read, out_write, err_read, err_write;
  if (!MakePipe(out_read, out_write) || !MakePipe(err_read, err_write)) {
    spawn_error = errno;
    co_return outcome;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), 2);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  // Its own process group, so that the timeout kills what it started too;
  // default signal handling and an empty mask whatever syncd changed.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGHUP);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  spawn_error = posix_spawnp(&pid, args[0], &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  out_write.Close();
  err_write.Close();
  if (spawn_error != 0) co_return outcome;

  // The deadline kills the group (unless already reaped: its id could be
  // reused); the pipes then reach EOF.
  struct Watch {
    bool timed_out = false;
    bool reaped = false;
  };
  auto watch = std::make_shared<Watch>();
  asio::steady_timer deadline(executor, timeout);
  deadline.async_wait([pid, watch](const boost::system::error_code& ec) {
    if (ec || watch->reaped) return;
    watch->timed_out = true;
    kill(-pid, SIGKILL);
  });
  asio::posix::stream_descriptor out_pipe(executor, out_read.release());
  asio::posix::stream_descriptor err_pipe(executor, err_read.release());
  auto both = ReadUntilEof(out_pipe, outcome.out, kMaxProcessOutput) &&
              ReadUntilEof(err_pipe, outcome.err, kMaxProcessOutput);
  co_await std::move(both);
  // Closed its output, so it is exiting; or it keeps running without it,
  // until the deadline.
  asio::steady_timer poll(executor);
  for (;;) {
    const pid_t reaped = waitpid(pid, &outcome.wait_status, WNOHANG);
    if (reaped == pid) {
      outcome.status_known = true;
      break;
    }
    if (reaped < 0 && errno != EINTR) break;  // ECHILD: SIGCHLD ignored; status unknown
    poll.expires_after(std::chrono::milliseconds(10));
    co_await poll.async_wait(asio::use_awaitable);
  }
  watch->reaped = true;
  deadline.cancel();
  outcome.timed_out = watch->timed_out;
  co_return outcome;
}

// credential_process, cached until refresh_margin before Expiration.
class ProcessProvider : public CredentialProvider {
 public:
  ProcessProvider(asio::any_io_executor executor, std::vector<std::string> argv,
                  CredentialOptions options, std::string description)
      : executor_(std::move(executor)),
        argv_(std::move(argv)),
        options_(std::move(options)),
        description_(std::move(description)),
        refresh_done_(executor_) {}

  asio::awaitable<Result<Credentials>> Get() override {
    // One run at a time: calls that arrive during a run wait for its result
    // (the run cancels refresh_done_ when it ends).
    while (refreshing_) {
      co_await WaitUntilCancelled(refresh_done_);
      if (Fresh()) co_return *cached_;
      if (!last_failure_.ok()) co_return last_failure_;
    }
    if (Fresh()) co_return *cached_;
    refreshing_ = true;
    refresh_done_.expires_at(asio::steady_timer::time_point::max());
    Result<Credentials> result = co_await Run();
    refreshing_ = false;
    if (result.ok()) {
      cached_ = *result;
      last_failure_ = Status::Ok();
    } else {
      last_failure_ = result.status();
    }
    refresh_done_.cancel();
    co_return result;
  }

  void Invalidate() override { cached_.reset(); }
  std::string Describe() const override { return description_; }

 private:
  bool Fresh() const {
    if (!cached_.has_value()) return false;
    if (!cached_->expiration.has_value()) return true;
    return system_clock::now() + options_.refresh_margin < *cached_->expiration;
  }

  asio::awaitable<Result<Credentials>> Run() {
    int spawn_error = 0;
    ProcessOutcome outcome = co_await RunProcess(argv_, options_.process_timeout, spawn_error);
    if (spawn_error != 0) {
      co_return Status::Unavailable(description_ + ": cannot run " + argv_[0] + ": " +
                                    std::strerror(spawn_error));
    }
    if (outcome.timed_out) {
      co_return Status::Unavailable(description_ + ": did not finish within " +
                                    std::to_string(options_.process_timeout.count()) +
                                    " s and was killed");
    }
    if (outcome.status_known &&
        !(WIFEXITED(outcome.wait_status) && WEXITSTATUS(outcome.wait_status) == 0)) {
      const std::string how =
          WIFEXITED(outcome.wait_status)
              ? "exited with status " + std::to_string(WEXITSTATUS(outcome.wait_status))
              : "was killed by signal " + std::to_string(WTERMSIG(outcome.wait_status));
      std::string message = description_ + ": " + argv_[0] + " " + how;
      std::string_view err = Trim(outcome.err);
      if (!err.empty()) {
        message += ": " + TerminalSafe(err.substr(0, kMaxQuotedStderr));
      }
      co_return Status::PermissionDenied(message);
    }
    co_return ParseOutput(outcome.out);
  }

  // Never quotes `out`: it holds the secret.
  Result<Credentials> ParseOutput(const std::string& out) const {
    const std::string expected =
        ": its output is not what credential_process must print (JSON with \"Version\": 1, "
        "AccessKeyId, SecretAccessKey, optional SessionToken and Expiration)";
    boost::system::error_code ec;
    json::value parsed = json::parse(out, ec);
    if (ec || !parsed.is_object()) return Status::InvalidArgument(description_ + expected);
    const json::object& object = parsed.as_object();
    auto string_field = [&](std::string_view name) -> std::string {
      const json::value* field = object.if_contains(name);
      return field != nullptr && field->is_string() ? std::string(field->as_string()) : "";
    };
    const json::value* version = object.if_contains("Version");
    if (version == nullptr || !version->is_int64() || version->as_int64() != 1) {
      return Status::InvalidArgument(description_ + expected + "; Version is not 1");
    }
    Credentials credentials{.access_key_id = string_field("AccessKeyId"),
                            .secret_access_key = string_field("SecretAccessKey"),
                            .session_token = string_field("SessionToken")};
    if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
      return Status::InvalidArgument(description_ + expected +
                                     "; AccessKeyId or SecretAccessKey is missing");
    }
    if (const std::string expiration = string_field("Expiration"); !expiration.empty()) {
      credentials.expiration = ParseRfc3339(expiration);
      if (!credentials.expiration.has_value()) {
        return Status::InvalidArgument(description_ + ": Expiration \"" + TerminalSafe(expiration) +
                                       "\" is not an RFC 3339 time");
      }
    }
    return credentials;
  }

  asio::any_io_executor executor_;
  std::vector<std::string> argv_;
  CredentialOptions options_;
  std::string description_;
  std::optional<Credentials> cached_;
  bool refreshing_ = false;
  Status last_failure_;
  asio::steady_timer refresh_done_;
};

// Static keys of `section` in `file`, after the permission check.
Result<std::unique_ptr<CredentialProvider>> KeysFrom(
    const std::map<std::string, std::string>& section, const std::string& path,
    const std::string& description) {
  Credentials credentials{.access_key_id = ValueOr(&section, "aws_access_key_id"),
                          .secret_access_key = ValueOr(&section, "aws_secret_access_key"),
                          .session_token = ValueOr(&section, "aws_session_token")};
  if (credentials.secret_access_key.empty()) {
    return Status::InvalidArgument(description +
                                   " has aws_access_key_id but no aws_secret_access_key");
  }
  if (Status status = CheckPrivate(path); !status.ok()) return status;
  return std::unique_ptr<CredentialProvider>(
      std::make_unique<StaticProvider>(std::move(credentials), description));
}

}  // namespace

Result<IniFile> ParseIni(const std::string& text, const std::string& origin) {
  IniFile sections;
  std::map<std::string, std::string>* current = nullptr;
  size_t line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string_view raw = std::string_view(text).substr(start, end - start);
    start = end + 1;
    ++line_number;
    const std::string_view line = Trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    const auto where = [&] { return origin + " line " + std::to_string(line_number); };
    if (line.front() == '[') {
      if (line.back() != ']') return Status::InvalidArgument(where() + ": a section without ']'");
      current = &sections[std::string(Trim(line.substr(1, line.size() - 2)))];
      continue;
    }
    // An indented line continues a nested sub-section ("s3 =" then
    // "  max_concurrent_requests = 10"): not a profile setting.
    if (raw.front() == ' ' || raw.front() == '\t') continue;
    // The line is never quoted: it may hold a secret.
    const size_t equals = line.find('=');
    if (equals == std::string_view::npos) {
      return Status::InvalidArgument(where() + ": expected [section] or key = value");
    }
    if (current == nullptr) {
      return Status::InvalidArgument(where() + ": a setting before any [section]");
    }
    (*current)[AsciiLower(Trim(line.substr(0, equals)))] =
        std::string(Trim(line.substr(equals + 1)));
  }
  return sections;
}

std::string ProfileRegion(const CredentialOptions& options) {
  if (std::string region = EnvOr("AWS_REGION", EnvOr("AWS_DEFAULT_REGION", "")); !region.empty()) {
    return region;
  }
  auto config = LoadAwsFile(ConfigFilePath(options), false, "AWS config file");
  if (!config.ok()) return "";
  return ValueOr(ConfigSection(config->sections, ProfileName(options)), "region");
}

Result<std::unique_ptr<CredentialProvider>> CredentialProvider::Create(
    boost::asio::any_io_executor executor, CredentialOptions options) {
  const std::string env_key = EnvOr("AWS_ACCESS_KEY_ID", "");
  const std::string env_secret = EnvOr("AWS_SECRET_ACCESS_KEY", "");
  if (!env_key.empty() || !env_secret.empty()) {
    if (env_key.empty() || env_secret.empty()) {
      return Status::InvalidArgument(
          "the environment sets only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    }
    Credentials credentials{.access_key_id = env_key,
                            .secret_access_key = env_secret,
                            .session_token = EnvOr("AWS_SESSION_TOKEN", "")};
    return std::unique_ptr<CredentialProvider>(
        std::make_unique<StaticProvider>(std::move(credentials), "environment"));
  }

  const std::string profile = ProfileName(options);
  auto credentials_file = LoadAwsFile(CredentialsFilePath(options),
                                      !options.credentials_file.empty(), "AWS credentials file");
  if (!credentials_file.ok()) return credentials_file.status();
  auto config_file =
      LoadAwsFile(ConfigFilePath(options), !options.config_file.empty(), "AWS config file");
  if (!config_file.ok()) return config_file.status();
  const auto* from_credentials = Section(credentials_file->sections, profile);
  const auto* from_config = ConfigSection(config_file->sections, profile);

  // A provider syncd does not run would give other credentials than the
  // AWS CLI gives for this profile: refuse rather than guess.
  for (const auto& [section, path] : {std::pair{from_credentials, &credentials_file->path},
                                      std::pair{from_config, &config_file->path}}) {
    for (const std::string_view key : kUnsupportedKeys) {
      if (ValueOr(section, std::string(key)).empty()) continue;
      return Status::InvalidArgument(
          "profile " + profile + " in " + *path + " uses " + std::string(key) +
          ", which syncd does not support; give it credentials through credential_process "
          "instead, for example credential_process = aws configure export-credentials "
          "--profile " +
          profile + " --format process");
    }
  }

  if (!ValueOr(from_credentials, "aws_access_key_id").empty()) {
    return KeysFrom(*from_credentials, credentials_file->path,
                    "profile " + profile + " in " + credentials_file->path);
  }
  // credential_process before static keys of the config file, as the AWS
  // CLI orders them; the credentials file's setting wins.
  const bool process_in_credentials = !ValueOr(from_credentials, "credential_process").empty();
  const std::string process = process_in_credentials
                                  ? ValueOr(from_credentials, "credential_process")
                                  : ValueOr(from_config, "credential_process");
  if (!process.empty()) {
    const std::string& path = process_in_credentials ? credentials_file->path : config_file->path;
    const std::string description = "credential_process of profile " + profile + " in " + path;
    auto argv = SplitCommandLine(process);
    if (!argv.ok()) return argv.status().WithContext(description);
    return std::unique_ptr<CredentialProvider>(std::make_unique<ProcessProvider>(
        std::move(executor), std::move(*argv), std::move(options), description));
  }
  if (!ValueOr(from_config, "aws_access_key_id").empty()) {
    return KeysFrom(*from_config, config_file->path,
                    "profile " + profile + " in " + config_file->path);
  }

  std::string message = "no AWS credentials: AWS_ACCESS_KEY_ID is not set, and profile " + profile +
                        " has neither keys nor credential_process in " + credentials_file->path +
                        " or " + config_file->path;
  if (profile != "default" && Section(config_file->sections, profile) != nullptr &&
      from_config == nullptr) {
    message += " (the config file names the section [" + profile + "]; there it must be [profile " +
               profile + "])";
  }
  return Status::NotFound(message);
}

}  // namespace syncd::aws
