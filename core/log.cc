#include "core/log.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cstdlib>

#include "core/strings.h"

namespace syncd {
namespace {

// systemd sets $JOURNAL_STREAM to the device and inode of the stream it
// connected stderr to; if they still match, stderr goes to the journal.
bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  unsigned long long device = 0, inode = 0;
  if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
  struct stat info {};
  return fstat(STDERR_FILENO, &info) == 0 && info.st_dev == device && info.st_ino == inode;
}

int SyslogPriority(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return LOG_DEBUG;
    case LogLevel::kInfo:
      return LOG_INFO;
    case LogLevel::kWarning:
      return LOG_WARNING;
    case LogLevel::kError:
      return LOG_ERR;
  }
  return LOG_INFO;
}

void SendToJournal(LogLevel level, const std::string& message, const LogFields& fields) {
  std::vector<std::string> items = {"MESSAGE=" + message,
                                    "PRIORITY=" + std::to_string(SyslogPriority(level)),
                                    "SYSLOG_IDENTIFIER=syncd"};
  for (const auto& [key, value] : fields) items.push_back("SYNCD_" + key + "=" + value);
  std::vector<iovec> vectors;
  vectors.reserve(items.size());
  for (auto& item : items) vectors.push_back({item.data(), item.size()});
  if (sd_journal_sendv(vectors.data(), static_cast<int>(vectors.size())) < 0) {
    std::cerr << "syncd: " << message << "\n";  // the journal is gone: keep the line
  }
}

}  // namespace

void Log(LogLevel level, const std::string& message, const LogFields& fields) {
  if (level < MinLogLevel()) return;
  // Messages carry directory text (names, DNs, DC errors): one line each,
  // with nothing a terminal or journal viewer would act on.
  const std::string line = TerminalSafe(message);
  static const bool journal = StderrIsJournal();
  if (journal) {
    SendToJournal(level, line, fields);
    return;
  }
  static const char* const kNames[] = {"debug", "info", "warning", "error"};
  std::cerr << "syncd: " << kNames[static_cast<int>(level)] << ": " << line << "\n";
}

}  // namespace syncd
