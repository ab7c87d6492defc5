#include "sdk/log.h"

#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace switchboard::sdk {
namespace {

void WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to report a broken stdout/stderr
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Handlers' messages and exception texts reach these lines: a control character is written
// as \n, \r, \t or \xNN (as the gateway's log does), so one call stays one line and nothing
// can forge another. UTF-8 is kept.
std::string OnOneLine(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      absl::StrAppend(&out, "\\x", absl::Hex(byte, absl::kZeroPad2));
    } else {
      out += c;
    }
  }
  return out;
}

void Log(absl::string_view level, absl::string_view text) {
  WriteAll(STDERR_FILENO,
           absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
                        " ", level, " ", OnOneLine(text), "\n"));
}

}  // namespace

void PrintLine(absl::string_view line) { WriteAll(STDOUT_FILENO, absl::StrCat(line, "\n")); }

void LogInfo(absl::string_view text) { Log("INFO", text); }

void LogWarning(absl::string_view text) { Log("WARN", text); }

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

}  // namespace switchboard::sdk
