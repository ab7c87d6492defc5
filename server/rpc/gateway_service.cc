#include "server/rpc/gateway_service.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "server/rpc/status_convert.h"

namespace switchboard::server::rpc {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

google::protobuf::Timestamp ToProto(absl::Time t) {
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

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

}  // namespace

absl::Status GatewayService::ToEvent(const store::EventRecord& record, bool omit_raw_json,
                                     switchboard::v1::Event* out) const {
  if (absl::Status s = deps_.converter->Convert(record.raw_json, out); !s.ok()) {
    return absl::DataLossError(
        absl::StrCat("stored event ", record.id, " no longer converts: ", s.message()));
  }
  *out->mutable_received_at() = ToProto(record.received_at);
  out->set_endpoint(record.endpoint);
  out->set_sequence(record.sequence);
  if (omit_raw_json) out->clear_raw_json();
  return absl::OkStatus();
}

grpc::Status GatewayService::GetEvent(grpc::ServerContext*,
                                      const switchboard::v1::GetEventRequest* request,
                                      switchboard::v1::Event* response) {
  if (request->id().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "id is required");
  }
  absl::StatusOr<store::EventRecord> record = deps_.store->Get(request->id());
  if (!record.ok()) return ToGrpcStatus(record.status());
  return ToGrpcStatus(ToEvent(*record, /*omit_raw_json=*/false, response));
}

grpc::Status GatewayService::ListEvents(grpc::ServerContext*,
                                        const switchboard::v1::ListEventsRequest* request,
                                        switchboard::v1::ListEventsResponse* response) {
  store::EventQuery query;
  query.types.assign(request->types().begin(), request->types().end());
  if (request->has_created_after()) query.created_after = FromProto(request->created_after());
  if (request->has_created_before()) query.created_before = FromProto(request->created_before());
  if (request->page_size() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_size must not be negative");
  }
  query.limit = request->page_size() == 0 ? kDefaultPageSize
                                          : std::min(request->page_size(), kMaxPageSize);
  if (!request->page_token().empty() &&
      (!absl::SimpleAtoi(request->page_token(), &query.after_sequence) ||
       query.after_sequence < 0)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "invalid page_token");
  }
  query.omit_raw_json = false;  // conversion needs the bytes; dropped below when asked
  absl::StatusOr<std::vector<store::EventRecord>> records = deps_.store->List(query);
  if (!records.ok()) return ToGrpcStatus(records.status());
  for (const store::EventRecord& record : *records) {
    if (absl::Status s = ToEvent(record, request->omit_raw_json(), response->add_events());
        !s.ok()) {
      return ToGrpcStatus(s);
    }
  }
  if (static_cast<int>(records->size()) == query.limit) {
    response->set_next_page_token(absl::StrCat(records->back().sequence));
  }
  return grpc::Status::OK;
}

grpc::Status GatewayService::GetStats(grpc::ServerContext*, const switchboard::v1::GetStatsRequest*,
                                      switchboard::v1::Stats* response) {
  absl::StatusOr<store::StoreStats> stats = deps_.store->Stats();
  if (!stats.ok()) return ToGrpcStatus(stats.status());
  response->set_events_stored(stats->events);
  if (stats->oldest_received_at) {
    *response->mutable_oldest_received_at() = ToProto(*stats->oldest_received_at);
  }
  if (stats->newest_received_at) {
    *response->mutable_newest_received_at() = ToProto(*stats->newest_received_at);
  }
  *response->mutable_started_at() = ToProto(deps_.started_at);
  if (deps_.request_counts) {
    for (const auto& [outcome, count] : deps_.request_counts()) {
      (*response->mutable_requests())[outcome] = count;
    }
  }
  return grpc::Status::OK;
}

}  // namespace switchboard::server::rpc
