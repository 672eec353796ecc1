// Minimal logging to stderr. Messages never carry secrets: callers pass
// file paths, never the contents of secret files.
#ifndef SYNCD_SYNCD_LOG_H_
#define SYNCD_SYNCD_LOG_H_

#include <iostream>
#include <string>

namespace syncd {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

inline LogLevel& MinLogLevel() {
  static LogLevel level = LogLevel::kInfo;
  return level;
}

inline void Log(LogLevel level, const std::string& message) {
  if (level < MinLogLevel()) return;
  static const char* const kNames[] = {"debug", "info", "warning", "error"};
  std::cerr << "syncd: " << kNames[static_cast<int>(level)] << ": " << message << "\n";
}

}  // namespace syncd

#endif  // SYNCD_SYNCD_LOG_H_
