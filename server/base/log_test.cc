#include "server/base/log.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/capture_stderr.h"

namespace switchboard::base {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

TEST(LogLine, EscapesControlCharactersSoOneCallIsOneLine) {
  const std::string text = testing::CaptureStderr([] {
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
  const std::string text = testing::CaptureStderr(
      [] { SB_LOG(INFO) << "endpoint path=/webhook/caf\xc3\xa9 source=\"file C:\\secrets\""; });
  EXPECT_THAT(text,
              EndsWith(" INFO endpoint path=/webhook/caf\xc3\xa9 source=\"file C:\\secrets\"\n"));
}

TEST(LogLine, AQuotedValueCannotEndEarlyAndFakeAKey) {
  const std::string text = testing::CaptureStderr([] {
    SB_LOG(WARNING) << "dead_letter reason=" << Quoted("no\" admin=1 x=\"\\") << " attempts=3";
  });
  EXPECT_THAT(text,
              EndsWith(" WARN dead_letter reason=\"no\\\" admin=1 x=\\\"\\\\\" attempts=3\n"));
}

TEST(LogLine, WritesEachCallAsItsOwnLine) {
  const std::string text = testing::CaptureStderr([] {
    SB_LOG(INFO) << "first";
    SB_LOG(ERROR) << "second error=\"a\nb\"";
  });
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  EXPECT_THAT(text, HasSubstr(" INFO first\n"));
  EXPECT_THAT(text, HasSubstr("] second error=\"a\\nb\"\n"));
}

}  // namespace
}  // namespace switchboard::base
