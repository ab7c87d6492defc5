// Cost of one webhook verification: `bazel run -c opt //server/verify:verify_benchmark`.
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "server/verify/hmac.h"
#include "server/verify/signature_verifier.h"
#include "server/verify/signing.h"

namespace switchboard::server::verify {
namespace {

constexpr int64_t kT = 1700000000;
constexpr char kSecret[] = "whsec_benchmark_secret_000000000000";

// A ~3 KB event-shaped body (the size of a typical payment_intent/charge event).
std::string Body(size_t size) {
  std::string body = R"({"id":"evt_bench","object":"event","data":{"object":{"metadata":{)";
  for (int i = 0; body.size() + 40 < size; ++i) {
    absl::StrAppend(&body, i == 0 ? "" : ",", "\"key_", i, "\":\"value_", i * 7919, "\"");
  }
  body += "}}}}";
  return body;
}

std::unique_ptr<SignatureVerifier> Verifier(std::vector<std::string> secrets) {
  SignatureVerifier::Options options;
  options.secrets = std::move(secrets);
  return *SignatureVerifier::Create(options);
}

void BM_Verify(benchmark::State& state) {
  const std::string body = Body(state.range(0));
  const std::string header = SignatureHeader(kSecret, kT, body);
  auto verifier = Verifier({kSecret});
  const absl::Time now = absl::FromUnixSeconds(kT + 1);
  if (verifier->Verify(header, body, now) != VerifyResult::kOk) state.SkipWithError("not ok");
  for (auto _ : state) {
    benchmark::DoNotOptimize(verifier->Verify(header, body, now));
  }
  state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(BM_Verify)->Arg(3 * 1024)->Arg(64)->Arg(64 * 1024);

// Rotation: the matching secret is the second one, so two HMACs per request.
void BM_VerifyTwoSecretsSecondMatches(benchmark::State& state) {
  const std::string body = Body(3 * 1024);
  const std::string header = SignatureHeader(kSecret, kT, body);
  auto verifier = Verifier({"whsec_old_secret", kSecret});
  const absl::Time now = absl::FromUnixSeconds(kT + 1);
  if (verifier->Verify(header, body, now) != VerifyResult::kOk) state.SkipWithError("not ok");
  for (auto _ : state) {
    benchmark::DoNotOptimize(verifier->Verify(header, body, now));
  }
  state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(BM_VerifyTwoSecretsSecondMatches);

// A forged request: same cost as a good one (one HMAC), answered kSignatureMismatch.
void BM_VerifyForged(benchmark::State& state) {
  const std::string body = Body(3 * 1024);
  const std::string header = SignatureHeader("whsec_attacker", kT, body);
  auto verifier = Verifier({kSecret});
  const absl::Time now = absl::FromUnixSeconds(kT + 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(verifier->Verify(header, body, now));
  }
}
BENCHMARK(BM_VerifyForged);

// Floor: the keyed-context HMAC alone (dup + update + final + hex), no parsing or compare.
void BM_HmacFloor(benchmark::State& state) {
  const std::string body = Body(state.range(0));
  auto key = *internal::HmacSha256Key::Create(kSecret);
  internal::SignatureHex hex;
  for (auto _ : state) {
    benchmark::DoNotOptimize(key.SignHex(kT, body, &hex));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(BM_HmacFloor)->Arg(3 * 1024)->Arg(64);

void BM_ParseHeader(benchmark::State& state) {
  const std::string header = SignatureHeader(kSecret, kT, "{}") + ",v0=" + std::string(64, 'a');
  ParsedSignatureHeader parsed;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ParseSignatureHeader(header, &parsed));
  }
}
BENCHMARK(BM_ParseHeader);

}  // namespace
}  // namespace switchboard::server::verify
