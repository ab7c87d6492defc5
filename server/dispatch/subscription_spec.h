// Subscription specs: validation, defaults and event matching, shared by the Dispatcher (config
// file and Gateway.Subscribe go through the same checks) and the Gateway service.
//
// A normalized spec (NormalizeSubscription) has every default written out (max_in_flight,
// retry_policy, delivery_timeout), its event types de-duplicated, and only spec fields: members,
// start, stats, static and created_at are cleared. It is what the gateway stores and compares.
//
// Limits: name [a-z0-9_.-]{1,64}; 1..100 event type patterns (exact `a.b`, prefix `a.*`, or
// `*`), each at most 255 bytes of [A-Za-z0-9_.-]; at most 100 accounts; max_in_flight 1..1024
// (default 32); delivery_timeout 1 ms..1 h (default 30 s); retry durations non-negative with
// initial_backoff <= max_backoff; max_attempts >= 0.
//
// Example:
//   ASSIGN_OR_RETURN(switchboard::v1::Subscription spec, NormalizeSubscription(request));
//   if (MatchesEvent(spec, record)) ...
//
// Thread-safety: free functions without state.
#ifndef SWITCHBOARD_SERVER_DISPATCH_SUBSCRIPTION_SPEC_H_
#define SWITCHBOARD_SERVER_DISPATCH_SUBSCRIPTION_SPEC_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "protos/switchboard/v1/subscription.pb.h"
#include "server/store/event_store.h"

namespace switchboard::server::dispatch {

inline constexpr int kDefaultMaxInFlight = 32;
inline constexpr int kMaxMaxInFlight = 1024;
inline constexpr int kMaxSubscriptionNameLength = 64;
inline constexpr int kMaxAccounts = 100;
inline constexpr absl::Duration kDefaultDeliveryTimeout = absl::Seconds(30);
inline constexpr absl::Duration kMaxDeliveryTimeout = absl::Hours(1);

// OK for [a-z0-9_.-]{1,64}; kInvalidArgument otherwise.
absl::Status ValidateSubscriptionName(absl::string_view name);

// OK for a dialable `host:port` or `[v6]:port` (port 1..65535, not a wildcard host such as
// 0.0.0.0 or ::); kInvalidArgument otherwise, saying why.
absl::Status ValidateMemberAddress(absl::string_view address);

// OK for `*`, an exact type or a `prefix.*` pattern; kInvalidArgument otherwise.
absl::Status ValidateEventTypePattern(absl::string_view pattern);

// The normalized form of `spec` (see the file comment). kInvalidArgument naming the first bad
// field. Does not look at members, start, stats, static or created_at.
absl::StatusOr<switchboard::v1::Subscription> NormalizeSubscription(
    const switchboard::v1::Subscription& spec);

// kInvalidArgument when `start` is malformed (a time out of range).
absl::Status ValidateStartPosition(const switchboard::v1::StartPosition& start);

// What an update of an existing subscription does with the request's event types.
enum class EventTypesUpdate {
  kReplace,  // they replace the subscription's
  kAdd,      // they are added to the subscription's (SubscribeRequest.add_event_types)
};

// For Subscribe on a static subscription: OK when every spec field that `request` sets agrees
// with `existing` (normalized); kFailedPrecondition naming the first field that differs.
// Event types are compared as sets (kReplace), or must all be among `existing`'s (kAdd).
absl::Status CheckSameSpec(const switchboard::v1::Subscription& request,
                           const switchboard::v1::Subscription& existing,
                           EventTypesUpdate types = EventTypesUpdate::kReplace);

// For Subscribe with kAdd on a dynamic subscription: `request` with its event types replaced by
// those of `existing` (in their order) followed by the request's it lacks (in theirs), the
// other fields as they are; NormalizeSubscription of the result is the new spec.
// kInvalidArgument when `request`'s own types are not valid (as NormalizeSubscription says) or
// the union has more than 100 patterns.
absl::StatusOr<switchboard::v1::Subscription> AddEventTypes(
    const switchboard::v1::Subscription& request, const switchboard::v1::Subscription& existing);

// True when a normalized `spec` wants `event`: its type matches a pattern, and its livemode and
// account pass the optional filters.
bool MatchesEvent(const switchboard::v1::Subscription& spec, const store::EventRecord& event);

}  // namespace switchboard::server::dispatch

#endif  // SWITCHBOARD_SERVER_DISPATCH_SUBSCRIPTION_SPEC_H_
