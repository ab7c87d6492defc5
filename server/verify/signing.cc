#include "server/verify/signing.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/verify/hmac.h"

namespace switchboard::server::verify {

std::string ComputeSignature(absl::string_view secret, int64_t timestamp,
                             absl::string_view payload) {
  absl::StatusOr<internal::HmacSha256Key> key = internal::HmacSha256Key::Create(secret);
  internal::SignatureHex hex;
  if (!key.ok() || !key->SignHex(timestamp, payload, &hex)) {
    SB_LOG(FATAL) << "hmac_sha256_failed status=" << base::Quoted(key.status().message());
  }
  return std::string(hex.data(), hex.size());
}

std::string SignatureHeader(absl::string_view secret, int64_t timestamp,
                            absl::string_view payload) {
  return absl::StrCat("t=", timestamp, ",v1=", ComputeSignature(secret, timestamp, payload));
}

absl::StatusOr<Signer> Signer::Create(absl::string_view secret) {
  absl::StatusOr<internal::HmacSha256Key> key = internal::HmacSha256Key::Create(secret);
  if (!key.ok()) return key.status();
  return Signer(std::make_unique<internal::HmacSha256Key>(*std::move(key)));
}

Signer::Signer(std::unique_ptr<internal::HmacSha256Key> key) : key_(std::move(key)) {}
Signer::Signer(Signer&&) noexcept = default;
Signer& Signer::operator=(Signer&&) noexcept = default;
Signer::~Signer() = default;

std::string Signer::Header(int64_t timestamp, absl::string_view payload) const {
  internal::SignatureHex hex;
  if (!key_->SignHex(timestamp, payload, &hex)) SB_LOG(FATAL) << "hmac_sha256_failed";
  return absl::StrCat("t=", timestamp, ",v1=", absl::string_view(hex.data(), hex.size()));
}

}  // namespace switchboard::server::verify
