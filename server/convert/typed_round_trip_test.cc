// Round-trip property of the typed conversion: for every example event (both API shapes), the
// typed message written back to JSON with the mapping rules reversed equals the original
// `data.object` on every key the message knows.
//
// The reverse walker here is written independently of typed_walker.cc, from the rules in
// docs/MAPPING.md: `<key>_id` / `<key>_object` arms go back to `<key>`; a wrapper's arm goes
// back to the object (or id) it came from; an unset optional becomes `null` when the original
// had null and stays absent otherwise; int64 and double become JSON numbers; Structs print as
// protobuf prints them. The original is projected onto the keys the message knows (recursively,
// through the same descriptors) and the two are compared with RapidJSON's deep equality.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "protos/switchboard/v1/event.pb.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/base/status_matchers.h"
#include "server/convert/event_converter.h"
#include "tests/testdata/example_events.h"

namespace switchboard::server::convert {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::OneofDescriptor;
using ::google::protobuf::Reflection;
using Json = ::rapidjson::Value;
using Allocator = ::rapidjson::Document::AllocatorType;

using ::switchboard::testdata::ExampleEventFiles;
using ::switchboard::testdata::ReadExampleEvent;

std::string ToString(const Json& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return buffer.GetString();
}

bool IsStruct(const Descriptor* d) { return d == google::protobuf::Struct::descriptor(); }

bool IsWrapper(const Descriptor* d) {
  return d->real_oneof_decl_count() == 1 && d->oneof_decl(0)->name() == "value" &&
         d->oneof_decl(0)->field_count() == d->field_count();
}

// The field or reference oneof a JSON key names in `d`.
struct Known {
  const FieldDescriptor* field = nullptr;
  const OneofDescriptor* ref = nullptr;
};

Known Lookup(const Descriptor* d, const std::string& key) {
  Known known;
  if (const OneofDescriptor* oneof = d->FindOneofByName(key);
      oneof != nullptr && !oneof->is_synthetic()) {
    known.ref = oneof;
  } else if (const FieldDescriptor* field = d->FindFieldByName(key);
             field != nullptr && field->real_containing_oneof() == nullptr) {
    known.field = field;
  }
  return known;
}

// The wrapper arm a JSON value selects (string -> `id`; object -> `object` or its kind).
const FieldDescriptor* WrapperArm(const Descriptor* d, const Json& value) {
  if (value.IsString()) return d->FindFieldByName("id");
  if (!value.IsObject()) return nullptr;
  if (const FieldDescriptor* object = d->FindFieldByName("object")) return object;
  auto kind = value.FindMember("object");
  if (kind == value.MemberEnd() || !kind->value.IsString()) return nullptr;
  return d->FindFieldByName(absl::StrReplaceAll(kind->value.GetString(), {{".", "_"}}));
}

// ---------------------------------------------------------------------------------------------
// The original, projected onto what the message type knows.

Json Project(const Json& original, const Descriptor* d, Allocator& a);

Json ProjectAs(const Json& value, const Descriptor* message_type, Allocator& a) {
  if (message_type == nullptr || IsStruct(message_type) || !value.IsObject()) {
    return Json(value, a);
  }
  return Project(value, message_type, a);
}

Json Project(const Json& original, const Descriptor* d, Allocator& a) {
  if (IsWrapper(d)) {
    const FieldDescriptor* arm = WrapperArm(d, original);
    if (arm == nullptr || !original.IsObject()) return Json(original, a);
    return ProjectAs(original, arm->message_type(), a);
  }
  Json out(rapidjson::kObjectType);
  for (auto it = original.MemberBegin(); it != original.MemberEnd(); ++it) {
    const Known known = Lookup(d, it->name.GetString());
    const Json& value = it->value;
    Json projected;
    if (known.ref != nullptr) {
      projected = value.IsObject() ? ProjectAs(value, known.ref->field(1)->message_type(), a)
                                   : Json(value, a);
    } else if (known.field != nullptr) {
      const FieldDescriptor* f = known.field;
      if (f->is_map() || f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
        projected = Json(value, a);
      } else if (f->is_repeated() && value.IsArray()) {
        projected.SetArray();
        for (const Json& element : value.GetArray()) {
          projected.PushBack(ProjectAs(element, f->message_type(), a), a);
        }
      } else {
        projected = ProjectAs(value, f->message_type(), a);
      }
    } else {
      continue;  // Unknown to the typed form; the Struct and raw bytes keep it.
    }
    out.AddMember(Json(it->name, a), projected, a);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The reverse walker: typed message -> JSON, guided by the original for null versus absent.

Json Reverse(const Message& message, const Json& original, Allocator& a);

Json StructToJson(const google::protobuf::Struct& value, Allocator& a) {
  std::string text;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(value, &text).ok());
  rapidjson::Document document(&a);
  document.Parse(text.c_str());
  return Json(document, a);
}

Json MessageToJson(const Message& message, const Json& original, Allocator& a) {
  if (IsStruct(message.GetDescriptor())) {
    return StructToJson(static_cast<const google::protobuf::Struct&>(message), a);
  }
  return Reverse(message, original, a);
}

Json ScalarToJson(const Message& m, const FieldDescriptor* f, int index, Allocator& a) {
  const Reflection* r = m.GetReflection();
  const bool repeated = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string s = repeated ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
      return Json(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
    }
    case FieldDescriptor::CPPTYPE_INT64:
      return Json(
          static_cast<int64_t>(repeated ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f)));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return Json(repeated ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return Json(repeated ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f));
    default:
      ADD_FAILURE() << "unexpected field type " << f->full_name();
      return Json();
  }
}

const Json kNull;

Json FieldToJson(const Message& m, const FieldDescriptor* f, const Json& original, Allocator& a) {
  const Reflection* r = m.GetReflection();
  if (f->is_map()) {
    Json out(rapidjson::kObjectType);
    const FieldDescriptor* key = f->message_type()->map_key();
    const FieldDescriptor* value = f->message_type()->map_value();
    for (int i = 0; i < r->FieldSize(m, f); ++i) {
      const Message& entry = r->GetRepeatedMessage(m, f, i);
      const std::string k = entry.GetReflection()->GetString(entry, key);
      Json v = value->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE
                   ? MessageToJson(entry.GetReflection()->GetMessage(entry, value), kNull, a)
                   : ScalarToJson(entry, value, -1, a);
      out.AddMember(Json(k.data(), static_cast<rapidjson::SizeType>(k.size()), a), v, a);
    }
    if (out.MemberCount() == 0 && original.IsNull()) return Json();
    return out;
  }
  if (f->is_repeated()) {
    if (r->FieldSize(m, f) == 0 && original.IsNull()) return Json();  // null and [] are one.
    Json out(rapidjson::kArrayType);
    for (int i = 0; i < r->FieldSize(m, f); ++i) {
      const Json& element =
          original.IsArray() && static_cast<rapidjson::SizeType>(i) < original.Size() ? original[i]
                                                                                      : kNull;
      out.PushBack(f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE
                       ? MessageToJson(r->GetRepeatedMessage(m, f, i), element, a)
                       : ScalarToJson(m, f, i, a),
                   a);
    }
    return out;
  }
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    return MessageToJson(r->GetMessage(m, f), original, a);
  }
  return ScalarToJson(m, f, -1, a);
}

Json Reverse(const Message& message, const Json& original, Allocator& a) {
  const Descriptor* d = message.GetDescriptor();
  const Reflection* r = message.GetReflection();
  if (IsWrapper(d)) {
    const FieldDescriptor* arm = r->GetOneofFieldDescriptor(message, d->oneof_decl(0));
    if (arm == nullptr) return Json();
    return FieldToJson(message, arm, original, a);
  }
  Json out(rapidjson::kObjectType);
  if (!original.IsObject()) return out;
  // Every key of the original the message knows, in its order; each once.
  for (auto it = original.MemberBegin(); it != original.MemberEnd(); ++it) {
    const std::string key = it->name.GetString();
    if (out.HasMember(key.c_str())) continue;
    const Known known = Lookup(d, key);
    const Json& was = it->value;
    Json value;
    if (known.ref != nullptr) {
      const FieldDescriptor* arm = r->GetOneofFieldDescriptor(message, known.ref);
      if (arm == nullptr) {
        if (!was.IsNull()) continue;  // Lost: the projection still has it, so they differ.
      } else {
        value = FieldToJson(message, arm, was, a);
      }
    } else if (known.field != nullptr) {
      const FieldDescriptor* f = known.field;
      const bool set =
          f->is_repeated() || f->is_map() || !f->has_presence() || r->HasField(message, f);
      if (!set) {
        if (!was.IsNull()) continue;
      } else {
        value = FieldToJson(message, f, was, a);
      }
    } else {
      continue;
    }
    out.AddMember(Json(key.data(), static_cast<rapidjson::SizeType>(key.size()), a), value, a);
  }
  return out;
}

// The first path where `a` and `b` differ, for failure messages.
std::string FirstDifference(const Json& a, const Json& b, const std::string& path) {
  if (a.IsObject() && b.IsObject()) {
    for (auto it = b.MemberBegin(); it != b.MemberEnd(); ++it) {
      auto found = a.FindMember(it->name);
      const std::string child = absl::StrCat(path, ".", it->name.GetString());
      if (found == a.MemberEnd()) return child + " (missing from the typed form)";
      if (found->value != it->value) return FirstDifference(found->value, it->value, child);
    }
    for (auto it = a.MemberBegin(); it != a.MemberEnd(); ++it) {
      if (!b.HasMember(it->name)) return absl::StrCat(path, ".", it->name.GetString(), " (extra)");
    }
  }
  if (a.IsArray() && b.IsArray() && a.Size() == b.Size()) {
    for (rapidjson::SizeType i = 0; i < a.Size(); ++i) {
      if (a[i] != b[i]) return FirstDifference(a[i], b[i], absl::StrCat(path, "[", i, "]"));
    }
  }
  return absl::StrCat(path, ": typed ", ToString(a), " vs original ", ToString(b));
}

TEST(TypedRoundTrip, EveryExampleObjectComesBackFromItsTypedMessage) {
  const std::vector<std::string> files = ExampleEventFiles();
  ASSERT_GE(files.size(), 24u);
  int typed = 0;
  const EventConverter converter;
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    const std::string body = ReadExampleEvent(file);
    ASSERT_OK_AND_ASSIGN(switchboard::v1::Event event, converter.Convert(body));
    if (!event.has_data()) continue;  // The thin v2 notification.
    const switchboard::v1::EventData& data = event.data();
    ASSERT_NE(data.object_case(), switchboard::v1::EventData::OBJECT_NOT_SET)
        << "no typed message for " << data.object_kind();
    EXPECT_EQ(data.typed_misses_size(), 0) << data.typed_misses(0);
    ++typed;

    const Message& object = data.GetReflection()->GetMessage(
        data, data.GetReflection()->GetOneofFieldDescriptor(
                  data, data.GetDescriptor()->FindOneofByName("object")));
    rapidjson::Document original;
    original.Parse(body.c_str());
    ASSERT_FALSE(original.HasParseError());
    const Json& data_object = original["data"]["object"];

    rapidjson::Document scratch;
    Allocator& a = scratch.GetAllocator();
    const Json projected = Project(data_object, object.GetDescriptor(), a);
    const Json reversed = Reverse(object, data_object, a);
    EXPECT_TRUE(reversed == projected) << FirstDifference(reversed, projected, "data.object");
    // The projection is not trivially small: the model knows nearly every key of the examples.
    EXPECT_GE(projected.MemberCount(), data_object.MemberCount() - 2);
  }
  EXPECT_EQ(typed, static_cast<int>(files.size()) - 1);
}

// The property holds for shapes the examples lack: expanded references (in a plain oneof, in a
// list, and polymorphic), nulls, absent keys, non-ASCII strings and numbers near the int64 edge.
TEST(TypedRoundTrip, HandWrittenShapes) {
  const std::string body = R"({
    "id": "evt_1", "object": "event", "type": "charge.succeeded", "created": 1,
    "data": {"object": {
      "id": "ch_1", "object": "charge", "amount": 9223372036854775807, "amount_refunded": -5,
      "customer": {"id": "cus_1", "object": "customer", "email": "j\u00e9nny@example.com",
                   "metadata": {"k": "v", "": "empty key"}, "balance": -9223372036854775808,
                   "default_source": {"id": "card_1", "object": "card", "brand": "Visa"},
                   "sources": {"object": "list", "data": [
                     {"id": "ba_1", "object": "bank_account", "last4": "6789"},
                     {"id": "src_1", "object": "source", "amount": null}],
                     "has_more": false, "url": "/v1/customers/cus_1/sources"},
                   "preferred_locales": null, "deleted": true},
      "invoice": null,
      "source": {"id": "card_2", "object": "card", "exp_month": 12},
      "refunds": {"object": "list", "data": [{"id": "re_1", "object": "refund",
                  "charge": "ch_1", "amount": 5}], "has_more": true, "total_count": 2},
      "fraud_details": {}, "metadata": {},
      "outcome": {"risk_score": 0, "type": "authorized", "rule": {"id": "rule_1"}},
      "payment_method_details": {"card": {"brand": "visa", "three_d_secure": null}}
    }}})";
  ASSERT_OK_AND_ASSIGN(switchboard::v1::Event event, EventConverter().Convert(body));
  ASSERT_TRUE(event.data().has_charge());
  EXPECT_EQ(event.data().typed_misses_size(), 0) << event.data().typed_misses(0);
  rapidjson::Document original;
  original.Parse(body.c_str());
  const Json& data_object = original["data"]["object"];
  rapidjson::Document scratch;
  Allocator& a = scratch.GetAllocator();
  const Json projected = Project(data_object, event.data().charge().GetDescriptor(), a);
  const Json reversed = Reverse(event.data().charge(), data_object, a);
  EXPECT_TRUE(reversed == projected) << FirstDifference(reversed, projected, "data.object");
}

}  // namespace
}  // namespace switchboard::server::convert
