// EndToEndRecorder: the bookkeeping of tools/loadgen:sink (see sink.cc), apart from the SDK so it
// can be tested: for each handled delivery, the latency now - Event.received_at, kept once the
// event was received at least `warmup` after the first one seen, and the RESULT line.
//
// Example:
//   EndToEndRecorder recorder(absl::Seconds(2));
//   recorder.Record(ctx.event(), ctx.attempt(), absl::Now());   // in the handler function
//   std::cout << recorder.Result("e2e-sink-1") << "\n";          // at the end
//
// Thread-safety: thread-safe (handler functions run concurrently on the SDK's workers).
#ifndef SWITCHBOARD_TOOLS_LOADGEN_E2E_RECORDER_H_
#define SWITCHBOARD_TOOLS_LOADGEN_E2E_RECORDER_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "protos/switchboard/v1/event.pb.h"
#include "tools/loadgen/loadgen_lib.h"

namespace switchboard::tools::loadgen {

class EndToEndRecorder {
 public:
  explicit EndToEndRecorder(absl::Duration warmup) : warmup_(warmup) {}

  // Records one handled delivery of `event` (its `attempt`, handled at `now`). An event without
  // received_at is counted as unstamped and not measured.
  void Record(const switchboard::v1::Event& event, int attempt, absl::Time now);

  // Deliveries recorded so far, and when the last one was.
  int64_t events() const;
  absl::Time last_event() const;

  // "RESULT sink=<name> events=N measured=M redelivered=R unstamped=U span_s=S rate=... min_ms=...
  // p50_ms=... p90_ms=... p99_ms=... p999_ms=... max_ms=..." (sink.cc explains the fields).
  std::string Result(absl::string_view name);

 private:
  const absl::Duration warmup_;
  mutable absl::Mutex mu_;
  int64_t events_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t redelivered_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t unstamped_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time first_received_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time measured_first_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time measured_last_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time last_event_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  LatencyStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::tools::loadgen

#endif  // SWITCHBOARD_TOOLS_LOADGEN_E2E_RECORDER_H_
