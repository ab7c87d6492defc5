// Router: maps Stripe event types to handler functions, and a delivery to the Ack it earns.
//
// A handler service builds one Router at start-up, registers a function per event type
// pattern, and hands it to Serve() (sdk/serve.h), which registers the subscription with the
// gateway for exactly those patterns. Two kinds of registration:
//
//   On<T>(pattern, fn)   typed: fn(const EventContext&, const T&) gets the event's data.object
//                        as the stripe.v1 message T, complete. Checked when registered: T must
//                        be the object kind of every event type the pattern matches
//                        (`charge.*` also matches disputes and refunds, so
//                        On<stripe::v1::Charge>("charge.*") is refused; register the exact
//                        types instead).
//   On<T>(pattern, fn, TypedMisses::kAccept)
//                        typed, and also called with a T that has typed misses (below).
//   OnEvent(pattern, fn) raw: fn(const EventContext&) sees the whole switchboard.v1.Event (the
//                        object as a Struct, the raw JSON). Any pattern.
//
// Patterns: exact (`payment_intent.succeeded`), prefix (`payment_intent.*`) or all (`*`). Each
// event goes to exactly one function, the most specific match: an exact pattern beats any
// prefix, a longer prefix beats a shorter one, and `*` takes what is left. An event nothing
// matches is answered RETRY, never OK: in a rolling deploy a newer instance of the same
// subscription may have registered the type (or the subscription was widened by hand), so
// another member or the next version handles it, and if none ever does the retry policy
// dead-letters it where it can be redriven. Such deliveries are logged (sdk_no_handler) at the
// 1st, 2nd, 4th, 8th, ... of each type.
//
// The typed layer is a thin wrapper over the raw one: the typed function runs only when the
// event carries a whole T. The delivery is answered REJECT instead, so it lands in the dead
// letters with the reason, to be redriven after a fix, when
//   - the event carries no T (the gateway has no typed message for this object kind, or the
//     event holds another kind), or
//   - the T is partial: a value in data.object did not fit its typed field (Stripe changed a
//     shape), so the gateway left that field unset and listed its path in
//     data.typed_misses (docs/MAPPING.md). A payments handler must not read an unset `amount`
//     as 0. The Ack's message names the paths, never the values.
// A registration with TypedMisses::kAccept takes partial messages too and reads the paths from
// EventContext::typed_misses(). Raw registrations see every event as it is. Never a crash.
//
// The returned status decides the Ack (sdk/status.h): OK -> OK; PermanentError -> REJECT;
// RetryAfter(d) -> RETRY after at least d; any other error -> RETRY. A function that throws is
// answered RETRY "handler threw: <what()>" and logged (sdk_handler_threw); the exception never
// leaves Dispatch.
//
// Mistakes in registrations (a bad pattern, the same pattern twice, a type that does not fit)
// are collected and reported together by Check(), which Serve() calls before it starts: a
// handler with a wrong registration fails at start-up, not at its first event.
//
// Example:
//   sdk::Router router;
//   router.On<stripe::v1::PaymentIntent>(
//       "payment_intent.succeeded",
//       [](const sdk::EventContext& ctx, const stripe::v1::PaymentIntent& pi) {
//         return Fulfil(ctx.id(), pi.amount(), pi.currency());
//       });
//   // Only has_*()-checked fields are read: partial messages are fine.
//   router.On<stripe::v1::Customer>("customer.updated", SyncEmail, sdk::TypedMisses::kAccept);
//   router.OnEvent("*", [](const sdk::EventContext& ctx) {
//     std::cout << "ignoring " << ctx.type() << "\n";
//     return absl::OkStatus();
//   });
//   if (absl::Status s = router.Check(); !s.ok()) { ... }   // Serve() does this too
//
// Thread-safety: register from one thread before serving; after that every const method
// (Dispatch, ...) may run concurrently, and registered functions are called concurrently (on
// Serve()'s worker threads), so they must be thread-safe.
#ifndef SWITCHBOARD_SDK_ROUTER_H_
#define SWITCHBOARD_SDK_ROUTER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "protos/switchboard/v1/handler.pb.h"
#include "sdk/event_context.h"
#include "sdk/internal/pattern.h"
#include "sdk/status.h"

namespace switchboard::sdk {

// A raw handler function.
using EventFn = std::function<absl::Status(const EventContext&)>;

// A typed handler function for the stripe.v1 message T.
template <typename T>
using TypedEventFn = std::function<absl::Status(const EventContext&, const T&)>;

// What a typed registration does with an event whose typed message has typed misses (values
// that did not fit their typed field and are unset; EventContext::typed_misses()).
enum class TypedMisses {
  // Answer REJECT without calling the function (the default).
  kReject,
  // Call the function with the partial message. For functions that read only fields they check
  // with has_*() or that consult ctx.typed_misses() themselves.
  kAccept,
};

class Router {
 public:
  Router() = default;
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;
  Router(Router&&) = default;
  Router& operator=(Router&&) = default;

  // Registers `fn` for events matching `pattern` whose data.object is a T (a stripe.v1 message
  // generated from protos/stripe/v1). `misses` says whether `fn` also gets a T with typed
  // misses; by default such a delivery is answered REJECT. Errors surface in Check(). Returns
  // *this.
  template <typename T>
  Router& On(absl::string_view pattern, TypedEventFn<T> fn,
             TypedMisses misses = TypedMisses::kReject) {
    static_assert(std::is_base_of_v<google::protobuf::Message, T>,
                  "On<T>: T must be a generated protobuf message (stripe::v1::PaymentIntent, ...)");
    if (fn == nullptr) return Add(pattern, T::descriptor(), misses, nullptr);
    return Add(pattern, T::descriptor(), misses,
               [fn = std::move(fn)](const EventContext& ctx,
                                    const google::protobuf::Message* payload) -> absl::Status {
                 if (const T* typed = google::protobuf::DynamicCastToGenerated<T>(payload)) {
                   return fn(ctx, *typed);
                 }
                 // Not a generated T object (never the case for deliveries the SDK parsed):
                 // go through the wire format.
                 T copy;
                 if (!copy.ParseFromString(payload->SerializeAsString())) {
                   return PermanentError("typed payload does not decode");
                 }
                 return fn(ctx, copy);
               });
  }

  // Registers `fn` for events matching `pattern`, with no typed payload. Returns *this.
  Router& OnEvent(absl::string_view pattern, EventFn fn);

  // OK when every registration so far is valid and there is at least one; otherwise
  // kInvalidArgument listing each problem on its own line, e.g.
  //   On<stripe.v1.Charge>("charge.*"): charge.dispute.created carries stripe.v1.Dispute
  absl::Status Check() const;

  // The patterns to subscribe to, sorted and without duplicates (just "*" when one
  // registration is "*").
  std::vector<std::string> EventTypes() const;

  // Handles one delivery: finds the function, decodes the typed payload, calls the function
  // and maps its status to the Ack (delivery_id echoed). A typed function's event without its
  // T, or with typed misses its registration does not accept, is answered REJECT without a
  // call; a function that throws, or an event no registration matches, RETRY. Never fails and
  // never throws: every problem is an outcome. REQUIRES: Check() is OK (a registration
  // Check() reports was not added).
  switchboard::v1::Ack Dispatch(const switchboard::v1::Delivery& delivery) const;

  // Dispatch for a delivery as it arrives on the wire. A delivery that does not decode is
  // answered REJECT (with its delivery_id read from the raw bytes); nullopt when not even a
  // delivery_id can be read (nothing can be acknowledged).
  std::optional<switchboard::v1::Ack> DispatchSerialized(absl::string_view bytes) const;

 private:
  // `payload` is nullptr for raw registrations.
  using AnyFn =
      std::function<absl::Status(const EventContext&, const google::protobuf::Message* payload)>;
  struct Registration {
    std::string pattern;
    internal::Pattern parsed;
    const google::protobuf::Descriptor* type = nullptr;  // nullptr: raw
    TypedMisses misses = TypedMisses::kReject;           // typed only
    AnyFn fn;
  };

  // Deliveries no registration matched, counted per event type for the sdk_no_handler log.
  struct Unmatched {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, int64_t> by_type ABSL_GUARDED_BY(mu);
    // Types beyond the ones by_type may hold (it is bounded), together.
    int64_t other ABSL_GUARDED_BY(mu) = 0;
  };

  Router& Add(absl::string_view pattern, const google::protobuf::Descriptor* type,
              TypedMisses misses, AnyFn fn);
  const Registration* Find(absl::string_view type) const;
  // Counts a delivery of `delivery.event().type()` that nothing matched, and logs the 1st,
  // 2nd, 4th, ... of each type.
  void NoteUnmatched(const switchboard::v1::Delivery& delivery) const;

  std::vector<Registration> registrations_;
  absl::flat_hash_map<std::string, size_t> by_pattern_;
  // Indexes into registrations_ of prefix patterns, longest prefix first.
  std::vector<size_t> prefixes_;
  std::vector<std::string> errors_;
  // Behind a pointer so that the Router stays movable.
  std::unique_ptr<Unmatched> unmatched_ = std::make_unique<Unmatched>();
};

// The Ack for a handler function's `status` (sdk/status.h), with `delivery_id`.
switchboard::v1::Ack AckFromStatus(absl::string_view delivery_id, const absl::Status& status);

}  // namespace switchboard::sdk

#endif  // SWITCHBOARD_SDK_ROUTER_H_
