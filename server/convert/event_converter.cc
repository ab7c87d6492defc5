#include "server/convert/event_converter.h"

#include <array>
#include <cstdint>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "rapidjson/document.h"
#include "server/base/log.h"
#include "server/base/status_macros.h"
#include "server/convert/json_parse.h"
#include "server/convert/json_to_struct.h"
#include "server/convert/typed_walker.h"

namespace switchboard::server::convert {
namespace {

using JsonValue = rapidjson::Value;

// Top-level keys the converter interprets (for one kind or the other; see IsKnownFor).
enum Field : int {
  kId,
  kObject,
  kType,
  kCreated,
  kLivemode,
  kContext,
  kApiVersion,
  kAccount,
  kPendingWebhooks,
  kRequest,
  kData,
  kReason,
  kRelatedObject,
  kFieldCount,
};

constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "id",      "object",      "type",           "created",          "livemode",
    "context", "api_version", "account",        "pending_webhooks", "request",
    "data",    "reason",      "related_object",
};

constexpr std::string_view kSnapshotObject = "event";
constexpr std::string_view kThinObject = "v2.core.event";

// google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

constexpr size_t kMaxIdentifierBytes = 255;

int FieldIndex(std::string_view key) {
  for (int i = 0; i < kFieldCount; ++i) {
    if (kFieldNames[i] == key) return i;
  }
  return -1;
}

bool IsKnownFor(int field, bool thin) {
  switch (field) {
    case kId:
    case kObject:
    case kType:
    case kCreated:
    case kLivemode:
    case kContext:
      return true;
    case kApiVersion:
    case kAccount:
    case kPendingWebhooks:
    case kRequest:
    case kData:
      return !thin;
    case kReason:
    case kRelatedObject:
      return thin;
    default:
      return false;
  }
}

// REQUIRES: value.IsString().
std::string_view View(const JsonValue& value) {
  return std::string_view(value.GetString(), value.GetStringLength());
}

// The value of the last member named `name` (last wins, like the Structs), or nullptr.
// REQUIRES: object.IsObject().
const JsonValue* FindLastMember(const JsonValue& object, std::string_view name) {
  const JsonValue* found = nullptr;
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
    if (View(it->name) == name) found = &it->value;
  }
  return found;
}

// The last occurrence of each top-level key.
struct Envelope {
  std::array<const JsonValue*, kFieldCount> fields{};
  // Keys not in kFieldNames; empty (no allocation) for ordinary events.
  absl::flat_hash_map<std::string_view, const JsonValue*> others;
};

void CollectEnvelope(const JsonValue& root, Envelope* envelope) {
  for (auto it = root.MemberBegin(); it != root.MemberEnd(); ++it) {
    const std::string_view key = View(it->name);
    const int field = FieldIndex(key);
    if (field >= 0) {
      envelope->fields[field] = &it->value;
    } else {
      envelope->others[key] = &it->value;
    }
  }
}

// `id` and `type` are keys in the store, subscription filters and log lines.
absl::Status CheckIdentifier(const JsonValue* value, const char* name) {
  if (value == nullptr || !value->IsString()) {
    return absl::InvalidArgumentError(absl::StrCat("`", name, "` must be a string"));
  }
  const std::string_view text = View(*value);
  if (text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("`", name, "` must not be empty"));
  }
  if (text.size() > kMaxIdentifierBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("`", name, "` is longer than ", kMaxIdentifierBytes, " bytes"));
  }
  for (const char c : text) {
    if (absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          absl::StrCat("`", name, "` must not contain control characters"));
    }
  }
  return absl::OkStatus();
}

struct Created {
  int64_t seconds = 0;
  int32_t nanos = 0;
};

absl::Status ParseSnapshotCreated(const JsonValue* value, Created* out) {
  if (value == nullptr || !value->IsInt64()) {
    return absl::InvalidArgumentError(
        "`created` must be an integer number of seconds since the Unix epoch");
  }
  const int64_t seconds = value->GetInt64();
  if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds) {
    return absl::InvalidArgumentError("`created` is out of range");
  }
  out->seconds = seconds;
  out->nanos = 0;
  return absl::OkStatus();
}

absl::Status ParseThinCreated(const JsonValue* value, Created* out) {
  const absl::Status invalid =
      absl::InvalidArgumentError("`created` must be an RFC 3339 time for a v2.core.event");
  if (value == nullptr || !value->IsString()) return invalid;
  const std::string text(View(*value));
  // absl::ParseTime skips surrounding whitespace and accepts "infinite-future"; RFC 3339 has
  // neither (the second fails the range check below).
  if (text.empty() || absl::ascii_isspace(static_cast<unsigned char>(text.front())) ||
      absl::ascii_isspace(static_cast<unsigned char>(text.back()))) {
    return invalid;
  }
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error)) return invalid;
  if (time < absl::FromUnixSeconds(kMinTimestampSeconds) ||
      time >= absl::FromUnixSeconds(kMaxTimestampSeconds + 1)) {
    return absl::InvalidArgumentError("`created` is out of range");
  }
  // ToUnixSeconds rounds toward negative infinity, so nanos is always in [0, 1e9).
  out->seconds = absl::ToUnixSeconds(time);
  out->nanos =
      static_cast<int32_t>((time - absl::FromUnixSeconds(out->seconds)) / absl::Nanoseconds(1));
  return absl::OkStatus();
}

void ClearOwnedFields(switchboard::v1::Event* out) {
  out->clear_id();
  out->clear_type();
  out->clear_object();
  out->clear_api_version();
  out->clear_created();
  out->clear_livemode();
  out->clear_account();
  out->clear_context();
  out->clear_pending_webhooks();
  out->clear_request();
  out->clear_data();
  out->clear_thin();
  out->clear_null_fields();
  out->clear_unknown_fields();
  out->clear_raw_json();
}

void ConvertRequest(const JsonValue& value, switchboard::v1::Event* out) {
  if (value.IsString()) {  // API versions before 2017-05-25: the request id, or null.
    out->mutable_request()->set_id(value.GetString(), value.GetStringLength());
  } else if (value.IsObject()) {
    switchboard::v1::EventRequest* request = out->mutable_request();
    const JsonValue* id = FindLastMember(value, "id");
    if (id != nullptr && id->IsString()) request->set_id(id->GetString(), id->GetStringLength());
    const JsonValue* key = FindLastMember(value, "idempotency_key");
    if (key != nullptr && key->IsString()) {
      request->set_idempotency_key(key->GetString(), key->GetStringLength());
    }
  }
}

void ConvertData(const JsonValue& data, const JsonValue& data_object, bool fill_typed,
                 switchboard::v1::EventData* out) {
  google::protobuf::Struct* object_struct = out->mutable_object_struct();
  internal::JsonObjectToStruct(data_object, object_struct);
  // Read back from the Struct so duplicate keys resolve the same way (last wins).
  const auto& fields = object_struct->fields();
  if (auto it = fields.find("object");
      it != fields.end() && it->second.kind_case() == google::protobuf::Value::kStringValue) {
    out->set_object_kind(it->second.string_value());
  }
  if (auto it = fields.find("id");
      it != fields.end() && it->second.kind_case() == google::protobuf::Value::kStringValue) {
    out->set_object_id(it->second.string_value());
  }
  // The typed `oneof object`, chosen by the object's own kind (not the event type). A value
  // that does not fit is recorded in typed_misses and never rejects the event (DESIGN.md §1.3).
  if (fill_typed) {
    const internal::TypedWalker& walker = internal::TypedWalker::Get();
    if (const google::protobuf::FieldDescriptor* arm = walker.ArmForKind(out->object_kind())) {
      walker.Fill(data_object, out->GetReflection()->MutableMessage(out, arm),
                  out->mutable_typed_misses());
    }
  }

  const JsonValue* previous = FindLastMember(data, "previous_attributes");
  if (previous != nullptr && previous->IsObject()) {
    internal::JsonObjectToStruct(*previous, out->mutable_previous_attributes());
  }
}

void ConvertRelatedObject(const JsonValue& value, switchboard::v1::ThinEvent* out) {
  if (!value.IsObject()) return;
  switchboard::v1::ThinEvent::RelatedObject* related = out->mutable_related_object();
  if (const JsonValue* id = FindLastMember(value, "id"); id != nullptr && id->IsString()) {
    related->set_id(id->GetString(), id->GetStringLength());
  }
  if (const JsonValue* type = FindLastMember(value, "type"); type != nullptr && type->IsString()) {
    related->set_type(type->GetString(), type->GetStringLength());
  }
  if (const JsonValue* url = FindLastMember(value, "url"); url != nullptr && url->IsString()) {
    related->set_url(url->GetString(), url->GetStringLength());
  }
}

// An event that passed every check that can reject it (the file comment of the header).
struct CheckedEvent {
  Envelope envelope;
  bool thin = false;
  Created created;
  const JsonValue* data_object = nullptr;  // snapshot events only
};

// Everything that can reject an event, shared by Convert and Inspect so they accept exactly the
// same bodies. Runs before anything is written to the caller's output.
absl::Status CheckEvent(const JsonValue& root, CheckedEvent* out) {
  if (!root.IsObject()) return absl::InvalidArgumentError("body is not a JSON object");
  CollectEnvelope(root, &out->envelope);
  const auto& fields = out->envelope.fields;
  const JsonValue* object = fields[kObject];
  if (object != nullptr && object->IsString() && View(*object) == kSnapshotObject) {
    out->thin = false;
  } else if (object != nullptr && object->IsString() && View(*object) == kThinObject) {
    out->thin = true;
  } else {
    return absl::InvalidArgumentError(R"(`object` must be "event" or "v2.core.event")");
  }
  RETURN_IF_ERROR(CheckIdentifier(fields[kId], "id"));
  RETURN_IF_ERROR(CheckIdentifier(fields[kType], "type"));
  RETURN_IF_ERROR(out->thin ? ParseThinCreated(fields[kCreated], &out->created)
                            : ParseSnapshotCreated(fields[kCreated], &out->created));
  if (!out->thin) {
    const JsonValue* data = fields[kData];
    if (data != nullptr && data->IsObject()) out->data_object = FindLastMember(*data, "object");
    if (out->data_object == nullptr || !out->data_object->IsObject()) {
      return absl::InvalidArgumentError("`data.object` must be a JSON object");
    }
  }
  return absl::OkStatus();
}

// The string value of the last member `name` of `object` when both are what they should be.
std::string_view StringMember(const JsonValue* object, std::string_view name) {
  if (object == nullptr || !object->IsObject()) return {};
  const JsonValue* value = FindLastMember(*object, name);
  return value != nullptr && value->IsString() ? View(*value) : std::string_view();
}

}  // namespace

EventConverter::EventConverter() : EventConverter(Options()) {}

EventConverter::EventConverter(const Options& options) : options_(options) {
  if (options_.max_depth < kMinDepth || options_.max_depth > kMaxDepth) {
    SB_LOG(FATAL) << "event_converter_bad_options max_depth=" << options_.max_depth
                  << " valid_range=[" << kMinDepth << "," << kMaxDepth << "]";
  }
  // Plans the typed messages now rather than on the first request.
  if (options_.fill_typed) internal::TypedWalker::Get();
}

absl::Status EventConverter::Inspect(absl::string_view raw_body, EventEnvelope* out) const {
  internal::ParsedJson parsed;
  internal::ParseOptions parse_options;
  parse_options.max_depth = options_.max_depth;
  RETURN_IF_ERROR(internal::ParseJson(raw_body, parse_options, &parsed));
  CheckedEvent checked;
  RETURN_IF_ERROR(CheckEvent(parsed.root(), &checked));
  const auto& fields = checked.envelope.fields;
  out->id = View(*fields[kId]);
  out->type = View(*fields[kType]);
  out->created =
      absl::FromUnixSeconds(checked.created.seconds) + absl::Nanoseconds(checked.created.nanos);
  const JsonValue* livemode = fields[kLivemode];
  out->livemode = livemode != nullptr && livemode->IsBool() && livemode->GetBool();
  // Convert's rules: `account` counts for snapshot events only, as a string.
  const JsonValue* account = checked.thin ? nullptr : fields[kAccount];
  const JsonValue* context = fields[kContext];
  if (account != nullptr && account->IsString()) {
    out->account = View(*account);
  } else if (context != nullptr && context->IsString()) {
    out->account = View(*context);
  } else {
    out->account.clear();
  }
  out->object_id = checked.thin ? StringMember(fields[kRelatedObject], "id")
                                : StringMember(checked.data_object, "id");
  return absl::OkStatus();
}

absl::Status EventConverter::Convert(absl::string_view raw_body,
                                     switchboard::v1::Event* out) const {
  internal::ParsedJson parsed;
  internal::ParseOptions parse_options;
  parse_options.max_depth = options_.max_depth;
  RETURN_IF_ERROR(internal::ParseJson(raw_body, parse_options, &parsed));
  const JsonValue& root = parsed.root();
  CheckedEvent checked;
  RETURN_IF_ERROR(CheckEvent(root, &checked));
  const Envelope& envelope = checked.envelope;
  const bool thin = checked.thin;
  const Created& created = checked.created;
  const JsonValue* object = envelope.fields[kObject];
  const JsonValue* data_object = checked.data_object;

  ClearOwnedFields(out);
  const JsonValue& id = *envelope.fields[kId];
  const JsonValue& type = *envelope.fields[kType];
  out->set_id(id.GetString(), id.GetStringLength());
  out->set_type(type.GetString(), type.GetStringLength());
  out->set_object(object->GetString(), object->GetStringLength());
  out->mutable_created()->set_seconds(created.seconds);
  out->mutable_created()->set_nanos(created.nanos);
  switchboard::v1::ThinEvent* thin_out = thin ? out->mutable_thin() : nullptr;

  // Document order, so null_fields and unknown_fields come out in the order the sender wrote.
  for (auto it = root.MemberBegin(); it != root.MemberEnd(); ++it) {
    const std::string_view key = View(it->name);
    const JsonValue& value = it->value;
    const int field = FieldIndex(key);
    const bool last =
        field >= 0 ? envelope.fields[field] == &value : envelope.others.find(key)->second == &value;
    if (!last) continue;  // A duplicate key: only its last occurrence counts.
    if (value.IsNull()) out->add_null_fields(key.data(), key.size());
    if (field < 0 || !IsKnownFor(field, thin)) {
      internal::JsonToValue(value, &(*out->mutable_unknown_fields()->mutable_fields())[key]);
      continue;
    }
    switch (field) {
      case kLivemode:
        if (value.IsBool()) out->set_livemode(value.GetBool());
        break;
      case kContext:
        if (value.IsString()) out->set_context(value.GetString(), value.GetStringLength());
        break;
      case kApiVersion:
        if (value.IsString()) out->set_api_version(value.GetString(), value.GetStringLength());
        break;
      case kAccount:
        if (value.IsString()) out->set_account(value.GetString(), value.GetStringLength());
        break;
      case kPendingWebhooks:
        if (value.IsInt64()) out->set_pending_webhooks(value.GetInt64());
        break;
      case kRequest:
        ConvertRequest(value, out);
        break;
      case kData:
        ConvertData(value, *data_object, options_.fill_typed, out->mutable_data());
        break;
      case kReason:
        if (value.IsObject()) internal::JsonObjectToStruct(value, thin_out->mutable_reason());
        break;
      case kRelatedObject:
        ConvertRelatedObject(value, thin_out);
        break;
      default:  // id, object, type, created: set above.
        break;
    }
  }
  out->set_raw_json(raw_body.data(), raw_body.size());
  return absl::OkStatus();
}

absl::StatusOr<switchboard::v1::Event> EventConverter::Convert(absl::string_view raw_body) const {
  switchboard::v1::Event event;
  RETURN_IF_ERROR(Convert(raw_body, &event));
  return event;
}

}  // namespace switchboard::server::convert
