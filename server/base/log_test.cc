#include "server/base/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::base {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

// What the SB_LOG lines written by `log` put on stderr.
template <typename F>
std::string CaptureLog(F log) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/stderr.log";
  const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(file, STDERR_FILENO);
  log();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(file);
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  return text.str();
}

TEST(LogLine, EscapesControlCharactersSoOneCallIsOneLine) {
  const std::string text = CaptureLog([] {
    SB_LOG(WARNING) << "sdk_reject reason=\""
                    << "bad\nINFO forged_line admin=1\r\x01\x7f\t"
                    << "\"";
  });
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_THAT(
      text,
      EndsWith("WARN sdk_reject reason=\"bad\\nINFO forged_line admin=1\\r\\x01\\x7f\\t\"\n"));
}

TEST(LogLine, KeepsPrintableTextAndUtf8AsTheyAre) {
  const std::string text = CaptureLog(
      [] { SB_LOG(INFO) << "endpoint path=/webhook/caf\xc3\xa9 source=\"file C:\\secrets\""; });
  EXPECT_THAT(text,
              EndsWith(" INFO endpoint path=/webhook/caf\xc3\xa9 source=\"file C:\\secrets\"\n"));
}

TEST(LogLine, WritesEachCallAsItsOwnLine) {
  const std::string text = CaptureLog([] {
    SB_LOG(INFO) << "first";
    SB_LOG(ERROR) << "second error=\"a\nb\"";
  });
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  EXPECT_THAT(text, HasSubstr(" INFO first\n"));
  EXPECT_THAT(text, HasSubstr("] second error=\"a\\nb\"\n"));
}

}  // namespace
}  // namespace switchboard::base
