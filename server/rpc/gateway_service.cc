#include "server/rpc/gateway_service.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "openssl/crypto.h"
#include "server/dispatch/event_proto.h"
#include "server/dispatch/subscription_spec.h"
#include "server/rpc/status_convert.h"

namespace switchboard::server::rpc {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

using dispatch::FromProtoTime;
using dispatch::ToProtoTime;

grpc::Status NoDispatcher() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "event delivery is not running");
}

}  // namespace

grpc::Status GatewayService::Authorize(const grpc::ServerContext* context) const {
  if (deps_.tokens.empty()) return grpc::Status::OK;
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end()) {
    const absl::string_view value(it->second.data(), it->second.size());
    constexpr absl::string_view kBearer = "Bearer ";
    if (absl::StartsWith(value, kBearer)) {
      const absl::string_view presented = value.substr(kBearer.size());
      for (const std::string& token : deps_.tokens) {
        // Constant time for equal lengths; the length itself is not secret enough to matter.
        if (token.size() == presented.size() &&
            CRYPTO_memcmp(token.data(), presented.data(), token.size()) == 0) {
          return grpc::Status::OK;
        }
      }
    }
  }
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      "a valid \"authorization: Bearer <token>\" is required");
}

absl::Status GatewayService::ToEvent(const store::EventRecord& record, bool omit_raw_json,
                                     switchboard::v1::Event* out) const {
  if (absl::Status s = dispatch::RecordToEvent(*deps_.converter, record, out); !s.ok()) return s;
  if (omit_raw_json) out->clear_raw_json();
  return absl::OkStatus();
}

grpc::Status GatewayService::GetEvent(grpc::ServerContext* context,
                                      const switchboard::v1::GetEventRequest* request,
                                      switchboard::v1::Event* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  if (request->id().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "id is required");
  }
  absl::StatusOr<store::EventRecord> record = deps_.store->Get(request->id());
  if (!record.ok()) return ToGrpcStatus(record.status());
  return ToGrpcStatus(ToEvent(*record, /*omit_raw_json=*/false, response));
}

grpc::Status GatewayService::ListEvents(grpc::ServerContext* context,
                                        const switchboard::v1::ListEventsRequest* request,
                                        switchboard::v1::ListEventsResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  store::EventQuery query;
  // A pattern the store cannot match (`*.paid`) would list nothing, which reads as "no events".
  for (const std::string& type : request->types()) {
    if (absl::Status s = dispatch::ValidateEventTypePattern(type); !s.ok()) return ToGrpcStatus(s);
  }
  query.types.assign(request->types().begin(), request->types().end());
  if (request->has_created_after()) query.created_after = FromProtoTime(request->created_after());
  if (request->has_created_before())
    query.created_before = FromProtoTime(request->created_before());
  if (request->page_size() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_size must not be negative");
  }
  query.limit =
      request->page_size() == 0 ? kDefaultPageSize : std::min(request->page_size(), kMaxPageSize);
  if (!request->page_token().empty() &&
      (!absl::SimpleAtoi(request->page_token(), &query.after_sequence) ||
       query.after_sequence < 0)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "invalid page_token");
  }
  query.omit_raw_json = false;  // conversion needs the bytes; dropped below when asked
  absl::StatusOr<std::vector<store::EventRecord>> records = deps_.store->List(query);
  if (!records.ok()) return ToGrpcStatus(records.status());
  int64_t page_bytes = 0;
  for (const store::EventRecord& record : *records) {
    switchboard::v1::Event* event = response->add_events();
    if (absl::Status s = ToEvent(record, request->omit_raw_json(), event); !s.ok()) {
      return ToGrpcStatus(s);
    }
    page_bytes += static_cast<int64_t>(event->ByteSizeLong());
    if (page_bytes > deps_.max_page_bytes && response->events_size() > 1) {
      // Full: this one starts the next page.
      response->mutable_events()->RemoveLast();
      response->set_next_page_token(
          absl::StrCat(response->events(response->events_size() - 1).sequence()));
      return grpc::Status::OK;
    }
  }
  if (static_cast<int>(records->size()) == query.limit) {
    response->set_next_page_token(absl::StrCat(records->back().sequence));
  }
  return grpc::Status::OK;
}

grpc::Status GatewayService::GetStats(grpc::ServerContext* context,
                                      const switchboard::v1::GetStatsRequest*,
                                      switchboard::v1::Stats* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  absl::StatusOr<store::StoreStats> stats = deps_.store->Stats();
  if (!stats.ok()) return ToGrpcStatus(stats.status());
  response->set_events_stored(stats->events);
  if (stats->oldest_received_at) {
    *response->mutable_oldest_received_at() = ToProtoTime(*stats->oldest_received_at);
  }
  if (stats->newest_received_at) {
    *response->mutable_newest_received_at() = ToProtoTime(*stats->newest_received_at);
  }
  *response->mutable_started_at() = ToProtoTime(deps_.started_at);
  if (deps_.request_counts) {
    for (const auto& [outcome, count] : deps_.request_counts()) {
      (*response->mutable_requests())[outcome] = count;
    }
  }
  return grpc::Status::OK;
}

grpc::Status GatewayService::Subscribe(grpc::ServerContext* context,
                                       const switchboard::v1::SubscribeRequest* request,
                                       switchboard::v1::Subscription* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  if (deps_.dispatcher == nullptr) return NoDispatcher();
  absl::StatusOr<switchboard::v1::Subscription> s = deps_.dispatcher->Subscribe(
      request->subscription(), request->member_address(),
      request->add_event_types() ? dispatch::EventTypesUpdate::kAdd
                                 : dispatch::EventTypesUpdate::kReplace);
  if (!s.ok()) return ToGrpcStatus(s.status());
  *response = *std::move(s);
  return grpc::Status::OK;
}

grpc::Status GatewayService::Unsubscribe(grpc::ServerContext* context,
                                         const switchboard::v1::UnsubscribeRequest* request,
                                         switchboard::v1::UnsubscribeResponse*) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  if (deps_.dispatcher == nullptr) return NoDispatcher();
  if (request->name().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "name is required");
  }
  return ToGrpcStatus(deps_.dispatcher->Unsubscribe(request->name(), request->member_address()));
}

grpc::Status GatewayService::ListSubscriptions(
    grpc::ServerContext* context, const switchboard::v1::ListSubscriptionsRequest*,
    switchboard::v1::ListSubscriptionsResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  if (deps_.dispatcher == nullptr) return NoDispatcher();
  absl::StatusOr<std::vector<switchboard::v1::Subscription>> subs =
      deps_.dispatcher->ListSubscriptions();
  if (!subs.ok()) return ToGrpcStatus(subs.status());
  for (switchboard::v1::Subscription& s : *subs) *response->add_subscriptions() = std::move(s);
  return grpc::Status::OK;
}

grpc::Status GatewayService::Replay(grpc::ServerContext* context,
                                    const switchboard::v1::ReplayRequest* request,
                                    switchboard::v1::ReplayResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  if (deps_.dispatcher == nullptr) return NoDispatcher();
  dispatch::Dispatcher::ReplayRequest replay;
  replay.subscription = request->subscription();
  replay.event_ids.assign(request->event_ids().begin(), request->event_ids().end());
  replay.types.assign(request->types().begin(), request->types().end());
  if (request->has_created_after()) replay.created_after = FromProtoTime(request->created_after());
  if (request->has_created_before()) {
    replay.created_before = FromProtoTime(request->created_before());
  }
  if (replay.event_ids.empty() && replay.types.empty() && !request->has_created_after() &&
      !request->has_created_before()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "give event_ids, or types and/or a created range");
  }
  absl::StatusOr<int64_t> n = deps_.dispatcher->Replay(replay);
  if (!n.ok()) return ToGrpcStatus(n.status());
  response->set_scheduled(*n);
  return grpc::Status::OK;
}

grpc::Status GatewayService::ListDeadLetters(grpc::ServerContext* context,
                                             const switchboard::v1::ListDeadLettersRequest* request,
                                             switchboard::v1::ListDeadLettersResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  if (deps_.dispatcher == nullptr) return NoDispatcher();
  if (request->subscription().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "subscription is required");
  }
  if (request->page_size() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_size must not be negative");
  }
  const int limit =
      request->page_size() == 0 ? kDefaultPageSize : std::min(request->page_size(), kMaxPageSize);
  int64_t after = 0;
  if (!request->page_token().empty() &&
      (!absl::SimpleAtoi(request->page_token(), &after) || after < 0)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "invalid page_token");
  }
  absl::StatusOr<std::vector<store::DeadLetterRecord>> dead =
      deps_.dispatcher->ListDeadLetters(request->subscription(), after, limit);
  if (!dead.ok()) return ToGrpcStatus(dead.status());
  for (const store::DeadLetterRecord& d : *dead) {
    switchboard::v1::DeadLetter* out = response->add_dead_letters();
    out->set_subscription(d.subscription);
    out->set_event_id(d.event_id);
    out->set_event_type(d.event_type);
    out->set_sequence(d.sequence);
    out->set_attempts(d.attempts);
    out->set_last_error(d.last_error);
    *out->mutable_dead_at() = ToProtoTime(d.dead_at);
  }
  if (static_cast<int>(dead->size()) == limit) {
    response->set_next_page_token(absl::StrCat(dead->back().sequence));
  }
  return grpc::Status::OK;
}

grpc::Status GatewayService::Redrive(grpc::ServerContext* context,
                                     const switchboard::v1::RedriveRequest* request,
                                     switchboard::v1::RedriveResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  if (deps_.dispatcher == nullptr) return NoDispatcher();
  if (request->subscription().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "subscription is required");
  }
  absl::StatusOr<int64_t> n = deps_.dispatcher->Redrive(
      request->subscription(), {request->event_ids().begin(), request->event_ids().end()});
  if (!n.ok()) return ToGrpcStatus(n.status());
  response->set_redriven(*n);
  return grpc::Status::OK;
}

grpc::Status GatewayService::DiscardDeadLetters(
    grpc::ServerContext* context, const switchboard::v1::DiscardDeadLettersRequest* request,
    switchboard::v1::DiscardDeadLettersResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  if (deps_.dispatcher == nullptr) return NoDispatcher();
  if (request->subscription().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "subscription is required");
  }
  absl::StatusOr<int64_t> n = deps_.dispatcher->DiscardDeadLetters(
      request->subscription(), {request->event_ids().begin(), request->event_ids().end()});
  if (!n.ok()) return ToGrpcStatus(n.status());
  response->set_discarded(*n);
  return grpc::Status::OK;
}

}  // namespace switchboard::server::rpc
