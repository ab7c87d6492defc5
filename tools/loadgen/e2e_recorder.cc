#include "tools/loadgen/e2e_recorder.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace switchboard::tools::loadgen {

void EndToEndRecorder::Record(const switchboard::v1::Event& event, int attempt, absl::Time now) {
  absl::MutexLock lock(&mu_);
  ++events_;
  last_event_ = now;
  if (attempt > 1) ++redelivered_;
  if (!event.has_received_at()) {
    ++unstamped_;
    return;
  }
  const absl::Time received = absl::FromUnixSeconds(event.received_at().seconds()) +
                              absl::Nanoseconds(event.received_at().nanos());
  // Warm-up is counted from the first event seen (deliveries may complete slightly out of
  // order; the first one is close enough to the start of the load).
  if (first_received_ == absl::InfiniteFuture()) first_received_ = received;
  if (received < first_received_ + warmup_) return;
  stats_.Add(now - received);
  measured_first_ = std::min(measured_first_, received);
  measured_last_ = std::max(measured_last_, received);
}

int64_t EndToEndRecorder::events() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

absl::Time EndToEndRecorder::last_event() const {
  absl::MutexLock lock(&mu_);
  return last_event_;
}

std::string EndToEndRecorder::Result(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  const double span =
      stats_.count() > 0 ? absl::ToDoubleSeconds(measured_last_ - measured_first_) : 0.0;
  return absl::StrFormat(
      "RESULT sink=%s events=%d measured=%d redelivered=%d unstamped=%d span_s=%.2f rate=%.0f "
      "min_ms=%.3f %s",
      name, events_, stats_.count(), redelivered_, unstamped_, span,
      span > 0 ? static_cast<double>(stats_.count()) / span : 0.0,
      absl::ToDoubleMilliseconds(stats_.Quantile(0)), stats_.Summary());
}

}  // namespace switchboard::tools::loadgen
