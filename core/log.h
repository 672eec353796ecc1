// Logging: to the journal, with structured fields, when stderr is connected
// to it (a systemd service); plain lines on stderr otherwise. Messages never
// carry secrets: callers pass file paths, never the contents of secret files.
#ifndef SYNCD_CORE_LOG_H_
#define SYNCD_CORE_LOG_H_

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace syncd {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

inline LogLevel& MinLogLevel() {
  static LogLevel level = LogLevel::kInfo;
  return level;
}

// The process's resident set, for debug logs.
inline long ResidentMb() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * 4096 / (1024 * 1024);
}

// Measures a phase for debug logs: "<what> took N ms".
class PhaseTimer {
 public:
  PhaseTimer() : start_(std::chrono::steady_clock::now()) {}
  std::string Elapsed() const {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start_)
                  .count();
    return std::to_string(ms) + " ms (RSS " + std::to_string(ResidentMb()) + " MB)";
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Extra journal fields, e.g. {"RUN_KIND", "incremental"}: stored as
// SYNCD_RUN_KIND=incremental. Plain-text logs show only the message.
using LogFields = std::vector<std::pair<std::string, std::string>>;

// The message is written as one line, made TerminalSafe (core/strings.h);
// fields go to the journal as they are.
void Log(LogLevel level, const std::string& message, const LogFields& fields = {});

}  // namespace syncd

#endif  // SYNCD_CORE_LOG_H_
