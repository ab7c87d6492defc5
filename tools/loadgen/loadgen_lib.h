// Load generator pieces: request templates and latency statistics (tools/loadgen).
//
// RequestFactory turns the trigger tool's example events into templates padded to a range of
// sizes and hands out unique, correctly signed bodies cheaply (the id is overwritten in place,
// so no JSON is rebuilt per request, and HMAC is keyed once: server/verify's Signer, ~2x
// cheaper per request than the one-shot SignatureHeader). LatencyStats merges per-thread samples
// and reports the percentiles a benchmark needs.
//
// Example:
//   ASSIGN_OR_RETURN(auto factory, RequestFactory::Create(secret, 1024, 6144, /*seed=*/1));
//   RequestFactory::Request r = factory.Make(/*connection=*/3, /*n=*/17, absl::Now());
//   LatencyStats stats;  stats.Add(absl::Microseconds(850));
//   std::string line = stats.Summary();
//
// Thread-safety: RequestFactory::Make is const and thread-safe; LatencyStats is not (merge
// per-thread instances with Merge()).
#ifndef SWITCHBOARD_TOOLS_LOADGEN_LOADGEN_LIB_H_
#define SWITCHBOARD_TOOLS_LOADGEN_LOADGEN_LIB_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/verify/signing.h"

namespace switchboard::tools::loadgen {

class RequestFactory {
 public:
  struct Request {
    std::string id;
    std::string body;
    std::string signature_header;
  };

  // Templates of every known example type, padded to sizes spread over [min_bytes, max_bytes].
  // kInvalidArgument when the range is empty or below the examples' own size.
  static absl::StatusOr<RequestFactory> Create(std::string secret, int min_bytes, int max_bytes,
                                               uint64_t seed);

  // A body unique for (connection, n): its event id is derived from both.
  Request Make(int connection, int64_t n, absl::Time now) const;

  size_t template_count() const { return templates_.size(); }

 private:
  struct Template {
    std::string body;
    size_t id_offset;  // where the 24 characters after "evt_" start
  };
  std::shared_ptr<const server::verify::Signer> signer_;  // keyed once
  std::vector<Template> templates_;
};

class LatencyStats {
 public:
  void Add(absl::Duration latency) { micros_.push_back(absl::ToInt64Microseconds(latency)); }
  void Merge(const LatencyStats& other);
  int64_t count() const { return static_cast<int64_t>(micros_.size()); }
  // The q-quantile (0 <= q <= 1), nearest-rank; zero when empty. Sorts on first use.
  absl::Duration Quantile(double q);
  // "p50_ms=... p90_ms=... p99_ms=... p999_ms=... max_ms=..."
  std::string Summary();

 private:
  std::vector<int64_t> micros_;
  bool sorted_ = false;
};

}  // namespace switchboard::tools::loadgen

#endif  // SWITCHBOARD_TOOLS_LOADGEN_LOADGEN_LIB_H_
