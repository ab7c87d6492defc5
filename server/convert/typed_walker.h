// Internal to //server/convert: a parsed JSON object -> a typed stripe.v1 message, by protobuf
// reflection, following the stripe.v1 conventions (docs/MAPPING.md, resources.proto):
//   - a JSON key fills the field of the same name; keys the message does not know are ignored
//     (they stay in the Struct and the raw bytes);
//   - `oneof <key> { string <key>_id; Msg <key>_object; }` is an expandable reference: a string
//     fills `_id`, an object `_object`;
//   - a message whose only member is `oneof value` is a wrapper: a string fills `id`, an object
//     fills `object` or, for polymorphic wrappers, the arm named after the JSON object's own
//     `object` value (`.` as `_`);
//   - null leaves a field unset (a repeated field empty); google.protobuf.Struct fields take any
//     object as it is.
// There is no code per message: the walker works from descriptors, through plans it computes
// once for every message reachable from switchboard.v1.EventData's `oneof object`.
//
// A value that does not fit its field (a string where an int64 belongs, an integer beyond int64
// or with a fraction, an object where a string belongs, an unknown kind in a polymorphic
// wrapper) never fails the conversion: that field is left unset (an array element or map entry
// is left out) and its path, relative to the walked object, is appended to the misses, e.g.
// `amount`, `lines.data[0].period.end`, `metadata.note`. Paths are in document order; a value
// nested in a misfit is not visited.
//
// Stack use is bounded: the walk recurses once per JSON level and stops (with a miss) below
// kMaxDepth levels; ParseJson already caps the whole document at 32.
//
// Example:
//   const TypedWalker& walker = TypedWalker::Get();
//   if (const google::protobuf::FieldDescriptor* arm = walker.ArmForKind("charge")) {
//     google::protobuf::Message* charge =
//         data->GetReflection()->MutableMessage(data, arm);
//     walker.Fill(data_object_json, charge, data->mutable_typed_misses());
//   }
//
// Thread-safety: the walker is immutable after Get() builds it (once, thread-safely); Fill may
// run on any number of threads at once for distinct outputs.
#ifndef SWITCHBOARD_SERVER_CONVERT_TYPED_WALKER_H_
#define SWITCHBOARD_SERVER_CONVERT_TYPED_WALKER_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "rapidjson/document.h"

namespace switchboard::server::convert::internal {

class TypedWalker {
 public:
  // Deepest JSON nesting below the walked object the walker descends into.
  static constexpr int kMaxDepth = 64;

  // The walker for switchboard.v1.EventData's `oneof object` and every message it reaches.
  static const TypedWalker& Get();

  // The arm of EventData's `oneof object` for objects of `kind` (`data.object.object`:
  // "payment_intent", "checkout.session", ...), or nullptr when the kind has no typed message.
  const google::protobuf::FieldDescriptor* ArmForKind(absl::string_view kind) const;

  // Fills `*out` from `json` as described above; appends the path of every value that did not
  // fit to `*misses`. Fields of `*out` that `json` does not mention are left as they were.
  // Does nothing when `out` is not a generated message of a type this walker planned (an
  // EventData arm's message, or a message reachable from one).
  // REQUIRES: json.IsObject(); misses != nullptr.
  void Fill(const rapidjson::Value& json, google::protobuf::Message* out,
            google::protobuf::RepeatedPtrField<std::string>* misses) const;

  struct MessagePlan;  // Opaque; defined in the .cc.

  TypedWalker(const TypedWalker&) = delete;
  TypedWalker& operator=(const TypedWalker&) = delete;
  ~TypedWalker();

 private:
  TypedWalker();
  const MessagePlan* PlanFor(const google::protobuf::Descriptor* descriptor);

  absl::flat_hash_map<const google::protobuf::Descriptor*, std::unique_ptr<MessagePlan>> plans_;
  absl::flat_hash_map<std::string, const google::protobuf::FieldDescriptor*> arms_by_kind_;
};

}  // namespace switchboard::server::convert::internal

#endif  // SWITCHBOARD_SERVER_CONVERT_TYPED_WALKER_H_
