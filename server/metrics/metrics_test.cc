#include "server/metrics/metrics.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::server::metrics {
namespace {

using ::testing::HasSubstr;

TEST(Registry, SameNameAndLabelsGiveTheSameCounter) {
  Registry registry;
  Counter* a = registry.AddCounter("x_total", "X.", {{"k", "v"}});
  Counter* b = registry.AddCounter("x_total", "X.", {{"k", "v"}});
  Counter* c = registry.AddCounter("x_total", "X.", {{"k", "w"}});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(Registry, RendersCountersGaugesAndCumulativeHistograms) {
  Registry registry;
  registry.AddCounter("req_total", "Requests.", {{"outcome", "stored"}})->Increment(3);
  registry.AddGauge("backlog", "Backlog.", [] { return 7.0; });
  Histogram* h = registry.AddHistogram("lat_seconds", "Latency.", {0.1, 1});
  h->Observe(0.05);
  h->Observe(0.5);
  h->Observe(5);
  std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE req_total counter\nreq_total{outcome=\"stored\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("backlog 7\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{le=\"0.1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{le=\"1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_count 3\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_sum 5.55\n"));
}

TEST(Registry, EscapesLabelValues) {
  Registry registry;
  registry.AddCounter("c_total", "C.", {{"path", "a\"b\\c"}})->Increment();
  EXPECT_THAT(registry.Render(), HasSubstr("c_total{path=\"a\\\"b\\\\c\"} 1"));
}

}  // namespace
}  // namespace switchboard::server::metrics
