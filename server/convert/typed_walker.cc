#include "server/convert/typed_walker.h"

#include <cstdint>
#include <deque>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/struct.pb.h"
#include "protos/stripe/v1/event_types.h"
#include "protos/switchboard/v1/event.pb.h"
#include "server/base/log.h"
#include "server/convert/json_to_struct.h"

namespace switchboard::server::convert::internal {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::OneofDescriptor;
using ::google::protobuf::Reflection;
using ::google::protobuf::RepeatedPtrField;
using JsonValue = ::rapidjson::Value;

struct TypedWalker::MessagePlan {
  enum class Action : uint8_t {
    kScalar,           // A singular string, int64, double or bool field.
    kMessage,          // A singular message field (a wrapper, a Struct or a planned message).
    kRepeatedScalar,   // A repeated scalar field: a JSON array.
    kRepeatedMessage,  // A repeated message field: a JSON array of objects (or references).
    kMap,              // map<string, scalar or Struct>: a JSON object.
    kRef,              // oneof <key> { string <key>_id; Msg <key>_object; }.
  };

  // What a JSON value becomes in a message-typed slot: `plan` is nullptr for a
  // google.protobuf.Struct (which takes any object as it is).
  struct Target {
    const MessagePlan* plan = nullptr;
  };

  struct FieldPlan {
    Action action;
    // The field; for kRef the `<key>_id` arm.
    const FieldDescriptor* field = nullptr;
    // kRef: the `<key>_object` arm.
    const FieldDescriptor* object_arm = nullptr;
    // Message-typed fields, elements, map values and object arms.
    Target target;
    // kMap: the entry's value field.
    const FieldDescriptor* map_value = nullptr;
  };

  const Descriptor* descriptor = nullptr;
  // Ordinary messages: JSON key -> what to do with its value.
  absl::flat_hash_map<std::string, FieldPlan> by_key;
  // Wrappers (`oneof value` only): a string fills `id_arm`; an object fills `object_arm` or the
  // arm `by_kind` names for its `object` value (`.` spelled `_`).
  bool wrapper = false;
  const FieldDescriptor* id_arm = nullptr;
  const FieldDescriptor* object_arm = nullptr;
  Target object_target;
  absl::flat_hash_map<std::string, std::pair<const FieldDescriptor*, Target>> by_kind;
};

namespace {

using MessagePlan = TypedWalker::MessagePlan;
using Action = MessagePlan::Action;
using FieldPlan = MessagePlan::FieldPlan;
using Target = MessagePlan::Target;

bool IsStruct(const Descriptor* descriptor) {
  return descriptor == google::protobuf::Struct::descriptor();
}

bool IsWrapper(const Descriptor* descriptor) {
  return descriptor->real_oneof_decl_count() == 1 && descriptor->oneof_decl(0)->name() == "value" &&
         descriptor->oneof_decl(0)->field_count() == descriptor->field_count();
}

bool IsScalar(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_BOOL:
      return true;
    default:
      return false;
  }
}

// Whether JSON `value` fits a scalar field of `field`'s type. int64 takes integers in range only
// (ParseJson types numbers from their text: no fraction, no exponent); double takes any number.
bool Fits(const JsonValue& value, const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return value.IsString();
    case FieldDescriptor::CPPTYPE_INT64:
      return value.IsInt64();
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return value.IsNumber();
    case FieldDescriptor::CPPTYPE_BOOL:
      return value.IsBool();
    default:
      return false;
  }
}

std::string StringOf(const JsonValue& value) {
  return std::string(value.GetString(), value.GetStringLength());
}

// REQUIRES: Fits(value, field), !field->is_repeated().
void SetScalar(const JsonValue& value, Message* out, const FieldDescriptor* field) {
  const Reflection* reflection = out->GetReflection();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      reflection->SetString(out, field, StringOf(value));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      reflection->SetInt64(out, field, value.GetInt64());
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      reflection->SetDouble(out, field, value.GetDouble());
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      reflection->SetBool(out, field, value.GetBool());
      break;
    default:
      break;
  }
}

// REQUIRES: Fits(value, field), field->is_repeated().
void AddScalar(const JsonValue& value, Message* out, const FieldDescriptor* field) {
  const Reflection* reflection = out->GetReflection();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      reflection->AddString(out, field, StringOf(value));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      reflection->AddInt64(out, field, value.GetInt64());
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      reflection->AddDouble(out, field, value.GetDouble());
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      reflection->AddBool(out, field, value.GetBool());
      break;
    default:
      break;
  }
}

// The `object` member of a JSON object, when it is a string (last occurrence wins).
const JsonValue* KindOf(const JsonValue& object) {
  const JsonValue* found = nullptr;
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
    if (std::string_view(it->name.GetString(), it->name.GetStringLength()) == "object") {
      found = &it->value;
    }
  }
  return found != nullptr && found->IsString() ? found : nullptr;
}

// The arm of wrapper `plan` for JSON object `object`: the one named after its `object` value,
// `.` spelled `_` (`issuing.authorization` -> `issuing_authorization`); nullptr if none.
const std::pair<const FieldDescriptor*, Target>* ArmForObject(const MessagePlan& plan,
                                                              const JsonValue& object) {
  const JsonValue* kind = KindOf(object);
  if (kind == nullptr) return nullptr;
  std::string name(kind->GetString(), kind->GetStringLength());
  for (char& c : name) {
    if (c == '.') c = '_';
  }
  auto it = plan.by_kind.find(name);
  return it == plan.by_kind.end() ? nullptr : &it->second;
}

// One walk: the misses it appends to and the path to the value being visited.
class Walk {
 public:
  explicit Walk(RepeatedPtrField<std::string>* misses) : misses_(misses) {}

  void Object(const JsonValue& json, Message* out, const MessagePlan& plan, int depth) {
    const Reflection* reflection = out->GetReflection();
    for (auto it = json.MemberBegin(); it != json.MemberEnd(); ++it) {
      const auto found =
          plan.by_key.find(absl::string_view(it->name.GetString(), it->name.GetStringLength()));
      if (found == plan.by_key.end()) continue;  // Unknown keys live on in the Struct.
      path_.push_back(Segment{&it->name, -1});
      Member(it->value, out, reflection, found->second, depth);
      path_.pop_back();
    }
  }

 private:
  struct Segment {
    const JsonValue* key;  // nullptr for an array index
    int64_t index;
  };

  void Miss() {
    std::string* path = misses_->Add();
    for (const Segment& segment : path_) {
      if (segment.key == nullptr) {
        absl::StrAppend(path, "[", segment.index, "]");
      } else {
        if (!path->empty()) path->push_back('.');
        path->append(segment.key->GetString(), segment.key->GetStringLength());
      }
    }
  }

  void Member(const JsonValue& value, Message* out, const Reflection* reflection,
              const FieldPlan& plan, int depth) {
    switch (plan.action) {
      case Action::kScalar:
        if (value.IsNull()) {
          reflection->ClearField(out, plan.field);
        } else if (Fits(value, plan.field)) {
          SetScalar(value, out, plan.field);
        } else {
          reflection->ClearField(out, plan.field);
          Miss();
        }
        return;
      case Action::kMessage:
        reflection->ClearField(out, plan.field);
        if (value.IsNull()) return;
        if (!Accepts(value, plan.target, depth)) {
          Miss();
          return;
        }
        Fill(value, reflection->MutableMessage(out, plan.field), plan.target, depth);
        return;
      case Action::kRef:
        reflection->ClearOneof(out, plan.field->containing_oneof());
        if (value.IsNull()) return;
        if (value.IsString()) {
          SetScalar(value, out, plan.field);
        } else if (value.IsObject() && Accepts(value, plan.target, depth)) {
          Fill(value, reflection->MutableMessage(out, plan.object_arm), plan.target, depth);
        } else {
          Miss();
        }
        return;
      case Action::kRepeatedScalar:
      case Action::kRepeatedMessage:
        reflection->ClearField(out, plan.field);
        if (value.IsNull()) return;  // Nullable arrays: null and [] are both empty.
        if (!value.IsArray()) {
          Miss();
          return;
        }
        Elements(value, out, reflection, plan, depth);
        return;
      case Action::kMap:
        reflection->ClearField(out, plan.field);
        if (value.IsNull()) return;
        if (!value.IsObject()) {
          Miss();
          return;
        }
        Entries(value, out, reflection, plan, depth);
        return;
    }
  }

  void Elements(const JsonValue& array, Message* out, const Reflection* reflection,
                const FieldPlan& plan, int depth) {
    for (rapidjson::SizeType i = 0; i < array.Size(); ++i) {
      const JsonValue& element = array[i];
      path_.push_back(Segment{nullptr, static_cast<int64_t>(i)});
      if (plan.action == Action::kRepeatedScalar) {
        if (Fits(element, plan.field)) {
          AddScalar(element, out, plan.field);
        } else {
          Miss();
        }
      } else if (Accepts(element, plan.target, depth)) {
        Fill(element, reflection->AddMessage(out, plan.field), plan.target, depth);
      } else {
        Miss();
      }
      path_.pop_back();
    }
  }

  void Entries(const JsonValue& object, Message* out, const Reflection* reflection,
               const FieldPlan& plan, int depth) {
    const FieldDescriptor* value_field = plan.map_value;
    const bool scalar = IsScalar(value_field);
    for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
      const JsonValue& value = it->value;
      if (value.IsNull()) continue;  // No value: no entry.
      path_.push_back(Segment{&it->name, -1});
      if (scalar ? Fits(value, value_field) : Accepts(value, plan.target, depth)) {
        Message* entry = reflection->AddMessage(out, plan.field);
        const FieldDescriptor* key_field = entry->GetDescriptor()->map_key();
        entry->GetReflection()->SetString(entry, key_field, StringOf(it->name));
        if (scalar) {
          SetScalar(value, entry, value_field);
        } else {
          Fill(value, entry->GetReflection()->MutableMessage(entry, value_field), plan.target,
               depth);
        }
      } else {
        Miss();
      }
      path_.pop_back();
    }
  }

  // Whether `value` can fill a message of `target` without a miss at this level (its fields
  // may still miss): a Struct or a planned message takes an object; a wrapper takes a string
  // when it has an `id` arm, and an object when it has an `object` arm or an arm for the
  // object's kind. False too when the walk is already kMaxDepth levels deep.
  bool Accepts(const JsonValue& value, const Target& target, int depth) const {
    if (depth >= TypedWalker::kMaxDepth) return false;
    const MessagePlan* plan = target.plan;
    if (plan == nullptr || !plan->wrapper) return value.IsObject();
    if (value.IsString()) return plan->id_arm != nullptr;
    if (!value.IsObject()) return false;
    if (plan->object_arm != nullptr) return Accepts(value, plan->object_target, depth + 1);
    return ArmForObject(*plan, value) != nullptr;
  }

  // REQUIRES: Accepts(value, target, depth).
  void Fill(const JsonValue& value, Message* out, const Target& target, int depth) {
    const MessagePlan* plan = target.plan;
    if (plan == nullptr) {
      JsonObjectToStruct(value,
                         google::protobuf::DynamicCastToGenerated<google::protobuf::Struct>(out));
      return;
    }
    if (!plan->wrapper) {
      Object(value, out, *plan, depth + 1);
      return;
    }
    const Reflection* reflection = out->GetReflection();
    if (value.IsString()) {
      SetScalar(value, out, plan->id_arm);
      return;
    }
    if (plan->object_arm != nullptr) {
      Fill(value, reflection->MutableMessage(out, plan->object_arm), plan->object_target, depth);
      return;
    }
    const auto* arm = ArmForObject(*plan, value);
    Fill(value, reflection->MutableMessage(out, arm->first), arm->second, depth);
  }

  RepeatedPtrField<std::string>* misses_;
  absl::InlinedVector<Segment, 16> path_;
};

}  // namespace

TypedWalker::TypedWalker() {
  const OneofDescriptor* oneof =
      switchboard::v1::EventData::descriptor()->FindOneofByName("object");
  if (oneof == nullptr) {
    SB_LOG(FATAL) << "switchboard.v1.EventData has no oneof `object`";
  }

  // EventData's arms are named after the kind (`.` as `_`); the event type table says which
  // message each kind has. Both must agree.
  absl::flat_hash_set<std::string> kinds;
  for (const stripe::v1::EventTypeInfo& info : stripe::v1::AllEventTypes()) {
    for (absl::string_view kind : info.possible_kinds) kinds.emplace(kind);
  }
  for (int i = 0; i < oneof->field_count(); ++i) kinds.insert(oneof->field(i)->name());
  for (const std::string& kind : kinds) {
    const FieldDescriptor* arm =
        oneof->containing_type()->FindFieldByName(absl::StrReplaceAll(kind, {{".", "_"}}));
    if (arm == nullptr || arm->containing_oneof() != oneof) continue;
    if (arm->message_type() != stripe::v1::MessageForObjectKind(kind)) continue;
    arms_by_kind_[kind] = arm;
    PlanFor(arm->message_type());
  }
}

TypedWalker::~TypedWalker() = default;

const TypedWalker& TypedWalker::Get() {
  static const TypedWalker* const walker = new TypedWalker();
  return *walker;
}

const FieldDescriptor* TypedWalker::ArmForKind(absl::string_view kind) const {
  auto it = arms_by_kind_.find(kind);
  return it == arms_by_kind_.end() ? nullptr : it->second;
}

bool TypedWalker::Plans(const Descriptor* descriptor) const { return plans_.contains(descriptor); }

// Plans `root` and every message it reaches: first every plan is created (so cycles, such as
// Charge -> Invoice -> Charge, resolve to the same plan), then each is filled in.
const TypedWalker::MessagePlan* TypedWalker::PlanFor(const Descriptor* root) {
  if (IsStruct(root)) return nullptr;
  if (auto it = plans_.find(root); it != plans_.end()) return it->second.get();
  std::deque<const Descriptor*> queue;
  auto target = [&](const Descriptor* descriptor) {
    MessagePlan::Target t;
    if (descriptor == nullptr || IsStruct(descriptor)) return t;
    auto [it, inserted] = plans_.try_emplace(descriptor);
    if (inserted) {
      it->second = std::make_unique<MessagePlan>();
      it->second->descriptor = descriptor;
      queue.push_back(descriptor);
    }
    t.plan = it->second.get();
    return t;
  };
  const MessagePlan::Target planned_root = target(root);
  while (!queue.empty()) {
    const Descriptor* d = queue.front();
    queue.pop_front();
    MessagePlan& plan = *plans_[d];
    if (IsWrapper(d)) {
      plan.wrapper = true;
      for (int i = 0; i < d->field_count(); ++i) {
        const FieldDescriptor* arm = d->field(i);
        if (arm->name() == "id" && arm->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
          plan.id_arm = arm;
        } else if (arm->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
          continue;
        } else if (arm->name() == "object") {
          plan.object_arm = arm;
          plan.object_target = target(arm->message_type());
        } else {
          plan.by_kind[arm->name()] = {arm, target(arm->message_type())};
        }
      }
      continue;
    }
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* field = d->field(i);
      const OneofDescriptor* oneof = field->real_containing_oneof();
      MessagePlan::FieldPlan fp;
      fp.field = field;
      std::string key = field->name();
      if (oneof != nullptr) {
        // Only the `<key>_id` arm creates the entry; the `_object` arm is found through it.
        if (field->name() != oneof->name() + "_id") continue;
        const FieldDescriptor* object_arm = d->FindFieldByName(oneof->name() + "_object");
        if (object_arm == nullptr || object_arm->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
          continue;
        }
        fp.action = MessagePlan::Action::kRef;
        fp.object_arm = object_arm;
        fp.target = target(object_arm->message_type());
        key = oneof->name();
      } else if (field->is_map()) {
        fp.action = MessagePlan::Action::kMap;
        fp.map_value = field->message_type()->map_value();
        if (fp.map_value->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          fp.target = target(fp.map_value->message_type());
        } else if (!IsScalar(fp.map_value)) {
          continue;
        }
      } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        fp.action = field->is_repeated() ? MessagePlan::Action::kRepeatedMessage
                                         : MessagePlan::Action::kMessage;
        fp.target = target(field->message_type());
      } else if (IsScalar(field)) {
        fp.action = field->is_repeated() ? MessagePlan::Action::kRepeatedScalar
                                         : MessagePlan::Action::kScalar;
      } else {
        continue;  // Enums and 32-bit types: stripe.v1 has none (resources_proto_test).
      }
      plan.by_key.emplace(std::move(key), fp);
    }
  }
  return planned_root.plan;
}

void TypedWalker::Fill(const rapidjson::Value& json, google::protobuf::Message* out,
                       google::protobuf::RepeatedPtrField<std::string>* misses) const {
  auto it = plans_.find(out->GetDescriptor());
  if (it == plans_.end() || it->second->wrapper) return;
  Walk(misses).Object(json, out, *it->second, /*depth=*/0);
}

}  // namespace switchboard::server::convert::internal
