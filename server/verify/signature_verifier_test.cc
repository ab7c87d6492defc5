#include "server/verify/signature_verifier.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/status_matchers.h"
#include "server/verify/signing.h"

namespace switchboard::server::verify {
namespace {

using ::switchboard::base::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr int64_t kT = 1700000000;
constexpr char kSecret[] = "whsec_test_secret_0001";
constexpr char kOtherSecret[] = "whsec_test_secret_0002";
constexpr char kBody[] = R"({"id":"evt_1","object":"event","type":"customer.created"})";
const absl::Time kNow = absl::FromUnixSeconds(kT);

std::unique_ptr<SignatureVerifier> MakeVerifier(std::vector<std::string> secrets,
                                                absl::Duration tolerance = absl::Seconds(300)) {
  SignatureVerifier::Options options;
  options.secrets = std::move(secrets);
  options.tolerance = tolerance;
  absl::StatusOr<std::unique_ptr<SignatureVerifier>> verifier = SignatureVerifier::Create(options);
  EXPECT_TRUE(verifier.ok()) << verifier.status();
  return verifier.ok() ? *std::move(verifier) : nullptr;
}

VerifyResult Parse(absl::string_view header, ParsedSignatureHeader* parsed = nullptr) {
  ParsedSignatureHeader scratch;
  return ParseSignatureHeader(header, parsed != nullptr ? parsed : &scratch);
}

// --- Header parsing -------------------------------------------------------------------------

TEST(ParseSignatureHeader, ParsesTimestampAndEveryV1InOrder) {
  ParsedSignatureHeader parsed;
  ASSERT_EQ(Parse("t=1700000000,v1=aaa,v0=zzz,v1=bbb", &parsed), VerifyResult::kOk);
  EXPECT_EQ(parsed.timestamp, 1700000000);
  EXPECT_THAT(parsed.v1_signatures, ElementsAre("aaa", "bbb"));
}

TEST(ParseSignatureHeader, AcceptsElementsInAnyOrder) {
  ParsedSignatureHeader parsed;
  ASSERT_EQ(Parse("v1=abc,t=42", &parsed), VerifyResult::kOk);
  EXPECT_EQ(parsed.timestamp, 42);
  EXPECT_THAT(parsed.v1_signatures, ElementsAre("abc"));
}

TEST(ParseSignatureHeader, SkipsEmptyElements) {
  ParsedSignatureHeader parsed;
  ASSERT_EQ(Parse(",,t=1,,v1=abc,,", &parsed), VerifyResult::kOk);
  EXPECT_EQ(parsed.timestamp, 1);
  EXPECT_THAT(parsed.v1_signatures, ElementsAre("abc"));
}

TEST(ParseSignatureHeader, SplitsEachElementAtItsFirstEquals) {
  ParsedSignatureHeader parsed;
  ASSERT_EQ(Parse("t=1,v1=abc=def,v1=", &parsed), VerifyResult::kOk);
  EXPECT_THAT(parsed.v1_signatures, ElementsAre("abc=def", ""));
  EXPECT_EQ(Parse("t=1=2,v1=abc"), VerifyResult::kMalformedHeader);
}

TEST(ParseSignatureHeader, IgnoresOtherSchemesAndUnknownKeys) {
  ParsedSignatureHeader parsed;
  ASSERT_EQ(Parse("foo=bar,t=5,v0=x,v2=y,V1=z,junk,v1=ok,=empty_key", &parsed), VerifyResult::kOk);
  EXPECT_THAT(parsed.v1_signatures, ElementsAre("ok"));
}

TEST(ParseSignatureHeader, ComparesKeysExactlyWithoutTrimming) {
  EXPECT_EQ(Parse("T=1,v1=abc"), VerifyResult::kNoTimestamp);
  EXPECT_EQ(Parse(" t=1,v1=abc"), VerifyResult::kNoTimestamp);
  EXPECT_EQ(Parse("t =1,v1=abc"), VerifyResult::kNoTimestamp);
  EXPECT_EQ(Parse("t=1, v1=abc"), VerifyResult::kNoV1Signature);
  EXPECT_EQ(Parse("t=1,V1=abc"), VerifyResult::kNoV1Signature);
  ParsedSignatureHeader parsed;
  ASSERT_EQ(Parse("t=1,v1=abc ", &parsed), VerifyResult::kOk);
  EXPECT_THAT(parsed.v1_signatures, ElementsAre("abc "));
}

TEST(ParseSignatureHeader, EmptyHeaderIsNoHeader) { EXPECT_EQ(Parse(""), VerifyResult::kNoHeader); }

TEST(ParseSignatureHeader, MissingTimestampIsReportedBeforeMissingV1) {
  EXPECT_EQ(Parse("foo=bar"), VerifyResult::kNoTimestamp);
  EXPECT_EQ(Parse(","), VerifyResult::kNoTimestamp);
  EXPECT_EQ(Parse("v1=abc"), VerifyResult::kNoTimestamp);
  EXPECT_EQ(Parse("not a signature header"), VerifyResult::kNoTimestamp);
  EXPECT_EQ(Parse("t=1"), VerifyResult::kNoV1Signature);
  EXPECT_EQ(Parse("t=1,v0=abc"), VerifyResult::kNoV1Signature);
}

TEST(ParseSignatureHeader, AcceptsLeadingZerosAndTheWholeInt64Range) {
  ParsedSignatureHeader parsed;
  ASSERT_EQ(Parse("t=0001700000000,v1=a", &parsed), VerifyResult::kOk);
  EXPECT_EQ(parsed.timestamp, 1700000000);
  ASSERT_EQ(Parse("t=0,v1=a", &parsed), VerifyResult::kOk);
  EXPECT_EQ(parsed.timestamp, 0);
  ASSERT_EQ(Parse("t=9223372036854775807,v1=a", &parsed), VerifyResult::kOk);
  EXPECT_EQ(parsed.timestamp, std::numeric_limits<int64_t>::max());
  ASSERT_EQ(Parse("t=000000000000000000000000000009,v1=a", &parsed), VerifyResult::kOk);
  EXPECT_EQ(parsed.timestamp, 9);
}

TEST(ParseSignatureHeader, RejectsTimestampsThatAreNotPlainDigits) {
  for (absl::string_view t : {"", "abc", "+1700000000", "-1", " 1700000000", "1700000000 ",
                              "1700000000.5", "0x6553f100", "1e9", "1_700_000_000", "1700000000abc",
                              "\xd9\xa1", "9223372036854775808", "99999999999999999999"}) {
    EXPECT_EQ(Parse(absl::StrCat("t=", t, ",v1=abc")), VerifyResult::kMalformedHeader) << "t=" << t;
  }
}

TEST(ParseSignatureHeader, RejectsRepeatedTimestampEvenIfIdentical) {
  EXPECT_EQ(Parse("t=1,t=2,v1=abc"), VerifyResult::kMalformedHeader);
  EXPECT_EQ(Parse("t=1,v1=abc,t=1"), VerifyResult::kMalformedHeader);
}

TEST(ParseSignatureHeader, RejectsTimestampOrV1WithoutEquals) {
  EXPECT_EQ(Parse("t,v1=abc"), VerifyResult::kMalformedHeader);
  EXPECT_EQ(Parse("t=1,v1=abc,v1"), VerifyResult::kMalformedHeader);
  EXPECT_EQ(Parse("v1"), VerifyResult::kMalformedHeader);
  EXPECT_EQ(Parse("t=1;v1=abc"), VerifyResult::kMalformedHeader);
}

TEST(ParseSignatureHeader, SurvivesArbitraryBytes) {
  std::string header;
  for (int i = 0; i < 4096; ++i) header.push_back(static_cast<char>((i * 131) % 256));
  ParsedSignatureHeader parsed;
  (void)Parse(header, &parsed);
  (void)Parse(std::string(100000, ','), &parsed);
  EXPECT_EQ(Parse(std::string("t=1\0,v1=a", 9), &parsed), VerifyResult::kMalformedHeader);
}

// --- Factory --------------------------------------------------------------------------------

TEST(SignatureVerifier, CreateRejectsAnEmptySecretList) {
  EXPECT_THAT(SignatureVerifier::Create(SignatureVerifier::Options()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SignatureVerifier, CreateRejectsAnEmptySecretWithoutEchoingTheOthers) {
  SignatureVerifier::Options options;
  options.secrets = {kSecret, ""};
  absl::StatusOr<std::unique_ptr<SignatureVerifier>> verifier = SignatureVerifier::Create(options);
  EXPECT_THAT(verifier, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(verifier.status().message()), HasSubstr("#2"));
  EXPECT_THAT(std::string(verifier.status().message()), Not(HasSubstr(kSecret)));
}

TEST(SignatureVerifier, DefaultsToATolerance300Seconds) {
  SignatureVerifier::Options options;
  options.secrets = {kSecret};
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SignatureVerifier> verifier,
                       SignatureVerifier::Create(options));
  EXPECT_EQ(verifier->tolerance(), absl::Seconds(300));
  EXPECT_EQ(verifier->secret_count(), 1u);
}

// --- Signature ------------------------------------------------------------------------------

TEST(SignatureVerifier, AcceptsAHeaderItsSignerProduced) {
  auto verifier = MakeVerifier({kSecret});
  EXPECT_EQ(verifier->Verify(SignatureHeader(kSecret, kT, kBody), kBody, kNow), VerifyResult::kOk);
}

TEST(SignatureVerifier, MatchesStripeNodeKnownAnswer) {
  // Produced by stripe-node 23.1.0 generateTestHeaderString and by Python's hmac module.
  auto verifier = MakeVerifier({"whsec_abc"});
  EXPECT_EQ(verifier->Verify(
                "t=1700000000,v1=8e592cdd14d5abcfca2d98925d5b89177aa4331a92facc0e96493db4f54fa0a5",
                R"({"id":"evt_1","object":"event"})", kNow),
            VerifyResult::kOk);
}

TEST(SignatureVerifier, RejectsAnyChangeToTheBody) {
  auto verifier = MakeVerifier({kSecret});
  const std::string header = SignatureHeader(kSecret, kT, kBody);
  std::string body = kBody;
  for (size_t i = 0; i < body.size(); ++i) {
    std::string tampered = body;
    tampered[i] ^= 0x01;
    EXPECT_EQ(verifier->Verify(header, tampered, kNow), VerifyResult::kSignatureMismatch) << i;
  }
  EXPECT_EQ(verifier->Verify(header, body + "\n", kNow), VerifyResult::kSignatureMismatch);
  EXPECT_EQ(verifier->Verify(header, "", kNow), VerifyResult::kSignatureMismatch);
}

TEST(SignatureVerifier, RejectsASignatureMadeForAnotherTimestamp) {
  auto verifier = MakeVerifier({kSecret});
  const std::string v1 = ComputeSignature(kSecret, kT - 1, kBody);
  EXPECT_EQ(verifier->Verify(absl::StrCat("t=", kT, ",v1=", v1), kBody, kNow),
            VerifyResult::kSignatureMismatch);
}

TEST(SignatureVerifier, SignsTheCanonicalDecimalTimestamp) {
  auto verifier = MakeVerifier({kSecret});
  const std::string v1 = ComputeSignature(kSecret, kT, kBody);
  EXPECT_EQ(verifier->Verify(absl::StrCat("t=000", kT, ",v1=", v1), kBody, kNow),
            VerifyResult::kOk);
}

TEST(SignatureVerifier, RejectsWrongSecret) {
  auto verifier = MakeVerifier({kSecret});
  EXPECT_EQ(verifier->Verify(SignatureHeader(kOtherSecret, kT, kBody), kBody, kNow),
            VerifyResult::kSignatureMismatch);
  // The whole string is the key: neither the bare suffix nor a trailing newline matches.
  EXPECT_EQ(verifier->Verify(SignatureHeader("test_secret_0001", kT, kBody), kBody, kNow),
            VerifyResult::kSignatureMismatch);
  EXPECT_EQ(verifier->Verify(SignatureHeader(std::string(kSecret) + "\n", kT, kBody), kBody, kNow),
            VerifyResult::kSignatureMismatch);
}

TEST(SignatureVerifier, ComparesSignaturesExactly) {
  auto verifier = MakeVerifier({kSecret});
  const std::string v1 = ComputeSignature(kSecret, kT, kBody);
  std::string upper = v1;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_NE(upper, v1);
  for (const std::string& bad : {upper, v1.substr(0, 63), v1 + "0", v1 + "=x", v1 + " ",
                                 std::string(""), std::string(64, 'z')}) {
    EXPECT_EQ(verifier->Verify(absl::StrCat("t=", kT, ",v1=", bad), kBody, kNow),
              VerifyResult::kSignatureMismatch)
        << bad;
  }
}

TEST(SignatureVerifier, AcceptsAnyOfSeveralV1Signatures) {
  auto verifier = MakeVerifier({kSecret});
  const std::string good = ComputeSignature(kSecret, kT, kBody);
  const std::string bad(64, '0');
  EXPECT_EQ(verifier->Verify(absl::StrCat("t=", kT, ",v1=", good, ",v1=", bad), kBody, kNow),
            VerifyResult::kOk);
  EXPECT_EQ(verifier->Verify(absl::StrCat("t=", kT, ",v1=", bad, ",v1=", good), kBody, kNow),
            VerifyResult::kOk);
  EXPECT_EQ(verifier->Verify(absl::StrCat("t=", kT, ",v1=,v1=", bad, ",v1=", good), kBody, kNow),
            VerifyResult::kOk);
}

TEST(SignatureVerifier, IgnoresAV0SignatureEvenWhenItIsCorrect) {
  auto verifier = MakeVerifier({kSecret});
  const std::string good = ComputeSignature(kSecret, kT, kBody);
  EXPECT_EQ(verifier->Verify(absl::StrCat("t=", kT, ",v0=", good), kBody, kNow),
            VerifyResult::kNoV1Signature);
}

TEST(SignatureVerifier, AcceptsAnySecretMatchingAnyV1DuringRotation) {
  const std::string old_v1 = ComputeSignature(kOtherSecret, kT, kBody);
  const std::string new_v1 = ComputeSignature(kSecret, kT, kBody);
  const std::string junk_v1(64, 'a');
  const std::vector<std::vector<std::string>> verifier_secrets = {
      {kSecret, kOtherSecret}, {kOtherSecret, kSecret}, {kSecret}, {kOtherSecret}};
  for (const auto& secrets : verifier_secrets) {
    auto verifier = MakeVerifier(secrets);
    for (const std::string& v1 : {old_v1, new_v1}) {
      const bool known =
          (v1 == new_v1 && std::find(secrets.begin(), secrets.end(), kSecret) != secrets.end()) ||
          (v1 == old_v1 &&
           std::find(secrets.begin(), secrets.end(), kOtherSecret) != secrets.end());
      const VerifyResult want = known ? VerifyResult::kOk : VerifyResult::kSignatureMismatch;
      EXPECT_EQ(verifier->Verify(absl::StrCat("t=", kT, ",v1=", v1), kBody, kNow), want);
      EXPECT_EQ(verifier->Verify(absl::StrCat("t=", kT, ",v1=", junk_v1, ",v1=", v1), kBody, kNow),
                want);
    }
    // Stripe sends one v1 per active secret while an endpoint secret is being rolled.
    EXPECT_EQ(verifier->Verify(absl::StrCat("t=", kT, ",v1=", new_v1, ",v1=", old_v1), kBody, kNow),
              VerifyResult::kOk);
  }
  auto stranger = MakeVerifier({"whsec_unrelated_1", "whsec_unrelated_2"});
  EXPECT_EQ(stranger->Verify(absl::StrCat("t=", kT, ",v1=", new_v1, ",v1=", old_v1), kBody, kNow),
            VerifyResult::kSignatureMismatch);
}

TEST(SignatureVerifier, ReportsHeaderProblemsBeforeComputingAnything) {
  auto verifier = MakeVerifier({kSecret});
  EXPECT_EQ(verifier->Verify("", kBody, kNow), VerifyResult::kNoHeader);
  EXPECT_EQ(verifier->Verify("t=abc,v1=x", kBody, kNow), VerifyResult::kMalformedHeader);
  EXPECT_EQ(verifier->Verify("v1=x", kBody, kNow), VerifyResult::kNoTimestamp);
  EXPECT_EQ(verifier->Verify("t=1", kBody, kNow), VerifyResult::kNoV1Signature);
}

// --- Time window ----------------------------------------------------------------------------

VerifyResult VerifyAt(const SignatureVerifier& verifier, int64_t t, absl::Time now) {
  return verifier.Verify(SignatureHeader(kSecret, t, kBody), kBody, now);
}

TEST(SignatureVerifier, AcceptsAgeEqualToToleranceAndRejectsOneSecondMore) {
  auto verifier = MakeVerifier({kSecret});
  EXPECT_EQ(VerifyAt(*verifier, kT, kNow), VerifyResult::kOk);
  EXPECT_EQ(VerifyAt(*verifier, kT - 300, kNow), VerifyResult::kOk);
  EXPECT_EQ(VerifyAt(*verifier, kT - 301, kNow), VerifyResult::kTimestampTooOld);
  EXPECT_EQ(VerifyAt(*verifier, 0, kNow), VerifyResult::kTimestampTooOld);
}

TEST(SignatureVerifier, RejectsTimestampsFurtherInTheFutureThanTheTolerance) {
  auto verifier = MakeVerifier({kSecret});
  EXPECT_EQ(VerifyAt(*verifier, kT + 5, kNow), VerifyResult::kOk);
  EXPECT_EQ(VerifyAt(*verifier, kT + 300, kNow), VerifyResult::kOk);
  EXPECT_EQ(VerifyAt(*verifier, kT + 301, kNow), VerifyResult::kTimestampInFuture);
  EXPECT_EQ(VerifyAt(*verifier, kT + 86400, kNow), VerifyResult::kTimestampInFuture);
}

TEST(SignatureVerifier, FloorsNowToWholeSeconds) {
  auto verifier = MakeVerifier({kSecret});
  EXPECT_EQ(VerifyAt(*verifier, kT - 300, kNow + absl::Milliseconds(999)), VerifyResult::kOk);
  EXPECT_EQ(VerifyAt(*verifier, kT - 301, kNow + absl::Milliseconds(999)),
            VerifyResult::kTimestampTooOld);
  // now = t - 300.5 s floors to t - 301 s.
  EXPECT_EQ(VerifyAt(*verifier, kT + 300, kNow - absl::Milliseconds(500)),
            VerifyResult::kTimestampInFuture);
}

TEST(SignatureVerifier, HonoursACustomTolerance) {
  auto verifier = MakeVerifier({kSecret}, absl::Seconds(1));
  EXPECT_EQ(VerifyAt(*verifier, kT - 1, kNow), VerifyResult::kOk);
  EXPECT_EQ(VerifyAt(*verifier, kT - 2, kNow), VerifyResult::kTimestampTooOld);
  EXPECT_EQ(VerifyAt(*verifier, kT + 2, kNow), VerifyResult::kTimestampInFuture);
}

TEST(SignatureVerifier, ZeroOrNegativeToleranceDisablesTheTimeCheck) {
  for (absl::Duration tolerance : {absl::ZeroDuration(), absl::Seconds(-1)}) {
    auto verifier = MakeVerifier({kSecret}, tolerance);
    EXPECT_EQ(VerifyAt(*verifier, 12345, kNow), VerifyResult::kOk);
    EXPECT_EQ(VerifyAt(*verifier, kT + 86400 * 365, kNow), VerifyResult::kOk);
    EXPECT_EQ(VerifyAt(*verifier, 0, kNow), VerifyResult::kOk);
  }
}

TEST(SignatureVerifier, ChecksTheSignatureBeforeTheTime) {
  auto verifier = MakeVerifier({kSecret});
  const std::string bad(64, '0');
  EXPECT_EQ(verifier->Verify(absl::StrCat("t=", kT - 1000, ",v1=", bad), kBody, kNow),
            VerifyResult::kSignatureMismatch);
  EXPECT_EQ(verifier->Verify(absl::StrCat("t=", kT + 1000, ",v1=", bad), kBody, kNow),
            VerifyResult::kSignatureMismatch);
}

TEST(SignatureVerifier, HandlesExtremeTimestampsAndClocks) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  auto verifier = MakeVerifier({kSecret});
  EXPECT_EQ(VerifyAt(*verifier, kMax, kNow), VerifyResult::kTimestampInFuture);
  EXPECT_EQ(VerifyAt(*verifier, kMax, absl::InfiniteFuture()), VerifyResult::kOk);
  EXPECT_EQ(VerifyAt(*verifier, kMax, absl::InfinitePast()), VerifyResult::kTimestampInFuture);
  EXPECT_EQ(VerifyAt(*verifier, 0, absl::InfinitePast()), VerifyResult::kTimestampInFuture);
  EXPECT_EQ(VerifyAt(*verifier, 0, absl::InfiniteFuture()), VerifyResult::kTimestampTooOld);
  auto no_window = MakeVerifier({kSecret}, absl::InfiniteDuration());
  EXPECT_EQ(VerifyAt(*no_window, kMax, absl::InfinitePast()), VerifyResult::kOk);
}

// --- Misc -----------------------------------------------------------------------------------

TEST(VerifyResultName, GivesTheSnakeCaseLabelOfEveryResult) {
  EXPECT_EQ(VerifyResultName(VerifyResult::kOk), "ok");
  EXPECT_EQ(VerifyResultName(VerifyResult::kNoHeader), "no_header");
  EXPECT_EQ(VerifyResultName(VerifyResult::kMalformedHeader), "malformed_header");
  EXPECT_EQ(VerifyResultName(VerifyResult::kNoTimestamp), "no_timestamp");
  EXPECT_EQ(VerifyResultName(VerifyResult::kNoV1Signature), "no_v1_signature");
  EXPECT_EQ(VerifyResultName(VerifyResult::kSignatureMismatch), "signature_mismatch");
  EXPECT_EQ(VerifyResultName(VerifyResult::kTimestampTooOld), "timestamp_too_old");
  EXPECT_EQ(VerifyResultName(VerifyResult::kTimestampInFuture), "timestamp_in_future");
}

TEST(SignatureVerifier, VerifiesConcurrentlyFromManyThreads) {
  auto verifier = MakeVerifier({kOtherSecret, kSecret});
  const std::string good = SignatureHeader(kSecret, kT, kBody);
  const std::string bad = SignatureHeader("whsec_wrong", kT, kBody);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 500; ++j) {
        if (verifier->Verify(good, kBody, kNow) != VerifyResult::kOk) ++wrong;
        if (verifier->Verify(bad, kBody, kNow) != VerifyResult::kSignatureMismatch) ++wrong;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace switchboard::server::verify
