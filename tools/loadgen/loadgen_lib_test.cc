#include "tools/loadgen/loadgen_lib.h"

#include <set>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/verify/signature_verifier.h"

namespace switchboard::tools::loadgen {
namespace {

TEST(RequestFactory, MakesUniqueCorrectlySignedBodiesInTheSizeRange) {
  auto factory = RequestFactory::Create("whsec_loadgen", 1024, 6144, 7);
  ASSERT_TRUE(factory.ok()) << factory.status();
  server::verify::SignatureVerifier::Options options;
  options.secrets = {"whsec_loadgen"};
  auto verifier = server::verify::SignatureVerifier::Create(options);
  ASSERT_TRUE(verifier.ok());
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  std::set<std::string> ids;
  size_t smallest = SIZE_MAX, largest = 0;
  for (int c = 0; c < 3; ++c) {
    for (int64_t n = 0; n < 200; ++n) {
      RequestFactory::Request r = factory->Make(c, n, now);
      EXPECT_TRUE(ids.insert(r.id).second) << r.id;
      EXPECT_NE(r.body.find("\"" + r.id + "\""), std::string::npos);
      EXPECT_EQ((*verifier)->Verify(r.signature_header, r.body, now),
                server::verify::VerifyResult::kOk);
      smallest = std::min(smallest, r.body.size());
      largest = std::max(largest, r.body.size());
    }
  }
  EXPECT_GE(largest, 5000u);
  EXPECT_LE(largest, 6144u + 64);
  EXPECT_LE(smallest, 2048u);
}

TEST(LatencyStats, NearestRankQuantiles) {
  LatencyStats stats;
  for (int i = 100; i >= 1; --i) stats.Add(absl::Milliseconds(i));
  EXPECT_EQ(stats.Quantile(0.5), absl::Milliseconds(50));
  EXPECT_EQ(stats.Quantile(0.99), absl::Milliseconds(99));
  EXPECT_EQ(stats.Quantile(1.0), absl::Milliseconds(100));
  EXPECT_EQ(stats.Quantile(0.0), absl::Milliseconds(1));
  LatencyStats other;
  other.Add(absl::Milliseconds(1000));
  stats.Merge(other);
  EXPECT_EQ(stats.Quantile(1.0), absl::Milliseconds(1000));
}

TEST(LatencyStats, EmptyIsZero) {
  LatencyStats stats;
  EXPECT_EQ(stats.Quantile(0.99), absl::ZeroDuration());
}

}  // namespace
}  // namespace switchboard::tools::loadgen
