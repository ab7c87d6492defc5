#include "server/dispatch/event_proto.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "google/protobuf/arena.h"

namespace switchboard::server::dispatch {

google::protobuf::Timestamp ToProtoTime(absl::Time t) {
  google::protobuf::Timestamp out;
  const int64_t nanos = absl::ToUnixNanos(t);
  out.set_seconds(nanos / 1000000000);
  out.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  if (out.nanos() < 0) {
    out.set_seconds(out.seconds() - 1);
    out.set_nanos(out.nanos() + 1000000000);
  }
  return out;
}

absl::Time FromProtoTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out.set_seconds(nanos / 1000000000);
  out.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return out;
}

absl::Duration FromProtoDuration(const google::protobuf::Duration& d) {
  // absl::Duration saturates to +/-InfiniteDuration on overflow.
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::Status RecordToEvent(const convert::EventConverter& converter,
                           const store::EventRecord& record, switchboard::v1::Event* out) {
  if (absl::Status s = converter.Convert(record.raw_json, out); !s.ok()) {
    return absl::DataLossError(
        absl::StrCat("stored event ", record.id, " no longer converts: ", s.message()));
  }
  *out->mutable_received_at() = ToProtoTime(record.received_at);
  out->set_endpoint(record.endpoint);
  out->set_sequence(record.sequence);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const std::string>> EncodeEvent(
    const convert::EventConverter& converter, const store::EventRecord& record, int* typed_misses) {
  google::protobuf::ArenaOptions arena_options;
  // One typical converted event fits the first block: no growth in the common case.
  arena_options.start_block_size = 16 << 10;
  arena_options.max_block_size = 256 << 10;
  google::protobuf::Arena arena(arena_options);
  auto* event = google::protobuf::Arena::CreateMessage<switchboard::v1::Event>(&arena);
  if (absl::Status s = RecordToEvent(converter, record, event); !s.ok()) return s;
  if (typed_misses != nullptr) *typed_misses = event->data().typed_misses_size();
  auto out = std::make_shared<std::string>();
  if (!event->SerializeToString(out.get())) {
    return absl::DataLossError(absl::StrCat("stored event ", record.id, " does not serialize"));
  }
  return std::shared_ptr<const std::string>(std::move(out));
}

}  // namespace switchboard::server::dispatch
