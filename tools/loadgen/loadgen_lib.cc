#include "tools/loadgen/loadgen_lib.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/verify/signing.h"
#include "tools/trigger/trigger_lib.h"

namespace switchboard::tools::loadgen {
namespace {

constexpr char kPlaceholderId[] = "evt_LOADGENxxxxxxxxxxxxxxxxx";  // "evt_" + 24 characters
constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";

}  // namespace

absl::StatusOr<RequestFactory> RequestFactory::Create(std::string secret, int min_bytes,
                                                      int max_bytes, uint64_t seed) {
  if (min_bytes <= 0 || max_bytes < min_bytes) {
    return absl::InvalidArgumentError("loadgen: need 0 < min_bytes <= max_bytes");
  }
  absl::BitGen gen{std::seed_seq{seed}};
  RequestFactory factory;
  if (secret.empty()) return absl::InvalidArgumentError("loadgen: the secret is empty");
  absl::StatusOr<server::verify::Signer> signer = server::verify::Signer::Create(secret);
  if (!signer.ok()) return signer.status();
  factory.signer_ = std::make_shared<server::verify::Signer>(*std::move(signer));
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
  r.signature_header = signer_->Header(absl::ToUnixSeconds(now), r.body);
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
