#include "server/convert/typed_walker.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <iterator>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_set.h"
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
    // kMap: the entry's key and value fields.
    const FieldDescriptor* map_key = nullptr;
    const FieldDescriptor* map_value = nullptr;
  };

  const Descriptor* descriptor = nullptr;
  // The generated type's reflection (the same for every instance), looked up once.
  const Reflection* reflection = nullptr;
  // Ordinary messages: JSON key -> what to do with its value, sorted by key, and an index.
  std::vector<std::pair<std::string, FieldPlan>> ordered;
  absl::flat_hash_map<std::string, size_t> by_key;
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

// REQUIRES: Fits(value, field), !field->is_repeated(); `reflection` is out's.
void SetScalar(const JsonValue& value, Message* out, const Reflection* reflection,
               const FieldDescriptor* field) {
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

// REQUIRES: Fits(value, field), field->is_repeated(); `reflection` is out's.
void AddScalar(const JsonValue& value, Message* out, const Reflection* reflection,
               const FieldDescriptor* field) {
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

// Where a value sits, relative to the walked object: a chain of frames on the C++ stack (one
// per level), so it costs nothing until a miss turns it into a string.
struct Path {
  const Path* parent;
  const JsonValue* key;  // nullptr for an array element
  int64_t index;
};

// One walk: the misses it appends to.
class Walk {
 public:
  explicit Walk(RepeatedPtrField<std::string>* misses) : misses_(misses) {}

  void Object(const JsonValue& json, Message* out, const MessagePlan& plan, int depth,
              const Path* path) {
    const Reflection* reflection = plan.reflection;
    // Stripe writes keys in sorted order (after `id` and `object`), as the plan keeps them: try
    // the next few planned keys before hashing.
    size_t next = 0;
    const size_t count = plan.ordered.size();
    for (auto it = json.MemberBegin(); it != json.MemberEnd(); ++it) {
      const absl::string_view key(it->name.GetString(), it->name.GetStringLength());
      const FieldPlan* field = nullptr;
      for (size_t k = next; k < count && k < next + 3; ++k) {
        if (plan.ordered[k].first == key) {
          field = &plan.ordered[k].second;
          next = k + 1;
          break;
        }
      }
      if (field == nullptr) {
        const auto found = plan.by_key.find(key);
        if (found == plan.by_key.end()) continue;  // Unknown keys live on in the Struct.
        field = &plan.ordered[found->second].second;
        next = found->second + 1;
      }
      const Path member{path, &it->name, -1};
      Member(it->value, out, reflection, *field, depth, &member);
    }
  }

 private:
  void Miss(const Path* path) {
    const Path* frames[2 * TypedWalker::kMaxDepth + 2];
    int n = 0;
    for (const Path* p = path; p != nullptr && n < static_cast<int>(std::size(frames));
         p = p->parent) {
      frames[n++] = p;
    }
    std::string* text = misses_->Add();
    while (n > 0) {
      const Path* p = frames[--n];
      if (p->key == nullptr) {
        absl::StrAppend(text, "[", p->index, "]");
      } else {
        if (!text->empty()) text->push_back('.');
        text->append(p->key->GetString(), p->key->GetStringLength());
      }
    }
  }

  void Member(const JsonValue& value, Message* out, const Reflection* reflection,
              const FieldPlan& plan, int depth, const Path* path) {
    switch (plan.action) {
      case Action::kScalar:
        if (value.IsNull()) {
          reflection->ClearField(out, plan.field);
        } else if (Fits(value, plan.field)) {
          SetScalar(value, out, reflection, plan.field);
        } else {
          reflection->ClearField(out, plan.field);
          Miss(path);
        }
        return;
      case Action::kMessage:
        reflection->ClearField(out, plan.field);
        if (value.IsNull()) return;
        if (!Accepts(value, plan.target, depth)) {
          Miss(path);
          return;
        }
        Fill(value, reflection->MutableMessage(out, plan.field), plan.target, depth, path);
        return;
      case Action::kRef:
        reflection->ClearOneof(out, plan.field->containing_oneof());
        if (value.IsNull()) return;
        if (value.IsString()) {
          SetScalar(value, out, reflection, plan.field);
        } else if (value.IsObject() && Accepts(value, plan.target, depth)) {
          Fill(value, reflection->MutableMessage(out, plan.object_arm), plan.target, depth, path);
        } else {
          Miss(path);
        }
        return;
      case Action::kRepeatedScalar:
      case Action::kRepeatedMessage:
        reflection->ClearField(out, plan.field);
        if (value.IsNull()) return;  // Nullable arrays: null and [] are both empty.
        if (!value.IsArray()) {
          Miss(path);
          return;
        }
        Elements(value, out, reflection, plan, depth, path);
        return;
      case Action::kMap:
        reflection->ClearField(out, plan.field);
        if (value.IsNull()) return;
        if (!value.IsObject()) {
          Miss(path);
          return;
        }
        Entries(value, out, reflection, plan, depth, path);
        return;
    }
  }

  void Elements(const JsonValue& array, Message* out, const Reflection* reflection,
                const FieldPlan& plan, int depth, const Path* path) {
    for (rapidjson::SizeType i = 0; i < array.Size(); ++i) {
      const JsonValue& element = array[i];
      const Path at{path, nullptr, static_cast<int64_t>(i)};
      if (plan.action == Action::kRepeatedScalar) {
        if (Fits(element, plan.field)) {
          AddScalar(element, out, reflection, plan.field);
        } else {
          Miss(&at);
        }
      } else if (Accepts(element, plan.target, depth)) {
        Fill(element, reflection->AddMessage(out, plan.field), plan.target, depth, &at);
      } else {
        Miss(&at);
      }
    }
  }

  void Entries(const JsonValue& object, Message* out, const Reflection* reflection,
               const FieldPlan& plan, int depth, const Path* path) {
    const FieldDescriptor* value_field = plan.map_value;
    const bool scalar = IsScalar(value_field);
    for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
      const JsonValue& value = it->value;
      if (value.IsNull()) continue;  // No value: no entry.
      const Path at{path, &it->name, -1};
      if (scalar ? Fits(value, value_field) : Accepts(value, plan.target, depth)) {
        Message* entry = reflection->AddMessage(out, plan.field);
        const Reflection* entry_reflection = entry->GetReflection();
        entry_reflection->SetString(entry, plan.map_key, StringOf(it->name));
        if (scalar) {
          SetScalar(value, entry, entry_reflection, value_field);
        } else {
          Fill(value, entry_reflection->MutableMessage(entry, value_field), plan.target, depth,
               &at);
        }
      } else {
        Miss(&at);
      }
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
  void Fill(const JsonValue& value, Message* out, const Target& target, int depth,
            const Path* path) {
    const MessagePlan* plan = target.plan;
    if (plan == nullptr) {
      JsonObjectToStruct(value,
                         google::protobuf::DynamicCastToGenerated<google::protobuf::Struct>(out));
      return;
    }
    if (!plan->wrapper) {
      Object(value, out, *plan, depth + 1, path);
      return;
    }
    const Reflection* reflection = plan->reflection;
    if (value.IsString()) {
      SetScalar(value, out, reflection, plan->id_arm);
      return;
    }
    if (plan->object_arm != nullptr) {
      Fill(value, reflection->MutableMessage(out, plan->object_arm), plan->object_target, depth,
           path);
      return;
    }
    const auto* arm = ArmForObject(*plan, value);
    Fill(value, reflection->MutableMessage(out, arm->first), arm->second, depth, path);
  }

  RepeatedPtrField<std::string>* misses_;
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

// Plans `root` and every message it reaches, breadth first. A plan is created the first time its
// type is seen, so cycles (Charge -> Invoice -> Charge) resolve to the one plan.
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
      it->second->reflection = google::protobuf::MessageFactory::generated_factory()
                                   ->GetPrototype(descriptor)
                                   ->GetReflection();
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
        fp.map_key = field->message_type()->map_key();
        fp.map_value = field->message_type()->map_value();
        if (fp.map_key->cpp_type() != FieldDescriptor::CPPTYPE_STRING) {
          continue;  // JSON object keys are strings; stripe.v1 maps all have string keys.
        } else if (fp.map_value->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
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
      plan.ordered.emplace_back(std::move(key), fp);
    }
    std::sort(plan.ordered.begin(), plan.ordered.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t k = 0; k < plan.ordered.size(); ++k) plan.by_key[plan.ordered[k].first] = k;
  }
  return planned_root.plan;
}

void TypedWalker::Fill(const rapidjson::Value& json, google::protobuf::Message* out,
                       google::protobuf::RepeatedPtrField<std::string>* misses) const {
  auto it = plans_.find(out->GetDescriptor());
  if (it == plans_.end() || it->second->wrapper) return;
  // The plans hold the generated types' reflection; a DynamicMessage has its own.
  if (out->GetReflection() != it->second->reflection) return;
  Walk(misses).Object(json, out, *it->second, /*depth=*/0, /*path=*/nullptr);
}

}  // namespace switchboard::server::convert::internal
