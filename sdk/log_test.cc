#include "sdk/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::sdk {
namespace {

using ::testing::EndsWith;

// What `log` writes to stderr.
template <typename F>
std::string CaptureStderr(F log) {
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

TEST(SdkLog, AMessageFromAHandlerCannotStartAnotherLine) {
  const std::string text = CaptureStderr(
      [] { LogWarning("sdk_reject reason=\"bad\nINFO sdk_forged ok=1\r\x01\x7f caf\xc3\xa9\""); });
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_THAT(text, EndsWith(" WARN sdk_reject reason=\"bad\\nINFO sdk_forged ok=1\\x0d\\x01\\x7f "
                             "caf\xc3\xa9\"\n"));
}

}  // namespace
}  // namespace switchboard::sdk
