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

void Log(absl::string_view level, absl::string_view text) {
  WriteAll(STDERR_FILENO,
           absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
                        " ", level, " ", text, "\n"));
}

}  // namespace

void PrintLine(absl::string_view line) { WriteAll(STDOUT_FILENO, absl::StrCat(line, "\n")); }

void LogInfo(absl::string_view text) { Log("INFO", text); }

void LogWarning(absl::string_view text) { Log("WARN", text); }

}  // namespace switchboard::sdk
