#include "sdk/internal/typed_payload.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "protos/stripe/v1/event_types.h"

namespace switchboard::sdk::internal {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::OneofDescriptor;

const OneofDescriptor* EventPayloadOneof() {
  return switchboard::v1::EventData::descriptor()->FindOneofByName("object");
}

const FieldDescriptor* PayloadField(const OneofDescriptor* oneof, const Descriptor* type) {
  if (oneof == nullptr || type == nullptr) return nullptr;
  for (int i = 0; i < oneof->field_count(); ++i) {
    const FieldDescriptor* field = oneof->field(i);
    if (field->message_type() == type) return field;
  }
  return nullptr;
}

const Message* FindPayload(const Message& container, const OneofDescriptor* oneof,
                           const Descriptor* type) {
  if (oneof == nullptr) return nullptr;
  const FieldDescriptor* set = container.GetReflection()->GetOneofFieldDescriptor(container, oneof);
  if (set == nullptr || set->message_type() != type) return nullptr;
  return &container.GetReflection()->GetMessage(container, set);
}

std::string DescribePayload(const Message& container, const OneofDescriptor* oneof) {
  if (oneof == nullptr) return "nothing";
  const FieldDescriptor* set = container.GetReflection()->GetOneofFieldDescriptor(container, oneof);
  if (set == nullptr) return "nothing";
  return set->message_type() != nullptr ? set->message_type()->full_name() : set->full_name();
}

absl::Status CheckTypedRegistration(absl::string_view pattern, const Descriptor* type) {
  const OneofDescriptor* oneof = EventPayloadOneof();
  if (PayloadField(oneof, type) == nullptr) {
    std::vector<std::string> known;
    for (int i = 0; oneof != nullptr && i < oneof->field_count(); ++i) {
      if (oneof->field(i)->message_type() != nullptr) {
        known.push_back(oneof->field(i)->message_type()->full_name());
      }
    }
    return absl::InvalidArgumentError(absl::StrCat(
        type->full_name(), " is not a typed payload of switchboard.v1.EventData (typed payloads: ",
        known.empty() ? "none in this build" : absl::StrJoin(known, ", "), ")"));
  }
  // Every event type the pattern matches must carry a `type` (`charge.*` also matches
  // charge.dispute.* and charge.refund.updated, which carry a Dispute and a Refund).
  return stripe::v1::CheckTypedRegistration(pattern, type);
}

}  // namespace switchboard::sdk::internal
