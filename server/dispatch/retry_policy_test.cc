#include "server/dispatch/retry_policy.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/dispatch/event_proto.h"

namespace switchboard::server::dispatch {
namespace {

class FixedRandom final : public RandomSource {
 public:
  explicit FixedRandom(double value) : value_(value) {}
  double Uniform() override { return value_; }

 private:
  double value_;
};

TEST(RetryPolicy, DefaultsFollowStripe) {
  const RetryPolicy p = RetryPolicy::FromProto(switchboard::v1::RetryPolicy());
  EXPECT_EQ(p.initial_backoff, absl::Seconds(1));
  EXPECT_EQ(p.max_backoff, absl::Minutes(10));
  EXPECT_EQ(p.max_age, absl::Hours(72));
  EXPECT_EQ(p.max_attempts, 0);
}

TEST(RetryPolicy, CeilingDoublesUpToTheCap) {
  const RetryPolicy p;
  EXPECT_EQ(p.Ceiling(1), absl::Seconds(1));
  EXPECT_EQ(p.Ceiling(2), absl::Seconds(2));
  EXPECT_EQ(p.Ceiling(3), absl::Seconds(4));
  EXPECT_EQ(p.Ceiling(10), absl::Seconds(512));
  EXPECT_EQ(p.Ceiling(11), absl::Minutes(10));
  EXPECT_EQ(p.Ceiling(1000000), absl::Minutes(10));
}

TEST(RetryPolicy, FullJitterSpansZeroToTheCeiling) {
  const RetryPolicy p;
  FixedRandom zero(0.0);
  FixedRandom half(0.5);
  FixedRandom almost_one(0.999999);
  EXPECT_EQ(p.Backoff(3, zero), absl::ZeroDuration());
  EXPECT_EQ(p.Backoff(3, half), absl::Seconds(2));
  EXPECT_LE(p.Backoff(3, almost_one), absl::Seconds(4));
  EXPECT_GT(p.Backoff(3, almost_one), absl::Milliseconds(3990));
}

TEST(RetryPolicy, RandomSourceOutOfRangeIsClamped) {
  const RetryPolicy p;
  FixedRandom negative(-3.0);
  FixedRandom big(7.0);
  EXPECT_EQ(p.Backoff(2, negative), absl::ZeroDuration());
  EXPECT_EQ(p.Backoff(2, big), absl::Seconds(2));
}

TEST(RetryPolicy, ExhaustedByAttemptsOrAge) {
  switchboard::v1::RetryPolicy proto;
  proto.set_max_attempts(3);
  *proto.mutable_max_age() = ToProtoDuration(absl::Hours(1));
  const RetryPolicy p = RetryPolicy::FromProto(proto);
  const absl::Time first = absl::FromUnixSeconds(1000);
  EXPECT_FALSE(p.Exhausted(2, first, first + absl::Minutes(10)));
  EXPECT_TRUE(p.Exhausted(3, first, first + absl::Minutes(10)));
  EXPECT_FALSE(p.Exhausted(1, first, first + absl::Minutes(59)));
  EXPECT_TRUE(p.Exhausted(1, first, first + absl::Hours(1)));
}

TEST(RetryPolicy, NoAttemptLimitByDefault) {
  const RetryPolicy p;
  const absl::Time first = absl::FromUnixSeconds(1000);
  EXPECT_FALSE(p.Exhausted(100000, first, first + absl::Hours(71)));
}

}  // namespace
}  // namespace switchboard::server::dispatch
