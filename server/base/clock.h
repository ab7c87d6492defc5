// Clock: the one way server code reads the time, so tests can control it.
//
// Two readings:
//   - Now(): the wall clock, for times that are stored or compared with other machines' clocks
//     (received_at, a retry's next_at, the Stripe-Signature timestamp).
//   - Monotonic(): for intervals that live only in memory (timeouts, grace periods, stall
//     checks). It never jumps when the wall clock is stepped (NTP correcting a wrong clock, a
//     resumed VM), so a step neither fires every deadline at once nor stretches them by hours.
//     Its values compare only with each other: never store one, never mix it with Now().
//
// RealClock reads the system clocks; FakeClock is advanced
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
  virtual absl::Time Monotonic() const = 0;
};

// The process's monotonic reading (CLOCK_MONOTONIC as an absl::Time; see Clock::Monotonic), for
// code that keeps in-memory deadlines without an injected Clock.
absl::Time MonotonicNow();

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  absl::Time Monotonic() const override { return MonotonicNow(); }
  // A process-wide instance (never destroyed).
  static RealClock* Get();
};

// A clock that only moves when told to. Advance moves both readings; Set steps only the wall
// clock, as an NTP correction would (the monotonic reading starts equal to `start`).
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start) : now_(start), monotonic_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  absl::Time Monotonic() const override {
    absl::MutexLock lock(&mu_);
    return monotonic_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
    monotonic_ += d;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  absl::Time monotonic_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::base

#endif  // SWITCHBOARD_SERVER_BASE_CLOCK_H_
