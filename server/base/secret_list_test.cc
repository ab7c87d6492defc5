#include "server/base/secret_list.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::base {
namespace {

using ::testing::ElementsAre;

TEST(SplitSecrets, SplitsOnCommasAndNewlinesAndTrims) {
  EXPECT_THAT(SplitSecrets(" whsec_a, whsec_b\nwhsec_c\n\n,"),
              ElementsAre("whsec_a", "whsec_b", "whsec_c"));
}

TEST(SplitSecrets, SkipsCommentLines) {
  EXPECT_THAT(SplitSecrets("# rotated 2026-11-01\nwhsec_a, whsec_b\r\n  # old: whsec_x\n"),
              ElementsAre("whsec_a", "whsec_b"));
}

}  // namespace
}  // namespace switchboard::base
