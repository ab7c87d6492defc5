// The Stripe v1 event type table: event type -> object kind -> typed message.
//
// Stripe names 265 v1 ("snapshot") event types. Each carries one kind of object in
// `data.object`, and the name does not reliably say which: `customer.subscription.updated`
// carries a `subscription`, `charge.dispute.closed` a `dispute`, `charge.refund.updated` a
// `refund`. Two families vary per event (`account.external_account.*`: bank_account or card;
// `customer.source.*`: account, bank_account, card or source), and the object's own `object`
// field says which. This table holds those facts (copied from Stripe's event catalogue into the
// generated event_types_data.inc) and maps each object kind to its stripe.v1 message
// (protos/stripe/v1/resources.proto) when there is one. The server's converter and the handler
// SDK both use it.
//
// Patterns (the subscription filters of DESIGN.md §3.1): an exact type
// (`payment_intent.succeeded`), a prefix ending in `.*` (`charge.*` matches every type that
// starts with `charge.`, so `charge.dispute.created` too), or `*` (every type). Nothing else is a
// pattern: `charge*`, `*.succeeded` and `` match nothing.
//
// The namespace is the generated messages' own (`stripe::v1`): a `switchboard::stripe` namespace
// would hide `stripe::v1::Charge` from code inside `namespace switchboard`.
//
// Example:
//   const stripe::v1::EventTypeInfo* info = stripe::v1::FindEventType(event.type());
//   if (info != nullptr && info->message == stripe::v1::Charge::descriptor()) { ... }
//
//   absl::Status ok = stripe::v1::CheckTypedRegistration("payment_intent.*",
//                                                        stripe::v1::PaymentIntent::descriptor());
//   absl::Status bad = stripe::v1::CheckTypedRegistration("charge.*",
//                                                         stripe::v1::Charge::descriptor());
//   // bad: InvalidArgument "... charge.dispute.closed carries stripe.v1.Dispute, not ..."
//
// Thread-safety: every function is thread-safe; the table is built once, on first use, and is
// immutable afterwards. Returned pointers stay valid for the life of the process.
#ifndef SWITCHBOARD_PROTOS_STRIPE_V1_EVENT_TYPES_H_
#define SWITCHBOARD_PROTOS_STRIPE_V1_EVENT_TYPES_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace stripe::v1 {

struct EventTypeInfo {
  // The event type, e.g. "payment_intent.succeeded".
  absl::string_view type;
  // The kind of object `data.object` carries as Stripe's catalogue spells it: "payment_intent",
  // "checkout.session"; for families whose object varies, the kinds joined by `|`
  // ("bank_account|card").
  absl::string_view object_kind;
  // The kinds `data.object.object` can take: {"payment_intent"}, or every kind of a polymorphic
  // family ({"bank_account", "card"}).
  std::vector<absl::string_view> possible_kinds;
  // The stripe.v1 message of data.object, or nullptr when its kind has none or the family is
  // polymorphic (then MessageForObjectKind(data.object.object) gives it per event).
  const google::protobuf::Descriptor* message = nullptr;

  bool polymorphic() const { return possible_kinds.size() > 1; }
};

// Every v1 event type in the table (265), sorted by type.
const std::vector<EventTypeInfo>& AllEventTypes();

// The entry for `type`, or nullptr if the table does not know it (a type newer than the table,
// a thin v2 type, a typo).
const EventTypeInfo* FindEventType(absl::string_view type);

// The entries `pattern` matches (exact, "prefix.*" or "*"), sorted by type; empty when it
// matches none or is not a pattern.
std::vector<const EventTypeInfo*> MatchingEventTypes(absl::string_view pattern);

// The stripe.v1 message for objects whose `object` field is `object_kind` ("charge",
// "checkout.session", "bank_account", ...), or nullptr when the kind has no message.
const google::protobuf::Descriptor* MessageForObjectKind(absl::string_view object_kind);

// For typed handler registration: OK when every event type `pattern` matches carries an object
// whose message is `descriptor` (in a polymorphic family, every possible kind must be one).
// Otherwise InvalidArgument naming the first offending type (in sorted order) and what it
// carries instead; also InvalidArgument when `descriptor` is nullptr or `pattern` matches no
// known event type (the table cannot vouch for a type it does not know).
absl::Status CheckTypedRegistration(absl::string_view pattern,
                                    const google::protobuf::Descriptor* descriptor);

}  // namespace stripe::v1

#endif  // SWITCHBOARD_PROTOS_STRIPE_V1_EVENT_TYPES_H_
