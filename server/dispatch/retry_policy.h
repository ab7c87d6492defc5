// RetryPolicy: when a failed delivery is tried again, and when it is given up (dead-lettered).
//
// Exponential backoff with "full jitter": after the n-th failed attempt the ceiling is
// initial_backoff * 2^(n-1), capped at max_backoff, and the actual wait is uniformly random in
// [0, ceiling] (so a herd of failures spreads out). A handler's Ack.retry_after is a minimum on
// top of that. The event is given up once it has failed max_attempts times (when set) or once
// max_age has passed since its first attempt. Defaults follow Stripe's own webhook retries:
// 1 s initial, 10 min cap, 3 days maximum age, no attempt limit.
//
// RandomSource is the injected randomness (tests pass a fixed one).
//
// Example:
//   RetryPolicy policy = RetryPolicy::FromProto(subscription.retry_policy());
//   if (policy.Exhausted(attempts, first_attempt_at, now)) DeadLetter(...);
//   else next_at = now + std::max(policy.Backoff(attempts, random), retry_after);
//
// Thread-safety: RetryPolicy is a value type. BitGenRandomSource is thread-safe.
#ifndef SWITCHBOARD_SERVER_DISPATCH_RETRY_POLICY_H_
#define SWITCHBOARD_SERVER_DISPATCH_RETRY_POLICY_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "protos/switchboard/v1/subscription.pb.h"

namespace switchboard::server::dispatch {

// A source of uniform random numbers in [0, 1).
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual double Uniform() = 0;
};

// absl::BitGen behind a mutex.
class BitGenRandomSource final : public RandomSource {
 public:
  double Uniform() override {
    absl::MutexLock lock(&mu_);
    return absl::Uniform<double>(gen_, 0.0, 1.0);
  }

 private:
  absl::Mutex mu_;
  absl::BitGen gen_ ABSL_GUARDED_BY(mu_);
};

struct RetryPolicy {
  static constexpr absl::Duration kDefaultInitialBackoff = absl::Seconds(1);
  static constexpr absl::Duration kDefaultMaxBackoff = absl::Minutes(10);
  static constexpr absl::Duration kDefaultMaxAge = absl::Hours(72);

  absl::Duration initial_backoff = kDefaultInitialBackoff;
  absl::Duration max_backoff = kDefaultMaxBackoff;
  absl::Duration max_age = kDefaultMaxAge;
  int32_t max_attempts = 0;  // 0: no limit but max_age

  // The policy of `proto`, with defaults for unset (zero) fields. REQUIRES: `proto` passed
  // NormalizeSubscription (no negative durations).
  static RetryPolicy FromProto(const switchboard::v1::RetryPolicy& proto);

  // The backoff ceiling after `attempts` failed attempts (>= 1): initial * 2^(attempts-1), at
  // most max_backoff.
  absl::Duration Ceiling(int32_t attempts) const;

  // A wait drawn uniformly from [0, Ceiling(attempts)] (full jitter).
  absl::Duration Backoff(int32_t attempts, RandomSource& random) const;

  // True when an event that has failed `attempts` times, the first at `first_attempt_at`, is to
  // be given up at `now`.
  bool Exhausted(int32_t attempts, absl::Time first_attempt_at, absl::Time now) const;
};

}  // namespace switchboard::server::dispatch

#endif  // SWITCHBOARD_SERVER_DISPATCH_RETRY_POLICY_H_
