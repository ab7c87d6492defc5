#include "server/dispatch/retry_policy.h"

#include <algorithm>

#include "server/dispatch/event_proto.h"

namespace switchboard::server::dispatch {

RetryPolicy RetryPolicy::FromProto(const switchboard::v1::RetryPolicy& proto) {
  RetryPolicy policy;
  if (proto.has_initial_backoff()) {
    const absl::Duration d = FromProtoDuration(proto.initial_backoff());
    if (d > absl::ZeroDuration()) policy.initial_backoff = d;
  }
  if (proto.has_max_backoff()) {
    const absl::Duration d = FromProtoDuration(proto.max_backoff());
    if (d > absl::ZeroDuration()) policy.max_backoff = d;
  }
  if (proto.has_max_age()) {
    const absl::Duration d = FromProtoDuration(proto.max_age());
    if (d > absl::ZeroDuration()) policy.max_age = d;
  }
  policy.max_attempts = std::max(proto.max_attempts(), 0);
  return policy;
}

absl::Duration RetryPolicy::Ceiling(int32_t attempts) const {
  absl::Duration ceiling = initial_backoff;
  // Doubling stops at the cap, so this loop runs at most ~40 times whatever `attempts` is.
  for (int32_t i = 1; i < attempts && ceiling < max_backoff; ++i) ceiling *= 2;
  return std::min(ceiling, max_backoff);
}

absl::Duration RetryPolicy::Backoff(int32_t attempts, RandomSource& random) const {
  double u = random.Uniform();
  // A source outside [0, 1) must not produce a negative or an overlong wait.
  u = std::clamp(u, 0.0, 1.0);
  return absl::Microseconds(
      static_cast<int64_t>(u * static_cast<double>(absl::ToInt64Microseconds(Ceiling(attempts)))));
}

bool RetryPolicy::Exhausted(int32_t attempts, absl::Time first_attempt_at, absl::Time now) const {
  if (max_attempts > 0 && attempts >= max_attempts) return true;
  return now - first_attempt_at >= max_age;
}

}  // namespace switchboard::server::dispatch
