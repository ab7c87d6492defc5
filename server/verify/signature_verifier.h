// Stripe webhook signature verification: the `Stripe-Signature` header and its HMAC check.
//
// Stripe signs each delivery with HMAC-SHA256 over "<t>.<raw body>" keyed with the endpoint
// secret (the whole `whsec_...` string) and sends `Stripe-Signature: t=<unix s>,v1=<hex>[,...]`.
// The rules implemented here are the project's spec (DESIGN.md §4, research note §4, and
// tests/testdata/signature_vectors.json, which wins over any prose):
//   - ParseSignatureHeader: split on ',', skip empty elements, split each at its first '=',
//     compare keys exactly (case-sensitive, no trimming). Exactly one `t` of 1+ ASCII digits
//     fitting int64 (leading zeros allowed); every `v1` counts; every other key is ignored.
//   - SignatureVerifier::Verify: parse, then the signature (any secret matching any v1, compared
//     in constant time), and only then the time window, which is two-sided: a timestamp older
//     than the tolerance or further than the tolerance in the future is rejected.
//
// Main types:
//   VerifyResult       outcome of a verification; VerifyResultName gives its metrics label.
//   SignatureVerifier  holds the secrets (several during a rotation) and the tolerance.
// Signing (for tools and tests) lives in server/verify/signing.h.
//
// Example:
//   SignatureVerifier::Options options;
//   options.secrets = {"whsec_new", "whsec_old"};  // during a rotation; usually one
//   ASSIGN_OR_RETURN(std::unique_ptr<SignatureVerifier> verifier,
//                    SignatureVerifier::Create(options));
//   VerifyResult result = verifier->Verify(header, body, clock->Now());
//   if (result != VerifyResult::kOk) {
//     metrics.verify_failures(VerifyResultName(result)).Increment();  // and answer 400
//   }
//
// Thread-safety: SignatureVerifier is immutable after Create; Verify is const and may be called
// concurrently from any number of threads. ParseSignatureHeader and VerifyResultName are pure.
#ifndef SWITCHBOARD_SERVER_VERIFY_SIGNATURE_VERIFIER_H_
#define SWITCHBOARD_SERVER_VERIFY_SIGNATURE_VERIFIER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/verify/hmac.h"

namespace switchboard::server::verify {

// The outcome of checking one request. Every value but kOk is a rejection (HTTP 400).
enum class VerifyResult {
  kOk,
  kNoHeader,           // header absent or empty
  kMalformedHeader,    // bad `t` (not digits, overflow, repeated, no '='), or a `v1` with no '='
  kNoTimestamp,        // no `t` element
  kNoV1Signature,      // a `t` but no `v1` element (v0 and other schemes do not count)
  kSignatureMismatch,  // no secret's signature equals any v1 value
  kTimestampTooOld,    // signature fine, but now - t > tolerance
  kTimestampInFuture,  // signature fine, but t - now > tolerance
};

// The snake_case name used as `error_kind` in the test vectors and as the metrics label:
// "ok", "no_header", "malformed_header", "no_timestamp", "no_v1_signature",
// "signature_mismatch", "timestamp_too_old", "timestamp_in_future".
absl::string_view VerifyResultName(VerifyResult result);

// The useful parts of a `Stripe-Signature` header. The views point into the parsed header,
// which must outlive this struct.
struct ParsedSignatureHeader {
  int64_t timestamp = 0;
  absl::InlinedVector<absl::string_view, 2> v1_signatures;  // in header order, possibly empty
};

// Parses `header` by the rules above. Returns kOk and fills *parsed, or one of kNoHeader,
// kMalformedHeader, kNoTimestamp, kNoV1Signature (checked in that order); *parsed is then
// unspecified. Never fails on any input (any bytes, any length).
// REQUIRES: parsed != nullptr.
VerifyResult ParseSignatureHeader(absl::string_view header, ParsedSignatureHeader* parsed);

class SignatureVerifier {
 public:
  static constexpr absl::Duration kDefaultTolerance = absl::Seconds(300);

  struct Options {
    // Endpoint secrets, each used exactly as given (no trimming, `whsec_` prefix kept). Several
    // during a rotation: a request passes if any secret matches any of its v1 signatures.
    std::vector<std::string> secrets;
    // Maximum distance between the header's `t` and `now`, in both directions; a distance equal
    // to the tolerance passes. Zero or negative disables the time check entirely (the request
    // is then accepted whatever its age: only for replaying stored deliveries in tests/tools).
    absl::Duration tolerance = kDefaultTolerance;
  };

  // Prepares one keyed HMAC context per secret.
  // Returns kInvalidArgument if `secrets` is empty or any secret is empty (the message names
  // the position, never the secret), kInternal if OpenSSL cannot do HMAC-SHA256.
  static absl::StatusOr<std::unique_ptr<SignatureVerifier>> Create(const Options& options);

  SignatureVerifier(const SignatureVerifier&) = delete;
  SignatureVerifier& operator=(const SignatureVerifier&) = delete;

  // Checks `header` (the raw `Stripe-Signature` value; empty when absent) against the raw request
  // `body` at time `now` (floored to whole seconds). Order: header rules, then signature, then
  // time, so a forged request is reported as kSignatureMismatch whatever its timestamp.
  // Returns kOk only if some secret's HMAC equals some v1 value byte for byte (lowercase hex, no
  // case folding) and, when the tolerance is positive, |now - t| <= tolerance. An internal
  // OpenSSL failure (allocation) fails closed as kSignatureMismatch.
  VerifyResult Verify(absl::string_view header, absl::string_view body, absl::Time now) const;

  absl::Duration tolerance() const { return tolerance_; }
  size_t secret_count() const { return keys_.size(); }

 private:
  SignatureVerifier(std::vector<internal::HmacSha256Key> keys, absl::Duration tolerance)
      : keys_(std::move(keys)), tolerance_(tolerance) {}

  const std::vector<internal::HmacSha256Key> keys_;
  const absl::Duration tolerance_;
};

}  // namespace switchboard::server::verify

#endif  // SWITCHBOARD_SERVER_VERIFY_SIGNATURE_VERIFIER_H_
