// Internal to //sdk: finding an event's typed Stripe object with protobuf reflection.
//
// switchboard.v1.EventData carries the typed object in `oneof object` (PaymentIntent, Charge,
// ...). The SDK finds the field by message type through descriptors, so it needs no list of
// the Stripe messages of its own and picks up new ones as the protos grow.
//
// Thread-safety: pure functions over immutable descriptors.
#ifndef SWITCHBOARD_SDK_INTERNAL_TYPED_PAYLOAD_H_
#define SWITCHBOARD_SDK_INTERNAL_TYPED_PAYLOAD_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "protos/switchboard/v1/event.pb.h"

namespace switchboard::sdk::internal {

// switchboard.v1.EventData's `oneof object`, or nullptr in a build whose protos have none.
const google::protobuf::OneofDescriptor* EventPayloadOneof();

// The field of `oneof` whose message type is `type`; nullptr when there is none (or `oneof`
// is nullptr).
const google::protobuf::FieldDescriptor* PayloadField(
    const google::protobuf::OneofDescriptor* oneof, const google::protobuf::Descriptor* type);

// The message set in `oneof` of `container` when it is a `type`; nullptr when the oneof is
// unset or holds another type. `oneof` must belong to container's type.
const google::protobuf::Message* FindPayload(const google::protobuf::Message& container,
                                             const google::protobuf::OneofDescriptor* oneof,
                                             const google::protobuf::Descriptor* type);

// A short description of what `oneof` of `container` holds: "stripe.v1.Charge" or "nothing".
std::string DescribePayload(const google::protobuf::Message& container,
                            const google::protobuf::OneofDescriptor* oneof);

// OK when `type` can be delivered for every event type `pattern` matches: `type` must be one of
// EventData's typed payloads and, per the Stripe event-type table, the object kind of each
// matching event type. kInvalidArgument with a message naming the offending event types.
absl::Status CheckTypedRegistration(absl::string_view pattern,
                                    const google::protobuf::Descriptor* type);

}  // namespace switchboard::sdk::internal

#endif  // SWITCHBOARD_SDK_INTERNAL_TYPED_PAYLOAD_H_
