// Structured one-line logging to stderr.
//
// Each line is `<RFC3339 time> <LEVEL> <event> key=value ...`: one line per notable thing, easy to
// grep and to parse. Never pass secrets or request bodies (see docs/OPERATIONS.md). Control
// characters in the finished line (newline, CR, tab, other bytes below 0x20, DEL) are written as
// \n, \r, \t or \xNN, so a value from outside cannot start a forged line. A value that may hold
// spaces or quotes goes through Quoted(): `reason="..."` with `"` and `\` escaped, so it cannot
// end early and fake a key=value after it.
//
// Example:
//   SB_LOG(WARNING) << "webhook_rejected reason=bad_signature endpoint=" << path;
//   SB_LOG(WARNING) << "dead_letter reason=" << base::Quoted(ack.message());
//
// Thread-safe: a line is formatted in a local buffer and written with one write(2).
#ifndef SWITCHBOARD_SERVER_BASE_LOG_H_
#define SWITCHBOARD_SERVER_BASE_LOG_H_

#include <sstream>
#include <string>

#include "absl/strings/string_view.h"

namespace switchboard::base {

enum class LogLevel { kInfo, kWarning, kError, kFatal };

// `value` in double quotes, its `"` and `\` escaped with a backslash.
std::string Quoted(absl::string_view value);

// Collects one line and writes it when destroyed. kFatal aborts after writing.
class LogLine {
 public:
  LogLine(LogLevel level, const char* file, int line);
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  ~LogLine();

  template <typename T>
  LogLine& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Lines below this level are dropped (default kInfo). Call before starting threads.
void SetMinLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

}  // namespace switchboard::base

#define SB_LOG_LEVEL_INFO ::switchboard::base::LogLevel::kInfo
#define SB_LOG_LEVEL_WARNING ::switchboard::base::LogLevel::kWarning
#define SB_LOG_LEVEL_ERROR ::switchboard::base::LogLevel::kError
#define SB_LOG_LEVEL_FATAL ::switchboard::base::LogLevel::kFatal

#define SB_LOG(level)                                           \
  if (!::switchboard::base::LogEnabled(SB_LOG_LEVEL_##level)) { \
  } else                                                        \
    ::switchboard::base::LogLine(SB_LOG_LEVEL_##level, __FILE__, __LINE__)

#endif  // SWITCHBOARD_SERVER_BASE_LOG_H_
