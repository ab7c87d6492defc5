// GatewayService: the switchboard.v1.Gateway gRPC API (protos/switchboard/v1/gateway.proto).
//
// Reads go to the EventStore; each stored event's protobuf form is derived again from its raw
// JSON by the EventConverter (the store keeps the bytes once), then the store's own columns
// (sequence, received_at, endpoint) are filled in. Subscription calls (Subscribe, Unsubscribe,
// ListSubscriptions, Replay, ListDeadLetters, Redrive, DiscardDeadLetters) are thin translations
// to the dispatch::Dispatcher, which validates and owns the delivery state; absl::Status becomes
// grpc::Status here and nowhere else (status_convert.h). docs/GATEWAY_API.md lists every call.
//
// Uses gRPC's synchronous API: every method is a short unary call, and the sync server's thread
// pool is the simplest correct choice for that.
//
// Example:
//   GatewayService gateway({.store = store, .converter = &converter, .dispatcher = d, ...});
//   builder.RegisterService(&gateway);
//
// Thread-safety: all methods may run concurrently (the store, converter and dispatcher are
// thread-safe).
#ifndef SWITCHBOARD_SERVER_RPC_GATEWAY_SERVICE_H_
#define SWITCHBOARD_SERVER_RPC_GATEWAY_SERVICE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "protos/switchboard/v1/gateway.grpc.pb.h"
#include "server/convert/event_converter.h"
#include "server/dispatch/dispatcher.h"
#include "server/store/event_store.h"

namespace switchboard::server::rpc {

class GatewayService final : public switchboard::v1::Gateway::Service {
 public:
  struct Deps {
    store::EventStore* store = nullptr;                  // must outlive the service
    const convert::EventConverter* converter = nullptr;  // must outlive the service
    // Request outcome counts since start (for GetStats); may be empty.
    std::function<std::map<std::string, int64_t>()> request_counts;
    absl::Time started_at;
    // Must outlive the service; null makes the subscription calls answer UNAVAILABLE.
    dispatch::Dispatcher* dispatcher = nullptr;
    // When non-empty, every call needs metadata "authorization: Bearer <one of these>"
    // (several during a rotation); UNAUTHENTICATED otherwise.
    std::vector<std::string> tokens;
    // A ListEvents page ends early once its events reach this many bytes, so it fits a
    // client's default 4 MiB receive limit (an event is about three times its JSON once
    // converted); its first event is always included.
    int64_t max_page_bytes = 3 << 20;
  };
  explicit GatewayService(Deps deps) : deps_(std::move(deps)) {}

  grpc::Status GetEvent(grpc::ServerContext* context,
                        const switchboard::v1::GetEventRequest* request,
                        switchboard::v1::Event* response) override;
  grpc::Status ListEvents(grpc::ServerContext* context,
                          const switchboard::v1::ListEventsRequest* request,
                          switchboard::v1::ListEventsResponse* response) override;
  grpc::Status GetStats(grpc::ServerContext* context,
                        const switchboard::v1::GetStatsRequest* request,
                        switchboard::v1::Stats* response) override;
  grpc::Status Subscribe(grpc::ServerContext* context,
                         const switchboard::v1::SubscribeRequest* request,
                         switchboard::v1::Subscription* response) override;
  grpc::Status Unsubscribe(grpc::ServerContext* context,
                           const switchboard::v1::UnsubscribeRequest* request,
                           switchboard::v1::UnsubscribeResponse* response) override;
  grpc::Status ListSubscriptions(grpc::ServerContext* context,
                                 const switchboard::v1::ListSubscriptionsRequest* request,
                                 switchboard::v1::ListSubscriptionsResponse* response) override;
  grpc::Status Replay(grpc::ServerContext* context, const switchboard::v1::ReplayRequest* request,
                      switchboard::v1::ReplayResponse* response) override;
  grpc::Status ListDeadLetters(grpc::ServerContext* context,
                               const switchboard::v1::ListDeadLettersRequest* request,
                               switchboard::v1::ListDeadLettersResponse* response) override;
  grpc::Status Redrive(grpc::ServerContext* context, const switchboard::v1::RedriveRequest* request,
                       switchboard::v1::RedriveResponse* response) override;
  grpc::Status DiscardDeadLetters(grpc::ServerContext* context,
                                  const switchboard::v1::DiscardDeadLettersRequest* request,
                                  switchboard::v1::DiscardDeadLettersResponse* response) override;

  // The protobuf form of a stored record. kDataLoss if its raw JSON no longer converts (which
  // would mean the store was corrupted: it only holds bodies that converted on the way in).
  absl::Status ToEvent(const store::EventRecord& record, bool omit_raw_json,
                       switchboard::v1::Event* out) const;

 private:
  // OK when no token is configured or the call presents one of them.
  grpc::Status Authorize(const grpc::ServerContext* context) const;

  Deps deps_;
};

}  // namespace switchboard::server::rpc

#endif  // SWITCHBOARD_SERVER_RPC_GATEWAY_SERVICE_H_
