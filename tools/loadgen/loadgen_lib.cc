#include "tools/loadgen/loadgen_lib.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/trigger/trigger_lib.h"

namespace switchboard::tools::loadgen {
namespace {

constexpr char kPlaceholderId[] = "evt_LOADGENxxxxxxxxxxxxxxxxx";  // "evt_" + 24 characters
constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";

// HMAC-SHA256 keyed with `secret`, ready to be duplicated per message.
absl::StatusOr<std::shared_ptr<EVP_MAC_CTX>> KeyedHmac(absl::string_view secret) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) return absl::InternalError("OpenSSL has no HMAC");
  std::shared_ptr<EVP_MAC_CTX> ctx(EVP_MAC_CTX_new(mac), EVP_MAC_CTX_free);
  EVP_MAC_free(mac);  // the context holds its own reference
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (ctx == nullptr || secret.empty() ||
      EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                   params) != 1) {
    return absl::InternalError("cannot key HMAC-SHA256 (empty secret?)");
  }
  return ctx;
}

}  // namespace

absl::StatusOr<RequestFactory> RequestFactory::Create(std::string secret, int min_bytes,
                                                      int max_bytes, uint64_t seed) {
  if (min_bytes <= 0 || max_bytes < min_bytes) {
    return absl::InvalidArgumentError("loadgen: need 0 < min_bytes <= max_bytes");
  }
  absl::BitGen gen{std::seed_seq{seed}};
  RequestFactory factory;
  absl::StatusOr<std::shared_ptr<EVP_MAC_CTX>> keyed = KeyedHmac(secret);
  if (!keyed.ok()) return keyed.status();
  factory.keyed_ = *std::move(keyed);
  const std::vector<std::string> types = trigger::KnownEventTypes();
  // Four sizes per type, spread over the range: realistic bodies are 1-6 KB.
  for (int variant = 0; variant < 4; ++variant) {
    for (const std::string& type : types) {
      absl::StatusOr<std::string> body =
          trigger::BuildExampleEvent(type, kPlaceholderId, absl::FromUnixSeconds(1700000000), gen);
      if (!body.ok()) return body.status();
      const int target = min_bytes + (max_bytes - min_bytes) * variant / 3;
      // Pad with an extra envelope key (kept by the gateway like any unknown field).
      const int pad = target - static_cast<int>(body->size()) - 20;
      if (pad > 0) {
        body->insert(1, absl::StrCat("\"loadgen_pad\":\"", std::string(pad, 'p'), "\","));
      }
      const size_t at = body->find(kPlaceholderId);
      if (at == std::string::npos) return absl::InternalError("example without its id");
      factory.templates_.push_back({*std::move(body), at + 4});
    }
  }
  return factory;
}

RequestFactory::Request RequestFactory::Make(int connection, int64_t n, absl::Time now) const {
  const Template& t = templates_[static_cast<size_t>(n + connection) % templates_.size()];
  Request r;
  r.body = t.body;
  // 24 id characters: 4 for the connection, 20 for the counter (base 36), unique per run.
  char* id = r.body.data() + t.id_offset;
  uint64_t c = static_cast<uint64_t>(connection);
  for (int i = 3; i >= 0; --i, c /= 36) id[i] = kAlphabet[c % 36];
  uint64_t v = static_cast<uint64_t>(n);
  for (int i = 23; i >= 4; --i, v /= 36) id[i] = kAlphabet[v % 36];
  r.id = std::string(id - 4, 28);
  // Stripe-Signature: t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">.
  char stamp[24];
  char* stamp_end = std::to_chars(stamp, stamp + sizeof(stamp) - 1, absl::ToUnixSeconds(now)).ptr;
  *stamp_end = '.';
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_size = 0;
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx(EVP_MAC_CTX_dup(keyed_.get()),
                                                                EVP_MAC_CTX_free);
  if (ctx == nullptr ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(stamp),
                     stamp_end + 1 - stamp) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(r.body.data()),
                     r.body.size()) != 1 ||
      EVP_MAC_final(ctx.get(), mac, &mac_size, sizeof(mac)) != 1) {
    std::cerr << "loadgen: HMAC-SHA256 failed\n";
    std::abort();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  r.signature_header.reserve(64 + 30);
  r.signature_header.append("t=").append(stamp, stamp_end).append(",v1=");
  for (size_t i = 0; i < mac_size; ++i) {
    r.signature_header.push_back(kHex[mac[i] >> 4]);
    r.signature_header.push_back(kHex[mac[i] & 0x0f]);
  }
  return r;
}

void LatencyStats::Merge(const LatencyStats& other) {
  micros_.insert(micros_.end(), other.micros_.begin(), other.micros_.end());
  sorted_ = false;
}

absl::Duration LatencyStats::Quantile(double q) {
  if (micros_.empty()) return absl::ZeroDuration();
  if (!sorted_) {
    std::sort(micros_.begin(), micros_.end());
    sorted_ = true;
  }
  q = std::clamp(q, 0.0, 1.0);
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(micros_.size())));
  if (rank > 0) --rank;
  return absl::Microseconds(micros_[std::min(rank, micros_.size() - 1)]);
}

std::string LatencyStats::Summary() {
  auto ms = [this](double q) { return absl::ToDoubleMilliseconds(Quantile(q)); };
  return absl::StrFormat("p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f", ms(0.5),
                         ms(0.9), ms(0.99), ms(0.999), ms(1.0));
}

}  // namespace switchboard::tools::loadgen
