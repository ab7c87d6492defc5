#include "server/base/log.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace switchboard::base {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
    case LogLevel::kFatal:
      return "FATAL";
  }
  return "?";
}

bool IsControl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

// Values reach log lines unescaped (ack messages, peers' error text, paths), so the finished line
// is made safe here, once: a control character becomes \n, \r, \t or \xNN and one call stays one
// line. Bytes from 0x80 up (UTF-8) are kept.
void AppendEscaped(absl::string_view text, std::string* out) {
  for (char c : text) {
    if (!IsControl(c)) {
      out->push_back(c);
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '\r') {
      out->append("\\r");
    } else if (c == '\t') {
      out->append("\\t");
    } else {
      absl::StrAppend(out, "\\x", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
}

}  // namespace

std::string Quoted(absl::string_view value) {
  std::string out = "\"";
  out.reserve(value.size() + 2);
  for (const char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

void SetMinLogLevel(LogLevel level) { min_level.store(static_cast<int>(level)); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= min_level.load(); }

LogLine::LogLine(LogLevel level, const char* file, int line) : level_(level) {
  stream_ << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()) << ' '
          << LevelName(level) << ' ';
  if (level >= LogLevel::kError) {
    const char* base = file;
    for (const char* p = file; *p; ++p) {
      if (*p == '/') base = p + 1;
    }
    stream_ << '[' << base << ':' << line << "] ";
  }
}

LogLine::~LogLine() {
  std::string text = stream_.str();
  if (std::any_of(text.begin(), text.end(), IsControl)) {
    std::string escaped;
    escaped.reserve(text.size() + 16);
    AppendEscaped(text, &escaped);
    text = std::move(escaped);
  }
  text.push_back('\n');
  // One write per line so concurrent lines do not interleave.
  ssize_t unused = ::write(STDERR_FILENO, text.data(), text.size());
  (void)unused;
  if (level_ == LogLevel::kFatal) std::abort();
}

}  // namespace switchboard::base
