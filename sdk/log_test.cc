#include "sdk/log.h"

#include <algorithm>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/capture_stderr.h"

namespace switchboard::sdk {
namespace {

using ::testing::EndsWith;

TEST(SdkLog, AMessageFromAHandlerCannotStartAnotherLine) {
  const std::string text = testing::CaptureStderr([] {
    LogWarning("sdk_reject reason=\"bad\nINFO sdk_forged ok=1\r\t\x01\x7f caf\xc3\xa9\"");
  });
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_THAT(text, EndsWith(" WARN sdk_reject reason=\"bad\\nINFO sdk_forged ok=1\\r\\t\\x01\\x7f "
                             "caf\xc3\xa9\"\n"));
}

TEST(SdkLog, AQuotedValueCannotEndEarlyAndFakeAKey) {
  EXPECT_EQ(Quoted(R"(db down" ok=1 \)"), R"("db down\" ok=1 \\")");
  EXPECT_EQ(Quoted(""), "\"\"");
}

}  // namespace
}  // namespace switchboard::sdk
