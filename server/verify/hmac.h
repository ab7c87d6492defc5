// Internal: HMAC-SHA256 over Stripe's signed payload with a key prepared once.
//
// HmacSha256Key holds an OpenSSL EVP_MAC context keyed at construction; each signing duplicates
// it (EVP_MAC_CTX_dup), which skips fetching the algorithm and hashing the key pads again, so a
// verification costs one dup plus the hash of the body.
//
// Example:
//   ASSIGN_OR_RETURN(HmacSha256Key key, HmacSha256Key::Create("whsec_..."));
//   SignatureHex hex;
//   if (key.SignHex(1700000000, body, &hex)) { ... }
//
// Thread-safe: after Create, SignHex only reads the keyed context and may run concurrently.
#ifndef SWITCHBOARD_SERVER_VERIFY_HMAC_H_
#define SWITCHBOARD_SERVER_VERIFY_HMAC_H_

#include <openssl/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::server::verify::internal {

// Length of a v1 signature: 32 bytes of HMAC-SHA256 as lowercase hex.
inline constexpr size_t kSignatureHexSize = 64;
using SignatureHex = std::array<char, kSignatureHexSize>;

class HmacSha256Key {
 public:
  // Keys a context with the secret's bytes as given (Stripe uses the whole string, `whsec_`
  // prefix included). An empty secret is allowed here (callers decide whether it is valid).
  // Returns kInternal if OpenSSL cannot provide HMAC-SHA256.
  static absl::StatusOr<HmacSha256Key> Create(absl::string_view secret);

  HmacSha256Key(HmacSha256Key&&) = default;
  HmacSha256Key& operator=(HmacSha256Key&&) = default;

  // Writes lowercase hex of HMAC-SHA256(secret, "<timestamp as decimal>.<payload>") to *out.
  // Returns false only if OpenSSL fails (allocation failure); *out is then unspecified.
  bool SignHex(int64_t timestamp, absl::string_view payload, SignatureHex* out) const;

 private:
  struct CtxDeleter {
    void operator()(EVP_MAC_CTX* ctx) const;
  };
  explicit HmacSha256Key(std::unique_ptr<EVP_MAC_CTX, CtxDeleter> ctx) : ctx_(std::move(ctx)) {}

  std::unique_ptr<EVP_MAC_CTX, CtxDeleter> ctx_;
};

}  // namespace switchboard::server::verify::internal

#endif  // SWITCHBOARD_SERVER_VERIFY_HMAC_H_
