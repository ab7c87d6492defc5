// EventContext: what a handler function knows about the delivery it is handling: the event's
// envelope (id, type, account, livemode, previous attributes), the attempt number, the typed
// misses, and the whole switchboard.v1.Event (raw JSON, the object as a Struct, ...).
//
// Use the event id as the idempotency key: delivery is at least once, so the same event can
// arrive again (a retry after a lost ack, a replay, a redrive).
//
// Example:
//   absl::Status Handle(const sdk::EventContext& ctx, const stripe::v1::Invoice& invoice) {
//     if (ctx.attempt() > 1) sdk::LogInfo(absl::StrCat("again: ", ctx.id()));
//     if (ctx.previous_attributes() != nullptr) { ... }  // *.updated events
//     return Book(ctx.id(), invoice);
//   }
//
// Thread-safety: immutable; views into a Delivery that outlives every handler call.
#ifndef SWITCHBOARD_SDK_EVENT_CONTEXT_H_
#define SWITCHBOARD_SDK_EVENT_CONTEXT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/repeated_field.h"
#include "google/protobuf/struct.pb.h"
#include "protos/switchboard/v1/event.pb.h"
#include "protos/switchboard/v1/handler.pb.h"

namespace switchboard::sdk {

class EventContext {
 public:
  // `delivery` must outlive the context.
  explicit EventContext(const switchboard::v1::Delivery& delivery) : delivery_(delivery) {}

  // Stripe's event id (`evt_...`): the idempotency key.
  absl::string_view id() const { return event().id(); }
  // `payment_intent.succeeded`, ...
  absl::string_view type() const { return event().type(); }
  // 1 on the first attempt for this subscription, then 2, 3, ... (starts at 1 again after a
  // redrive).
  int attempt() const { return delivery_.attempt(); }
  bool livemode() const { return event().livemode(); }
  // The Connect account the event came from; empty for the platform's own events.
  absl::string_view account() const { return event().account(); }
  bool has_account() const { return event().has_account(); }
  // data.previous_attributes of *.updated events; nullptr when the event has none.
  const google::protobuf::Struct* previous_attributes() const {
    return event().data().has_previous_attributes() ? &event().data().previous_attributes()
                                                    : nullptr;
  }
  // Paths, relative to data.object (`amount`, `lines.data[1].period.end`), of values that did
  // not fit the typed message and are unset in it (docs/MAPPING.md, "Typed misses"); their
  // values are in event().data().object_struct() and event().raw_json(). Empty when the typed
  // message is complete. A typed function sees it non-empty only when registered with
  // TypedMisses::kAccept (sdk/router.h).
  const google::protobuf::RepeatedPtrField<std::string>& typed_misses() const {
    return event().data().typed_misses();
  }
  // The subscription and the gateway's id for this attempt.
  absl::string_view subscription() const { return delivery_.subscription(); }
  absl::string_view delivery_id() const { return delivery_.delivery_id(); }

  // The whole event: envelope, data (typed oneof, object_struct), raw_json, received_at, ...
  const switchboard::v1::Event& event() const { return delivery_.event(); }
  const switchboard::v1::Delivery& delivery() const { return delivery_; }

 private:
  const switchboard::v1::Delivery& delivery_;
};

}  // namespace switchboard::sdk

#endif  // SWITCHBOARD_SDK_EVENT_CONTEXT_H_
