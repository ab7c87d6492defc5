// Internal to //server/convert: RapidJSON DOM -> google.protobuf.Struct / Value.
//
// The mapping is protobuf's own for JSON: null -> NULL_VALUE, bools, numbers as doubles (an
// integer above 2^53 is rounded; ±infinity stays ±infinity), strings byte for byte (NUL bytes
// included), objects -> Struct, arrays -> ListValue. An object with a duplicate key keeps the
// last occurrence, as JSON.parse and most JSON libraries do; the earlier value is discarded, not
// merged.
//
// The walk uses an explicit stack, not recursion, so its stack use does not depend on the
// input. Messages are created through the output's own mutable_*() calls, so an arena-allocated
// output gets arena-allocated contents.
//
// Example:
//   JsonObjectToStruct(parsed.root()["data"]["object"],
//   event.mutable_data()->mutable_object_struct());
//
// Thread-safety: the functions are thread-safe for distinct outputs.
#ifndef SWITCHBOARD_SERVER_CONVERT_JSON_TO_STRUCT_H_
#define SWITCHBOARD_SERVER_CONVERT_JSON_TO_STRUCT_H_

#include "google/protobuf/struct.pb.h"
#include "rapidjson/document.h"

namespace switchboard::server::convert::internal {

// Replaces `*out` with the JSON value `json`.
void JsonToValue(const rapidjson::Value& json, google::protobuf::Value* out);

// Replaces `*out` with the members of `json`.
// REQUIRES: json.IsObject().
void JsonObjectToStruct(const rapidjson::Value& json, google::protobuf::Struct* out);

}  // namespace switchboard::server::convert::internal

#endif  // SWITCHBOARD_SERVER_CONVERT_JSON_TO_STRUCT_H_
