// Internal to //sdk: reading a serialized switchboard.v1.Delivery that may not decode.
//
// The SDK receives deliveries as bytes (a generic gRPC service), so that a delivery the
// generated classes refuse (invalid UTF-8 in a string, nesting over protobuf's limit, a field
// of the wrong wire type) is answered REJECT instead of breaking the stream. Its delivery_id is
// read from the raw wire format, without a schema.
//
// Thread-safety: pure functions.
#ifndef SWITCHBOARD_SDK_INTERNAL_WIRE_H_
#define SWITCHBOARD_SDK_INTERNAL_WIRE_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace switchboard::sdk::internal {

// The delivery_id (field 1) of a serialized Delivery, read without parsing the rest. nullopt
// when the bytes are not protobuf wire format or field 1 is absent or not valid UTF-8.
std::optional<std::string> DeliveryIdOf(absl::string_view serialized_delivery);

// `text` made safe for a proto3 string field (which must be valid UTF-8) and cut to at most
// `max_bytes` on a character boundary: invalid bytes become '?'.
std::string SafeUtf8(absl::string_view text, size_t max_bytes);

}  // namespace switchboard::sdk::internal

#endif  // SWITCHBOARD_SDK_INTERNAL_WIRE_H_
