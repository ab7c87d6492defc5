#include "server/convert/json_to_struct.h"

#include <string_view>

#include "absl/container/inlined_vector.h"

namespace switchboard::server::convert::internal {
namespace {

// One open container: the JSON being read and the message being filled (exactly one of
// `object` and `list` is set).
struct Frame {
  const rapidjson::Value* json;
  rapidjson::SizeType next;
  google::protobuf::Struct* object;
  google::protobuf::ListValue* list;
};

// Enough for every document ParseJson accepts with the default depth, without a heap allocation.
using Stack = absl::InlinedVector<Frame, 32>;

// Sets `out` from a scalar, or makes it an empty container and opens a frame for it.
void Assign(const rapidjson::Value& json, google::protobuf::Value* out, Stack* stack) {
  switch (json.GetType()) {
    case rapidjson::kNullType:
      out->set_null_value(google::protobuf::NULL_VALUE);
      break;
    case rapidjson::kFalseType:
      out->set_bool_value(false);
      break;
    case rapidjson::kTrueType:
      out->set_bool_value(true);
      break;
    case rapidjson::kNumberType:
      out->set_number_value(json.GetDouble());
      break;
    case rapidjson::kStringType:
      out->set_string_value(json.GetString(), json.GetStringLength());
      break;
    case rapidjson::kObjectType: {
      google::protobuf::Struct* object = out->mutable_struct_value();
      object->Clear();
      stack->push_back(Frame{&json, 0, object, nullptr});
      break;
    }
    case rapidjson::kArrayType: {
      google::protobuf::ListValue* list = out->mutable_list_value();
      list->Clear();
      list->mutable_values()->Reserve(static_cast<int>(json.Size()));
      stack->push_back(Frame{&json, 0, nullptr, list});
      break;
    }
  }
}

void Drain(Stack* stack) {
  while (!stack->empty()) {
    Frame& frame = stack->back();
    const rapidjson::Value* child;
    google::protobuf::Value* target;
    if (frame.object != nullptr) {
      if (frame.next == frame.json->MemberCount()) {
        stack->pop_back();
        continue;
      }
      const auto& member = *(frame.json->MemberBegin() + frame.next++);
      auto [it, inserted] = frame.object->mutable_fields()->try_emplace(
          std::string_view(member.name.GetString(), member.name.GetStringLength()));
      // A duplicate key: the last occurrence replaces the earlier value entirely.
      if (!inserted) it->second.Clear();
      child = &member.value;
      target = &it->second;
    } else {
      if (frame.next == frame.json->Size()) {
        stack->pop_back();
        continue;
      }
      child = &(*frame.json)[frame.next++];
      target = frame.list->add_values();
    }
    Assign(*child, target, stack);  // May grow the stack: `frame` is not used past this point.
  }
}

}  // namespace

void JsonToValue(const rapidjson::Value& json, google::protobuf::Value* out) {
  Stack stack;
  Assign(json, out, &stack);
  Drain(&stack);
}

void JsonObjectToStruct(const rapidjson::Value& json, google::protobuf::Struct* out) {
  out->Clear();
  Stack stack;
  stack.push_back(Frame{&json, 0, out, nullptr});
  Drain(&stack);
}

}  // namespace switchboard::server::convert::internal
