#include "server/verify/signing.h"

#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/verify/hmac.h"

namespace switchboard::server::verify {

std::string ComputeSignature(absl::string_view secret, int64_t timestamp,
                             absl::string_view payload) {
  absl::StatusOr<internal::HmacSha256Key> key = internal::HmacSha256Key::Create(secret);
  internal::SignatureHex hex;
  if (!key.ok() || !key->SignHex(timestamp, payload, &hex)) {
    SB_LOG(FATAL) << "hmac_sha256_failed status=\"" << key.status().message() << "\"";
  }
  return std::string(hex.data(), hex.size());
}

std::string SignatureHeader(absl::string_view secret, int64_t timestamp,
                            absl::string_view payload) {
  return absl::StrCat("t=", timestamp, ",v1=", ComputeSignature(secret, timestamp, payload));
}

}  // namespace switchboard::server::verify
