#include "server/verify/hmac.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <charconv>
#include <utility>

#include "absl/status/status.h"

namespace switchboard::server::verify::internal {
namespace {

struct MacDeleter {
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
};

void HexEncode(const unsigned char* bytes, size_t size, char* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
}

}  // namespace

void HmacSha256Key::CtxDeleter::operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }

absl::StatusOr<HmacSha256Key> HmacSha256Key::Create(absl::string_view secret) {
  std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (mac == nullptr) return absl::InternalError("OpenSSL has no HMAC implementation");
  // The context keeps its own reference to `mac`.
  std::unique_ptr<EVP_MAC_CTX, CtxDeleter> ctx(EVP_MAC_CTX_new(mac.get()));
  if (ctx == nullptr) return absl::InternalError("EVP_MAC_CTX_new failed");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  // A null key means "re-initialise with the previous key" to OpenSSL, so an empty secret
  // still needs a non-null pointer.
  static const unsigned char kEmpty[1] = {0};
  const unsigned char* key =
      secret.empty() ? kEmpty : reinterpret_cast<const unsigned char*>(secret.data());
  if (EVP_MAC_init(ctx.get(), key, secret.size(), params) != 1) {
    return absl::InternalError("EVP_MAC_init(HMAC-SHA256) failed");
  }
  return HmacSha256Key(std::move(ctx));
}

bool HmacSha256Key::SignHex(int64_t timestamp, absl::string_view payload, SignatureHex* out) const {
  // "<t>." on the stack: at most 20 characters for an int64, plus the dot.
  char prefix[24];
  char* end = std::to_chars(prefix, prefix + sizeof(prefix) - 1, timestamp).ptr;
  *end++ = '.';

  std::unique_ptr<EVP_MAC_CTX, CtxDeleter> ctx(EVP_MAC_CTX_dup(ctx_.get()));
  if (ctx == nullptr) return false;
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_size = 0;
  if (EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(prefix), end - prefix) !=
          1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(payload.data()),
                     payload.size()) != 1 ||
      EVP_MAC_final(ctx.get(), mac, &mac_size, sizeof(mac)) != 1 ||
      mac_size * 2 != kSignatureHexSize) {
    return false;
  }
  HexEncode(mac, mac_size, out->data());
  return true;
}

}  // namespace switchboard::server::verify::internal
