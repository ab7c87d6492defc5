// Fuzz target: the Gateway API (server/rpc/gateway_service.h) called in process, as gRPC's sync
// server would call it after decoding a request, over a small pre-filled in-memory store and a
// Dispatcher (not started: the harness drives it, as the dispatcher's tests do, with a
// FakeClock and a FakeHandlerConnection playing the handler).
//
// Each input gets a fresh gateway: 6 stored events; a static subscription "static_all" (`*`,
// member h2:1, never connected); a dynamic subscription "sub_a" (`*`, from the beginning,
// member h1:1, connected) that was sent all 6 and REJECTed evt_1 and evt_3 (its dead letters)
// and acked the rest.
//
// Input: up to 8 calls, each  [selector: 1 byte][length: 2 bytes, little endian][request]
// (the last call takes what is left when the length runs past the end).
//   selector % 10: GetEvent, ListEvents, GetStats, Subscribe, Unsubscribe, ListSubscriptions,
//                  Replay, ListDeadLetters, Redrive, DiscardDeadLetters;
//   (selector / 16) % 4: how h1:1 answers what the dispatcher sends after the call (nothing,
//                  OK, RETRY, REJECT);
//   selector & 0x40: the clock moves on an hour before that (retries fall due).
// A request that does not parse as the method's request message is skipped (gRPC would answer
// INTERNAL without calling the method).
//
// Invariants (abort when broken): no crash; every call returns within kMaxCallTime (bounded
// work, whatever page_size or id list it names); every response is at most 4 MiB (a client's
// default receive limit) and a page at most 1000 entries; no INTERNAL, UNKNOWN or DATA_LOSS
// (a request may be refused, but over a sound store the server never fails); error messages
// at most 64 KiB.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/stubs/logging.h"
#include "grpcpp/server_context.h"
#include "protos/switchboard/v1/gateway.pb.h"
#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/convert/event_converter.h"
#include "server/dispatch/dispatcher.h"
#include "server/dispatch/fake_handler_connection.h"
#include "server/metrics/metrics.h"
#include "server/rpc/gateway_service.h"
#include "server/store/memory_event_store.h"

namespace {

using namespace switchboard::server;  // NOLINT: a fuzz harness
namespace v1 = ::switchboard::v1;

constexpr int kMaxCalls = 8;
constexpr size_t kMaxResponseBytes = 4 << 20;
constexpr int kMaxPageEntries = 1000;
// Generous (ASan, a loaded machine): the calls over this store take microseconds.
constexpr absl::Duration kMaxCallTime = absl::Seconds(5);
constexpr int64_t kStart = 1700000000;

void Check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "gateway_api_fuzzer: invariant broken: %s\n", what.c_str());
    std::abort();
  }
}

class FixedRandom final : public dispatch::RandomSource {
 public:
  double Uniform() override { return 0.5; }
};

struct Gateway {
  switchboard::base::FakeClock clock{absl::FromUnixSeconds(kStart)};
  store::MemoryEventStore store;
  dispatch::FakeHandlerConnectionFactory connections;
  FixedRandom random;
  metrics::Registry metrics;
  std::unique_ptr<dispatch::Dispatcher> dispatcher;
  std::unique_ptr<rpc::GatewayService> service;

  explicit Gateway(const convert::EventConverter* converter) {
    const char* const kTypes[] = {"payment_intent.succeeded", "invoice.paid",
                                  "customer.created",         "charge.succeeded",
                                  "payment_intent.succeeded", "customer.updated"};
    int n = 0;
    for (const char* type : kTypes) {
      ++n;
      store::EventRecord r;
      r.id = absl::StrCat("evt_", n);
      r.type = type;
      r.object_id = absl::StrCat("obj_", n % 3);
      r.created = absl::FromUnixSeconds(kStart - 600 + 60 * n);
      r.received_at = clock.Now();
      r.endpoint = "/webhook";
      r.livemode = n % 2 == 0;
      r.raw_json =
          absl::StrCat(R"({"id":")", r.id, R"(","object":"event","type":")", type,
                       R"(","created":)", kStart - 600 + 60 * n, R"(,"livemode":)",
                       r.livemode ? "true" : "false", R"(,"data":{"object":{"id":")", r.object_id,
                       R"(","object":"payment_intent","amount":)", 100 * n, "}}}");
      Check(store.Append(r).ok(), "pre-fill: Append");
    }
    dispatch::Dispatcher::Options options;
    v1::Subscription static_all;
    static_all.set_name("static_all");
    static_all.add_event_types("*");
    static_all.add_members()->set_address("h2:1");
    options.static_subscriptions.push_back(static_all);
    dispatch::Dispatcher::Deps deps;
    deps.events = &store;
    deps.delivery = &store;
    deps.converter = converter;
    deps.connections = &connections;
    deps.clock = &clock;
    deps.random = &random;
    deps.metrics = &metrics;
    auto created = dispatch::Dispatcher::Create(std::move(options), deps);
    Check(created.ok(),
          absl::StrCat("pre-fill: Dispatcher::Create: ", created.status().ToString()));
    dispatcher = *std::move(created);

    v1::Subscription sub_a;
    sub_a.set_name("sub_a");
    sub_a.add_event_types("*");
    sub_a.mutable_start()->set_beginning(true);
    Check(dispatcher->Subscribe(sub_a, "h1:1").ok(), "pre-fill: Subscribe");
    Pump([](const v1::Delivery& d) {
      return d.event().id() == "evt_1" || d.event().id() == "evt_3" ? v1::Ack::REJECT : v1::Ack::OK;
    });

    rpc::GatewayService::Deps gateway_deps;
    gateway_deps.store = &store;
    gateway_deps.converter = converter;
    gateway_deps.dispatcher = dispatcher.get();
    gateway_deps.started_at = clock.Now();
    gateway_deps.request_counts = [] { return std::map<std::string, int64_t>{{"stored", 6}}; };
    service = std::make_unique<rpc::GatewayService>(std::move(gateway_deps));
  }

  ~Gateway() { dispatcher->Shutdown(); }

  // One pass of the dispatcher; h1:1 (connected if it is a member) answers what it was sent
  // with `answer` (nullptr: not at all); a second pass applies the acks; progress is committed.
  template <typename Answer>
  void Pump(Answer answer) {
    if (dispatch::FakeHandlerConnection* h1 = connections.Get("h1:1");
        h1 != nullptr && !h1->connected()) {
      h1->Up();
    }
    dispatcher->ProcessDue(dispatch::Dispatcher::Instant::Of(clock));
    if (dispatch::FakeHandlerConnection* h1 = connections.Get("h1:1"); h1 != nullptr) {
      for (const v1::Delivery& d : h1->TakeSent()) {
        const v1::Ack::Outcome outcome = answer(d);
        if (outcome != v1::Ack::UNSPECIFIED) h1->Ack(d.delivery_id(), outcome, "fuzz");
      }
    }
    dispatcher->ProcessDue(dispatch::Dispatcher::Instant::Of(clock));
    (void)dispatcher->FlushProgress();
  }
};

// Parses `request` as Request and calls `method` with it; false when it does not parse.
template <typename Request, typename Response, typename Method>
bool Call(rpc::GatewayService& service, Method method, absl::string_view bytes, const char* name) {
  Request request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  Response response;
  grpc::ServerContext context;
  const absl::Time start = absl::Now();
  const grpc::Status status = (service.*method)(&context, &request, &response);
  const absl::Duration took = absl::Now() - start;
  Check(took <= kMaxCallTime, absl::StrCat(name, " took ", absl::FormatDuration(took)));
  Check(response.ByteSizeLong() <= kMaxResponseBytes,
        absl::StrCat(name, " answered ", response.ByteSizeLong(), " bytes"));
  if (!status.ok()) {
    // Over a sound store a request can be refused, never make the server fail.
    Check(status.error_code() != grpc::StatusCode::INTERNAL &&
              status.error_code() != grpc::StatusCode::UNKNOWN &&
              status.error_code() != grpc::StatusCode::DATA_LOSS,
          absl::StrCat(name, " failed: ", status.error_code(), " ", status.error_message()));
    Check(status.error_message().size() <= 64 * 1024,
          absl::StrCat(name, " error message of ", status.error_message().size(), " bytes"));
  }
  // Repeated fields of list responses are pages.
  const google::protobuf::Reflection* reflection = response.GetReflection();
  const google::protobuf::Descriptor* descriptor = response.GetDescriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(i);
    if (!field->is_repeated() || field->is_map()) continue;
    Check(reflection->FieldSize(response, field) <= kMaxPageEntries,
          absl::StrCat(name, " answered ", reflection->FieldSize(response, field), " ",
                       field->name()));
  }
  return true;
}

void CallOne(rpc::GatewayService& service, int method, absl::string_view bytes) {
  using rpc::GatewayService;
  switch (method) {
    case 0:
      Call<v1::GetEventRequest, v1::Event>(service, &GatewayService::GetEvent, bytes, "GetEvent");
      break;
    case 1:
      Call<v1::ListEventsRequest, v1::ListEventsResponse>(service, &GatewayService::ListEvents,
                                                          bytes, "ListEvents");
      break;
    case 2:
      Call<v1::GetStatsRequest, v1::Stats>(service, &GatewayService::GetStats, bytes, "GetStats");
      break;
    case 3:
      Call<v1::SubscribeRequest, v1::Subscription>(service, &GatewayService::Subscribe, bytes,
                                                   "Subscribe");
      break;
    case 4:
      Call<v1::UnsubscribeRequest, v1::UnsubscribeResponse>(service, &GatewayService::Unsubscribe,
                                                            bytes, "Unsubscribe");
      break;
    case 5:
      Call<v1::ListSubscriptionsRequest, v1::ListSubscriptionsResponse>(
          service, &GatewayService::ListSubscriptions, bytes, "ListSubscriptions");
      break;
    case 6:
      Call<v1::ReplayRequest, v1::ReplayResponse>(service, &GatewayService::Replay, bytes,
                                                  "Replay");
      break;
    case 7:
      Call<v1::ListDeadLettersRequest, v1::ListDeadLettersResponse>(
          service, &GatewayService::ListDeadLetters, bytes, "ListDeadLetters");
      break;
    case 8:
      Call<v1::RedriveRequest, v1::RedriveResponse>(service, &GatewayService::Redrive, bytes,
                                                    "Redrive");
      break;
    default:
      Call<v1::DiscardDeadLettersRequest, v1::DiscardDeadLettersResponse>(
          service, &GatewayService::DiscardDeadLetters, bytes, "DiscardDeadLetters");
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const convert::EventConverter* converter = [] {
    // Each input creates subscriptions and dead letters, which the dispatcher logs at INFO and
    // WARNING, and many requests do not parse: lines that would cost more than the calls.
    switchboard::base::SetMinLogLevel(switchboard::base::LogLevel::kError);
    google::protobuf::SetLogHandler(nullptr);  // its complaints about requests that do not parse
    return new convert::EventConverter();
  }();
  Gateway gateway(converter);
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  for (int call = 0; call < kMaxCalls && input.size() >= 3; ++call) {
    const uint8_t selector = static_cast<uint8_t>(input[0]);
    const size_t length =
        static_cast<uint8_t>(input[1]) | (static_cast<size_t>(static_cast<uint8_t>(input[2])) << 8);
    input.remove_prefix(3);
    const absl::string_view request = input.substr(0, length);
    input.remove_prefix(request.size());
    CallOne(*gateway.service, selector % 10, request);
    if (selector & 0x40) gateway.clock.Advance(absl::Hours(1));
    const auto outcome = static_cast<v1::Ack::Outcome>((selector / 16) % 4);
    gateway.Pump([outcome](const v1::Delivery&) { return outcome; });
  }
  return 0;
}
