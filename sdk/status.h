// How a handler function's returned absl::Status becomes the Ack the gateway receives.
//
//   absl::OkStatus()                      -> OK      (done; never delivered again, barring replay)
//   PermanentError("bad metadata")        -> REJECT  (straight to the subscription's dead letters)
//   any other error, e.g. UnavailableError -> RETRY  (again later, with the gateway's backoff)
//   RetryAfter(absl::Minutes(5), "quota") -> RETRY, not before 5 minutes from now
//
// A permanent failure is marked by a status payload, so any code may carry it (MakePermanent
// keeps the code and message of an existing status). Everything that is not marked permanent is
// retried: when in doubt the SDK never drops an event.
//
// Example:
//   absl::Status Handle(const EventContext& ctx, const stripe::v1::Charge& charge) {
//     if (charge.currency().empty()) return sdk::PermanentError("charge without currency");
//     if (!db.Reachable()) return sdk::RetryAfter(absl::Seconds(30), "database unreachable");
//     return absl::OkStatus();
//   }
//
// Thread-safety: pure functions.
#ifndef SWITCHBOARD_SDK_STATUS_H_
#define SWITCHBOARD_SDK_STATUS_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard::sdk {

// Returns a kFailedPrecondition status marked permanent: the delivery is answered REJECT and
// the event goes to the subscription's dead letters (from where `ctl dead redrive` retries it).
absl::Status PermanentError(absl::string_view message);

// Returns `status` (which must not be OK) marked permanent, keeping its code and message.
// An OK status is returned unchanged.
absl::Status MakePermanent(absl::Status status);

// True when `status` was made by PermanentError or MakePermanent.
bool IsPermanentError(const absl::Status& status);

// Returns a kUnavailable status that is answered RETRY with `delay` as the Ack's retry_after:
// the gateway waits at least that long before the next attempt. `delay` is clamped at 0.
absl::Status RetryAfter(absl::Duration delay, absl::string_view message);

// The delay attached by RetryAfter, if any.
std::optional<absl::Duration> RetryAfterOf(const absl::Status& status);

}  // namespace switchboard::sdk

#endif  // SWITCHBOARD_SDK_STATUS_H_
