#include "server/verify/signature_verifier.h"

#include <openssl/crypto.h>

#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace switchboard::server::verify {
namespace {

// 1+ ASCII digits that fit in int64. Nothing else: no sign, space, '.', '_' or "0x" (the SDKs
// disagree on all of those; the digits-only form is the one Stripe sends).
bool ParseTimestamp(absl::string_view text, int64_t* out) {
  if (text.empty()) return false;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    const int digit = c - '0';
    if (value > (kMax - digit) / 10) return false;
    value = value * 10 + digit;
  }
  *out = value;
  return true;
}

}  // namespace

absl::string_view VerifyResultName(VerifyResult result) {
  switch (result) {
    case VerifyResult::kOk:
      return "ok";
    case VerifyResult::kNoHeader:
      return "no_header";
    case VerifyResult::kMalformedHeader:
      return "malformed_header";
    case VerifyResult::kNoTimestamp:
      return "no_timestamp";
    case VerifyResult::kNoV1Signature:
      return "no_v1_signature";
    case VerifyResult::kSignatureMismatch:
      return "signature_mismatch";
    case VerifyResult::kTimestampTooOld:
      return "timestamp_too_old";
    case VerifyResult::kTimestampInFuture:
      return "timestamp_in_future";
  }
  return "unknown";
}

VerifyResult ParseSignatureHeader(absl::string_view header, ParsedSignatureHeader* parsed) {
  if (header.empty()) return VerifyResult::kNoHeader;
  parsed->timestamp = 0;
  parsed->v1_signatures.clear();
  bool have_timestamp = false;
  for (absl::string_view element : absl::StrSplit(header, ',', absl::SkipEmpty())) {
    const size_t eq = element.find('=');
    const absl::string_view key = element.substr(0, eq);  // whole element when there is no '='
    if (key == "t") {
      // A repeated t is refused rather than resolved: the SDKs split between first and last.
      if (eq == absl::string_view::npos || have_timestamp ||
          !ParseTimestamp(element.substr(eq + 1), &parsed->timestamp)) {
        return VerifyResult::kMalformedHeader;
      }
      have_timestamp = true;
    } else if (key == "v1") {
      if (eq == absl::string_view::npos) return VerifyResult::kMalformedHeader;
      parsed->v1_signatures.push_back(element.substr(eq + 1));
    }
    // Any other key (v0, V1, " v1", junk without '=') is ignored.
  }
  if (!have_timestamp) return VerifyResult::kNoTimestamp;
  if (parsed->v1_signatures.empty()) return VerifyResult::kNoV1Signature;
  return VerifyResult::kOk;
}

absl::StatusOr<std::unique_ptr<SignatureVerifier>> SignatureVerifier::Create(
    const Options& options) {
  if (options.secrets.empty()) {
    return absl::InvalidArgumentError("SignatureVerifier needs at least one webhook secret");
  }
  std::vector<internal::HmacSha256Key> keys;
  keys.reserve(options.secrets.size());
  for (size_t i = 0; i < options.secrets.size(); ++i) {
    if (options.secrets[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("webhook secret #", i + 1, " of ", options.secrets.size(), " is empty"));
    }
    absl::StatusOr<internal::HmacSha256Key> key =
        internal::HmacSha256Key::Create(options.secrets[i]);
    if (!key.ok()) return key.status();
    keys.push_back(*std::move(key));
  }
  return std::unique_ptr<SignatureVerifier>(
      new SignatureVerifier(std::move(keys), options.tolerance));
}

VerifyResult SignatureVerifier::Verify(absl::string_view header, absl::string_view body,
                                       absl::Time now) const {
  ParsedSignatureHeader parsed;
  const VerifyResult parse_result = ParseSignatureHeader(header, &parsed);
  if (parse_result != VerifyResult::kOk) return parse_result;

  // Only values of the right length can match; when there are none, skip the HMAC (lengths are
  // public, so this leaks nothing and makes junk headers cheap).
  bool any_candidate = false;
  for (absl::string_view v1 : parsed.v1_signatures) {
    any_candidate |= v1.size() == internal::kSignatureHexSize;
  }
  bool matched = false;
  if (any_candidate) {
    internal::SignatureHex expected;
    for (const internal::HmacSha256Key& key : keys_) {
      if (!key.SignHex(parsed.timestamp, body, &expected)) continue;  // fails closed
      for (absl::string_view v1 : parsed.v1_signatures) {
        if (v1.size() == expected.size() &&
            CRYPTO_memcmp(v1.data(), expected.data(), expected.size()) == 0) {
          matched = true;
        }
      }
      if (matched) break;
    }
  }
  if (!matched) return VerifyResult::kSignatureMismatch;

  if (tolerance_ > absl::ZeroDuration()) {
    // Whole seconds on both sides, as the SDKs do; absl::Time arithmetic saturates instead of
    // overflowing for timestamps near the int64 limits.
    const absl::Time now_seconds = absl::FromUnixSeconds(absl::ToUnixSeconds(now));
    const absl::Duration age = now_seconds - absl::FromUnixSeconds(parsed.timestamp);
    if (age > tolerance_) return VerifyResult::kTimestampTooOld;
    if (-age > tolerance_) return VerifyResult::kTimestampInFuture;
  }
  return VerifyResult::kOk;
}

}  // namespace switchboard::server::verify
