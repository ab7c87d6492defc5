#include "server/verify/signing.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace switchboard::server::verify {
namespace {

TEST(ComputeSignature, MatchesKnownAnswers) {
  // Both checked with Python's hmac module; the first also with stripe-node 23.1.0.
  EXPECT_EQ(ComputeSignature("whsec_abc", 1700000000, R"({"id":"evt_1","object":"event"})"),
            "8e592cdd14d5abcfca2d98925d5b89177aa4331a92facc0e96493db4f54fa0a5");
  EXPECT_EQ(ComputeSignature("", 0, ""),
            "b849d5a581847b281957065739df36df2463d1977ea8d6e1e4e6cf33fadc68c3");
}

TEST(ComputeSignature, DependsOnEverySignedInput) {
  const std::string base = ComputeSignature("whsec_a", 1, "body");
  EXPECT_NE(ComputeSignature("whsec_b", 1, "body"), base);
  EXPECT_NE(ComputeSignature("whsec_a", 2, "body"), base);
  EXPECT_NE(ComputeSignature("whsec_a", 1, "bodY"), base);
  EXPECT_EQ(ComputeSignature("whsec_a", 1, "body"), base);
}

TEST(ComputeSignature, SignsBinaryBodiesByteForByte) {
  const std::string with_nul("a\0b", 3);
  EXPECT_NE(ComputeSignature("k", 1, with_nul), ComputeSignature("k", 1, "a"));
}

TEST(ComputeSignature, IsSixtyFourLowercaseHexDigits) {
  const std::string sig = ComputeSignature("whsec_x", 1700000000, "{}");
  ASSERT_EQ(sig.size(), 64u);
  for (char c : sig) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << c;
}

TEST(SignatureHeader, FormatsTimestampThenV1) {
  EXPECT_EQ(SignatureHeader("whsec_abc", 1700000000, R"({"id":"evt_1","object":"event"})"),
            "t=1700000000,v1=8e592cdd14d5abcfca2d98925d5b89177aa4331a92facc0e96493db4f54fa0a5");
}

TEST(Signer, SignsLikeTheOneShotHeaderForEverySecretAndBody) {
  for (const std::string secret : {"whsec_test", "whsec_other", "x"}) {
    auto signer = Signer::Create(secret);
    ASSERT_TRUE(signer.ok()) << signer.status();
    for (const std::string& body :
         std::vector<std::string>{"", "{}", std::string("a\0b", 3), std::string(5000, 'z')}) {
      EXPECT_EQ(signer->Header(1700000000, body), SignatureHeader(secret, 1700000000, body));
      EXPECT_EQ(signer->Header(-5, body), SignatureHeader(secret, -5, body));
    }
  }
}

}  // namespace
}  // namespace switchboard::server::verify
