#include "server/ingress/refusal_log.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/clock.h"
#include "server/base/status_matchers.h"
#include "server/metrics/metrics.h"

namespace switchboard::server::ingress {
namespace {

using ::switchboard::base::StatusIs;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;

class RefusalLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(log_, RefusalLog::Create({"webhook"}, {&metrics_, &clock_}));
  }

  int64_t Count(const std::string& reason) {
    for (const auto& [labels, value] : metrics_.CounterValues("switchboard_http_refused_total")) {
      if (labels == metrics::Labels{{"listener", "webhook"}, {"reason", reason}}) return value;
    }
    return -1;  // not registered
  }

  // The http_refused lines `record` logs (stderr, where SB_LOG writes).
  std::vector<std::string> LinesLoggedBy(const std::function<void()>& record) {
    ::testing::internal::CaptureStderr();
    record();
    std::vector<std::string> lines;
    for (absl::string_view line :
         absl::StrSplit(::testing::internal::GetCapturedStderr(), '\n', absl::SkipEmpty())) {
      if (absl::StrContains(line, "http_refused")) lines.emplace_back(line);
    }
    return lines;
  }

  base::FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  metrics::Registry metrics_;
  std::unique_ptr<RefusalLog> log_;
};

TEST_F(RefusalLogTest, EveryReasonShowsFromTheStart) {
  for (absl::string_view reason : HttpServer::kRefusalReasons) {
    EXPECT_EQ(Count(std::string(reason)), 0) << reason;
  }
  EXPECT_THAT(
      metrics_.Render(),
      HasSubstr("switchboard_http_refused_total{listener=\"webhook\",reason=\"deadline\"} 0"));
}

TEST_F(RefusalLogTest, CountsEveryRefusalButLogsAReasonAtMostOncePerInterval) {
  EXPECT_THAT(
      LinesLoggedBy([&] {
        for (int i = 0; i < 5; ++i) log_->Record("too_many_connections", 503);
      }),
      ElementsAre(EndsWith("http_refused listener=webhook reason=too_many_connections status=503 "
                           "suppressed=0")));
  EXPECT_EQ(Count("too_many_connections"), 5);

  // Still within the interval: counted, not logged.
  clock_.Advance(absl::Seconds(4));
  EXPECT_THAT(LinesLoggedBy([&] { log_->Record("too_many_connections", 503); }), ElementsAre());
  // The first after it says how many were left out.
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(LinesLoggedBy([&] { log_->Record("too_many_connections", 503); }),
              ElementsAre(EndsWith("reason=too_many_connections status=503 suppressed=5")));
  EXPECT_EQ(Count("too_many_connections"), 7);
}

TEST_F(RefusalLogTest, EachReasonHasItsOwnInterval) {
  EXPECT_THAT(LinesLoggedBy([&] {
                log_->Record("header_too_large", 431);
                log_->Record("deadline", 0);
                log_->Record("header_too_large", 431);
                log_->Record("deadline", 400);
              }),
              ElementsAre(EndsWith("reason=header_too_large status=431 suppressed=0"),
                          EndsWith("reason=deadline status=0 suppressed=0")));
  EXPECT_EQ(Count("header_too_large"), 2);
  EXPECT_EQ(Count("deadline"), 2);
}

TEST_F(RefusalLogTest, The503IsAnErrorTheRestWarnings) {
  const std::vector<std::string> lines = LinesLoggedBy([&] {
    log_->Record("too_many_connections", 503);
    log_->Record("malformed_request", 400);
  });
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr(" ERROR "));
  EXPECT_THAT(lines[1], HasSubstr(" WARN "));
}

TEST_F(RefusalLogTest, AnUnknownReasonIsReportedNotCounted) {
  log_->Record("no_such_reason", 400);
  EXPECT_EQ(Count("no_such_reason"), -1);
}

TEST(RefusalLog, CreateChecksItsArguments) {
  metrics::Registry metrics;
  base::FakeClock clock(absl::UnixEpoch());
  EXPECT_THAT(RefusalLog::Create({""}, {&metrics, &clock}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RefusalLog::Create({"ops"}, {nullptr, &clock}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RefusalLog::Create({"ops", -absl::Seconds(1)}, {&metrics, &clock}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace switchboard::server::ingress
