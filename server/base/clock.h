// Clock: the one way server code reads the time, so tests can control it.
//
// RealClock reads the system clock; FakeClock is advanced
// by hand. Code that waits for time to pass takes a `Clock*` in its Options and is unit-tested
// with FakeClock without sleeping.
//
// Example:
//   base::FakeClock clock(absl::FromUnixSeconds(1700000000));
//   verifier.Verify(header, body, clock.Now());
//
// Thread-safe: both implementations may be read from any thread.
#ifndef SWITCHBOARD_SERVER_BASE_CLOCK_H_
#define SWITCHBOARD_SERVER_BASE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace switchboard::base {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  // A process-wide instance (never destroyed).
  static RealClock* Get();
};

// A clock that only moves when told to.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start) : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::base

#endif  // SWITCHBOARD_SERVER_BASE_CLOCK_H_
