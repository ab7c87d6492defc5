// Conversions between the store's plain records and the protobuf forms the gRPC APIs carry:
// absl::Time <-> google.protobuf.Timestamp, absl::Duration <-> google.protobuf.Duration, and a
// stored EventRecord -> switchboard.v1.Event (derived again from its raw JSON, as the store keeps
// each event's bytes once, plus the store's own columns). Shared by the dispatcher (each
// delivery) and the Gateway service (GetEvent, ListEvents).
//
// Example:
//   switchboard::v1::Event event;
//   RETURN_IF_ERROR(RecordToEvent(converter, record, &event));
//
// Thread-safety: free functions without state.
#ifndef SWITCHBOARD_SERVER_DISPATCH_EVENT_PROTO_H_
#define SWITCHBOARD_SERVER_DISPATCH_EVENT_PROTO_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "protos/switchboard/v1/event.pb.h"
#include "server/convert/event_converter.h"
#include "server/store/event_store.h"

namespace switchboard::server::dispatch {

google::protobuf::Timestamp ToProtoTime(absl::Time t);
absl::Time FromProtoTime(const google::protobuf::Timestamp& t);
google::protobuf::Duration ToProtoDuration(absl::Duration d);
// Saturates instead of overflowing for out-of-range (untrusted) values.
absl::Duration FromProtoDuration(const google::protobuf::Duration& d);

// The protobuf form of a stored event: the converter's output for record.raw_json, with
// received_at, endpoint and sequence from the record. kDataLoss when the raw JSON no longer
// converts (the store only holds bodies that converted on the way in, so it was corrupted).
// REQUIRES: out != nullptr.
absl::Status RecordToEvent(const convert::EventConverter& converter,
                           const store::EventRecord& record, switchboard::v1::Event* out);

// RecordToEvent, serialized: what a Delivery carries in its `event` field. Converts into an
// arena (markedly cheaper than heap messages) and serializes once; the result is immutable so
// every subscription and attempt sending this event can share it. kDataLoss as RecordToEvent.
// `typed_misses` (optional) receives the number of EventData.typed_misses.
absl::StatusOr<std::shared_ptr<const std::string>> EncodeEvent(
    const convert::EventConverter& converter, const store::EventRecord& record,
    int* typed_misses = nullptr);

}  // namespace switchboard::server::dispatch

#endif  // SWITCHBOARD_SERVER_DISPATCH_EVENT_PROTO_H_
