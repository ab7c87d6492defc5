// Stripe-compatible webhook signing, for tools and tests (the server only verifies).
//
// Produces what Stripe sends: v1 = lowercase hex HMAC-SHA256 of "<timestamp>.<payload>" keyed
// with the whole secret string, and the header "t=<timestamp>,v1=<signature>".
//
// Example:
//   std::string body = R"({"id":"evt_1","object":"event"})";
//   std::string header = SignatureHeader("whsec_test", absl::ToUnixSeconds(absl::Now()), body);
//   // POST body with "Stripe-Signature: " + header
//
// Many signatures with one secret (a load generator): Signer keys HMAC once.
//   ASSIGN_OR_RETURN(Signer signer, Signer::Create("whsec_test"));
//   std::string header = signer.Header(timestamp, body);
//
// Thread-safe: pure functions; Signer is const after Create.
#ifndef SWITCHBOARD_SERVER_VERIFY_SIGNING_H_
#define SWITCHBOARD_SERVER_VERIFY_SIGNING_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::server::verify {

// Returns the 64-character lowercase hex v1 signature of `payload` signed at `timestamp`.
// Any secret is accepted, even an empty one (which no SignatureVerifier accepts). A negative
// timestamp is signed as "-N", which is useful only to build headers a verifier must reject.
// Aborts with a message if OpenSSL cannot compute HMAC-SHA256 (out of memory).
std::string ComputeSignature(absl::string_view secret, int64_t timestamp,
                             absl::string_view payload);

// Returns "t=<timestamp>,v1=<ComputeSignature(secret, timestamp, payload)>".
std::string SignatureHeader(absl::string_view secret, int64_t timestamp, absl::string_view payload);

namespace internal {
class HmacSha256Key;
}  // namespace internal

class Signer {
 public:
  // kInternal if OpenSSL cannot provide HMAC-SHA256. Any secret is accepted, as above.
  static absl::StatusOr<Signer> Create(absl::string_view secret);
  Signer(Signer&&) noexcept;
  Signer& operator=(Signer&&) noexcept;
  ~Signer();

  // SignatureHeader(secret, timestamp, payload), without keying HMAC again. Aborts with a
  // message if OpenSSL fails (out of memory).
  std::string Header(int64_t timestamp, absl::string_view payload) const;

 private:
  explicit Signer(std::unique_ptr<internal::HmacSha256Key> key);
  std::unique_ptr<internal::HmacSha256Key> key_;
};

}  // namespace switchboard::server::verify

#endif  // SWITCHBOARD_SERVER_VERIFY_SIGNING_H_
