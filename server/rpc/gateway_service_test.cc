// The Gateway's subscription calls and event delivery over real gRPC, in one process: a
// Dispatcher (started, real clock) dialing in-process EventHandler test servers through
// GrpcHandlerConnection, driven through the Gateway service on a loopback port. Waits are
// bounded polls for an expected state (never timed assertions).
#include "server/rpc/gateway_service.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "protos/switchboard/v1/gateway.grpc.pb.h"
#include "server/base/clock.h"
#include "server/base/status_matchers.h"
#include "server/convert/event_converter.h"
#include "server/dispatch/dispatcher.h"
#include "server/dispatch/event_proto.h"
#include "server/dispatch/retry_policy.h"
#include "server/metrics/metrics.h"
#include "server/rpc/grpc_handler_connection.h"
#include "server/rpc/local_grpc_server.h"
#include "server/rpc/test_event_handler.h"
#include "server/store/memory_event_store.h"

namespace switchboard::server::rpc {
namespace {

using ::switchboard::v1::Ack;
using ::switchboard::v1::Delivery;
using ::testing::ElementsAre;

constexpr absl::Duration kWait = absl::Seconds(15);

bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout = kWait) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

class GatewayDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override { StartGateway({}); }

  void TearDown() override { StopGateway(); }

  void StartGateway(std::vector<switchboard::v1::Subscription> statics) {
    GrpcHandlerConnectionOptions connection_options;
    connection_options.initial_backoff = absl::Milliseconds(50);
    connection_options.max_backoff = absl::Milliseconds(200);
    connection_options.settle = absl::Milliseconds(50);
    connections_ = std::make_unique<GrpcHandlerConnectionFactory>(connection_options);
    dispatch::Dispatcher::Options options;
    options.progress_flush_interval = absl::Milliseconds(20);
    options.poll_interval = absl::Milliseconds(200);
    options.static_subscriptions = std::move(statics);
    dispatch::Dispatcher::Deps deps;
    deps.events = &store_;
    deps.delivery = &store_;
    deps.converter = &converter_;
    deps.connections = connections_.get();
    deps.clock = base::RealClock::Get();
    deps.random = &random_;
    deps.metrics = &metrics_;
    auto d = dispatch::Dispatcher::Create(std::move(options), deps);
    ASSERT_OK(d.status());
    dispatcher_ = *std::move(d);
    dispatcher_->Start();

    GatewayService::Deps gateway_deps;
    gateway_deps.store = &store_;
    gateway_deps.converter = &converter_;
    gateway_deps.dispatcher = dispatcher_.get();
    gateway_deps.started_at = absl::Now();
    service_ = std::make_unique<GatewayService>(std::move(gateway_deps));
    int port = 0;
    server_ = StartLocalServer(service_.get(), &port);
    ASSERT_NE(server_, nullptr);
    stub_ = switchboard::v1::Gateway::NewStub(LocalChannel(port));
  }

  void StopGateway() {
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
    if (dispatcher_ != nullptr) dispatcher_->Shutdown();
    dispatcher_.reset();
  }

  std::string Append(const std::string& type) {
    const std::string id = absl::StrCat("evt_", ++next_event_);
    store::EventRecord r;
    r.id = id;
    r.type = type;
    r.object_id = "pi_1";
    r.created = absl::FromUnixSeconds(1700000000);
    r.received_at = absl::Now();
    r.endpoint = "/webhook";
    r.raw_json = absl::StrCat(R"({"id":")", id, R"(","object":"event","type":")", type,
                              R"(","created":1700000000,"livemode":false,"data":{"object":)",
                              R"({"id":"pi_1","object":"payment_intent"}}})");
    EXPECT_OK(store_.Append(r).status());
    dispatcher_->Notify();  // what the ingress's on_stored does
    return id;
  }

  static switchboard::v1::Subscription Spec(const std::string& name) {
    switchboard::v1::Subscription s;
    s.set_name(name);
    s.add_event_types("*");
    s.mutable_start()->set_beginning(true);
    *s.mutable_retry_policy()->mutable_initial_backoff() =
        dispatch::ToProtoDuration(absl::Milliseconds(10));
    *s.mutable_retry_policy()->mutable_max_backoff() =
        dispatch::ToProtoDuration(absl::Milliseconds(20));
    return s;
  }

  grpc::Status Subscribe(const switchboard::v1::Subscription& spec, const std::string& member,
                         switchboard::v1::Subscription* out = nullptr,
                         bool add_event_types = false) {
    switchboard::v1::SubscribeRequest request;
    *request.mutable_subscription() = spec;
    request.set_member_address(member);
    request.set_add_event_types(add_event_types);
    switchboard::v1::Subscription response;
    grpc::ClientContext context;
    grpc::Status s = stub_->Subscribe(&context, request, &response);
    if (out != nullptr) *out = response;
    return s;
  }

  switchboard::v1::Subscription Listed(const std::string& name) {
    grpc::ClientContext context;
    switchboard::v1::ListSubscriptionsResponse response;
    const grpc::Status s = stub_->ListSubscriptions(&context, {}, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    for (const auto& sub : response.subscriptions()) {
      if (sub.name() == name) return sub;
    }
    return {};
  }

  switchboard::v1::ListDeadLettersResponse DeadLetters(const std::string& name, int page_size = 0,
                                                       const std::string& token = "") {
    switchboard::v1::ListDeadLettersRequest request;
    request.set_subscription(name);
    request.set_page_size(page_size);
    request.set_page_token(token);
    switchboard::v1::ListDeadLettersResponse response;
    grpc::ClientContext context;
    const grpc::Status s = stub_->ListDeadLetters(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  grpc::Status Discard(const std::string& name, const std::vector<std::string>& ids,
                       int64_t* discarded = nullptr) {
    switchboard::v1::DiscardDeadLettersRequest request;
    request.set_subscription(name);
    for (const std::string& id : ids) request.add_event_ids(id);
    switchboard::v1::DiscardDeadLettersResponse response;
    grpc::ClientContext context;
    const grpc::Status s = stub_->DiscardDeadLetters(&context, request, &response);
    if (discarded != nullptr) *discarded = response.discarded();
    return s;
  }

  store::MemoryEventStore store_;
  convert::EventConverter converter_;
  dispatch::BitGenRandomSource random_;
  metrics::Registry metrics_;
  std::unique_ptr<GrpcHandlerConnectionFactory> connections_;
  std::unique_ptr<dispatch::Dispatcher> dispatcher_;
  std::unique_ptr<GatewayService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<switchboard::v1::Gateway::Stub> stub_;
  int next_event_ = 0;
};

TEST_F(GatewayDeliveryTest, DeliversEventsAndCountsAcks) {
  auto handler = TestEventHandler::Start({});
  ASSERT_NE(handler, nullptr);
  switchboard::v1::Subscription created;
  ASSERT_TRUE(Subscribe(Spec("billing"), handler->address(), &created).ok());
  EXPECT_EQ(created.name(), "billing");
  ASSERT_EQ(created.members_size(), 1);
  EXPECT_EQ(created.members(0).address(), handler->address());
  for (int i = 0; i < 20; ++i) Append("payment_intent.succeeded");
  ASSERT_TRUE(handler->WaitForReceived(20, kWait));
  ASSERT_TRUE(WaitUntil([&] { return Listed("billing").stats().delivered() == 20; }));
  const std::vector<Delivery> got = handler->received();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(got[i].event().id(), absl::StrCat("evt_", i + 1));  // one member: store order
    EXPECT_EQ(got[i].attempt(), 1);
    EXPECT_EQ(got[i].subscription(), "billing");
  }
  const switchboard::v1::Subscription s = Listed("billing");
  EXPECT_TRUE(s.members(0).connected());
  EXPECT_EQ(s.stats().backlog(), 0);
  EXPECT_EQ(s.stats().in_flight(), 0);
}

TEST_F(GatewayDeliveryTest, RetryThenOk) {
  TestEventHandler::Options options;
  options.decide = [](const Delivery& d) {
    if (d.event().id() == "evt_2" && d.attempt() == 1) {
      return AckFor(d, Ack::RETRY, "not yet");
    }
    return AckFor(d, Ack::OK);
  };
  auto handler = TestEventHandler::Start(options);
  ASSERT_NE(handler, nullptr);
  ASSERT_TRUE(Subscribe(Spec("s"), handler->address()).ok());
  for (int i = 0; i < 3; ++i) Append("a.b");
  ASSERT_TRUE(WaitUntil([&] { return Listed("s").stats().delivered() == 3; }));
  int second_attempts = 0;
  for (const Delivery& d : handler->received()) {
    if (d.event().id() == "evt_2") ++second_attempts;
  }
  EXPECT_EQ(second_attempts, 2);
  const switchboard::v1::Subscription s = Listed("s");
  EXPECT_EQ(s.stats().retries(), 1);
  EXPECT_EQ(s.stats().backlog(), 0);
  EXPECT_EQ(DeadLetters("s").dead_letters_size(), 0);
}

TEST_F(GatewayDeliveryTest, RejectGoesToDeadLettersAndRedriveSendsItAgain) {
  std::atomic<bool> fixed{false};
  TestEventHandler::Options options;
  options.decide = [&fixed](const Delivery& d) {
    if (d.event().id() == "evt_1" && !fixed.load()) return AckFor(d, Ack::REJECT, "bad data");
    return AckFor(d, Ack::OK);
  };
  auto handler = TestEventHandler::Start(options);
  ASSERT_NE(handler, nullptr);
  ASSERT_TRUE(Subscribe(Spec("s"), handler->address()).ok());
  Append("a.b");
  Append("a.b");
  ASSERT_TRUE(WaitUntil([&] { return DeadLetters("s").dead_letters_size() == 1; }));
  const switchboard::v1::DeadLetter dead = DeadLetters("s").dead_letters(0);
  EXPECT_EQ(dead.event_id(), "evt_1");
  EXPECT_EQ(dead.event_type(), "a.b");
  EXPECT_EQ(dead.attempts(), 1);
  EXPECT_EQ(dead.last_error(), "REJECT: bad data");
  EXPECT_EQ(Listed("s").stats().dead_letters(), 1);

  fixed = true;
  switchboard::v1::RedriveRequest request;
  request.set_subscription("s");
  switchboard::v1::RedriveResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->Redrive(&context, request, &response).ok());
  EXPECT_EQ(response.redriven(), 1);
  ASSERT_TRUE(WaitUntil([&] { return Listed("s").stats().delivered() == 2; }));
  EXPECT_EQ(DeadLetters("s").dead_letters_size(), 0);
  const std::vector<Delivery> got = handler->received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got.back().event().id(), "evt_1");
  EXPECT_EQ(got.back().attempt(), 1);
}

TEST_F(GatewayDeliveryTest, DiscardDeadLettersRemovesThemWithoutDelivery) {
  TestEventHandler::Options options;
  options.decide = [](const Delivery& d) { return AckFor(d, Ack::REJECT, "bad data"); };
  auto handler = TestEventHandler::Start(options);
  ASSERT_NE(handler, nullptr);
  ASSERT_TRUE(Subscribe(Spec("s"), handler->address()).ok());
  for (int i = 0; i < 3; ++i) Append("a.b");
  ASSERT_TRUE(WaitUntil([&] { return DeadLetters("s").dead_letters_size() == 3; }));

  int64_t discarded = 0;
  ASSERT_TRUE(Discard("s", {"evt_2"}, &discarded).ok());
  EXPECT_EQ(discarded, 1);
  const switchboard::v1::ListDeadLettersResponse listed = DeadLetters("s");
  std::vector<std::string> left;
  for (const auto& d : listed.dead_letters()) left.push_back(d.event_id());
  EXPECT_THAT(left, ElementsAre("evt_1", "evt_3"));
  EXPECT_EQ(Discard("s", {"evt_2"}).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Discard("nope", {}).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Discard("", {}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Discard("s", std::vector<std::string>(1001, "evt_1")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  ASSERT_TRUE(Discard("s", {}, &discarded).ok());
  EXPECT_EQ(discarded, 2);
  EXPECT_EQ(DeadLetters("s").dead_letters_size(), 0);
  EXPECT_EQ(Listed("s").stats().dead_letters(), 0);
  EXPECT_EQ(handler->received().size(), 3u);  // one delivery each, none after the discard
}

TEST_F(GatewayDeliveryTest, ReconnectsAfterTheHandlerRestarts) {
  auto handler = TestEventHandler::Start({});
  ASSERT_NE(handler, nullptr);
  const int port = handler->port();
  ASSERT_TRUE(Subscribe(Spec("s"), handler->address()).ok());
  Append("a.b");
  ASSERT_TRUE(handler->WaitForReceived(1, kWait));
  ASSERT_TRUE(WaitUntil([&] { return Listed("s").stats().delivered() == 1; }));
  handler->Shutdown();
  ASSERT_TRUE(WaitUntil([&] { return !Listed("s").members(0).connected(); }));
  for (int i = 0; i < 3; ++i) Append("a.b");  // they wait in the store, no attempt spent

  TestEventHandler::Options options;
  options.port = port;
  handler = TestEventHandler::Start(options);
  ASSERT_NE(handler, nullptr);
  ASSERT_TRUE(handler->WaitForReceived(3, kWait));
  ASSERT_TRUE(WaitUntil([&] { return Listed("s").stats().delivered() == 4; }));
  for (const Delivery& d : handler->received()) EXPECT_EQ(d.attempt(), 1);
}

TEST_F(GatewayDeliveryTest, ReplayDeliversAgain) {
  auto handler = TestEventHandler::Start({});
  ASSERT_NE(handler, nullptr);
  ASSERT_TRUE(Subscribe(Spec("s"), handler->address()).ok());
  Append("a.b");
  Append("c.d");
  ASSERT_TRUE(WaitUntil([&] { return Listed("s").stats().delivered() == 2; }));
  switchboard::v1::ReplayRequest request;
  request.set_subscription("s");
  request.add_types("c.*");
  switchboard::v1::ReplayResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->Replay(&context, request, &response).ok());
  EXPECT_EQ(response.scheduled(), 1);
  ASSERT_TRUE(handler->WaitForReceived(3, kWait));
  EXPECT_EQ(handler->received()[2].event().id(), "evt_2");
}

TEST_F(GatewayDeliveryTest, UnsubscribedMemberHasItsStreamClosed) {
  auto handler = TestEventHandler::Start({});
  ASSERT_NE(handler, nullptr);
  ASSERT_TRUE(Subscribe(Spec("s"), handler->address()).ok());
  ASSERT_TRUE(handler->WaitForOpenStreams(1, kWait));
  switchboard::v1::UnsubscribeRequest request;
  request.set_name("s");
  request.set_member_address(handler->address());
  switchboard::v1::UnsubscribeResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->Unsubscribe(&context, request, &response).ok());
  EXPECT_TRUE(handler->WaitForOpenStreams(0, kWait));
  EXPECT_EQ(handler->clean_ends(), 1);
  EXPECT_EQ(Listed("s").members_size(), 0);  // the subscription stays
}

TEST_F(GatewayDeliveryTest, ListDeadLettersPages) {
  TestEventHandler::Options options;
  options.decide = [](const Delivery& d) { return AckFor(d, Ack::REJECT); };
  auto handler = TestEventHandler::Start(options);
  ASSERT_NE(handler, nullptr);
  ASSERT_TRUE(Subscribe(Spec("s"), handler->address()).ok());
  for (int i = 0; i < 3; ++i) Append("a.b");
  ASSERT_TRUE(WaitUntil([&] { return DeadLetters("s").dead_letters_size() == 3; }));
  std::vector<std::string> ids;
  std::string token;
  do {
    const auto page = DeadLetters("s", 2, token);
    for (const auto& d : page.dead_letters()) ids.push_back(d.event_id());
    token = page.next_page_token();
  } while (!token.empty());
  EXPECT_THAT(ids, ElementsAre("evt_1", "evt_2", "evt_3"));
}

TEST_F(GatewayDeliveryTest, ErrorsMapToGrpcCodes) {
  auto bad = Spec("Bad Name");
  EXPECT_EQ(Subscribe(bad, "").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Subscribe(Spec("s"), "0.0.0.0:1").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  switchboard::v1::UnsubscribeRequest un;
  un.set_name("nope");
  switchboard::v1::UnsubscribeResponse un_response;
  grpc::ClientContext c1;
  EXPECT_EQ(stub_->Unsubscribe(&c1, un, &un_response).error_code(), grpc::StatusCode::NOT_FOUND);
  switchboard::v1::ReplayRequest replay;
  replay.set_subscription("nope");
  switchboard::v1::ReplayResponse replay_response;
  grpc::ClientContext c2;
  EXPECT_EQ(stub_->Replay(&c2, replay, &replay_response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);  // neither ids nor a filter
  switchboard::v1::ListDeadLettersRequest dl;
  dl.set_subscription("s");
  dl.set_page_token("x");
  switchboard::v1::ListDeadLettersResponse dl_response;
  grpc::ClientContext c3;
  EXPECT_EQ(stub_->ListDeadLetters(&c3, dl, &dl_response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GatewayDeliveryTest, StaticSubscriptionSpecCannotChangeButMembersMayJoin) {
  StopGateway();
  auto config = Spec("audit");
  config.clear_event_types();
  config.add_event_types("charge.*");
  StartGateway({config});
  auto handler = TestEventHandler::Start({});
  ASSERT_NE(handler, nullptr);
  auto other = Spec("audit");  // "*" instead of "charge.*"
  EXPECT_EQ(Subscribe(other, handler->address()).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  switchboard::v1::Subscription join;
  join.set_name("audit");
  switchboard::v1::Subscription joined;
  ASSERT_TRUE(Subscribe(join, handler->address(), &joined).ok());
  EXPECT_TRUE(joined.static_());
  EXPECT_EQ(joined.members_size(), 1);
  Append("payment_intent.created");
  const std::string charge = Append("charge.succeeded");
  ASSERT_TRUE(handler->WaitForReceived(1, kWait));
  EXPECT_EQ(handler->received()[0].event().id(), charge);
}

TEST_F(GatewayDeliveryTest, SubscribeWithAddEventTypesAddsToTheSubscriptionsTypes) {
  auto a = Spec("s");
  a.clear_event_types();
  a.add_event_types("a.*");
  ASSERT_TRUE(Subscribe(a, "").ok());
  auto b = Spec("s");
  b.clear_event_types();
  b.add_event_types("b.*");
  switchboard::v1::Subscription out;
  ASSERT_TRUE(Subscribe(b, "", &out, /*add_event_types=*/true).ok());
  EXPECT_THAT(out.event_types(), ElementsAre("a.*", "b.*"));
  ASSERT_TRUE(Subscribe(b, "", &out).ok());  // without it: replaced
  EXPECT_THAT(out.event_types(), ElementsAre("b.*"));

  StopGateway();
  auto config = Spec("audit");
  config.clear_event_types();
  config.add_event_types("charge.*");
  config.add_event_types("payout.*");
  StartGateway({config});
  auto subset = Spec("audit");
  subset.clear_event_types();
  subset.add_event_types("payout.*");
  EXPECT_EQ(Subscribe(subset, "").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(Subscribe(subset, "", &out, /*add_event_types=*/true).ok());
  subset.add_event_types("refund.*");
  EXPECT_EQ(Subscribe(subset, "", &out, /*add_event_types=*/true).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(GatewayListEventsTest, APageEndsEarlyAtItsByteBudgetAndPagingSeesEveryEventOnce) {
  store::MemoryEventStore store;
  convert::EventConverter converter;
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    store::EventRecord r;
    r.id = absl::StrCat("evt_", i);
    r.type = "payment_intent.created";
    r.created = absl::FromUnixSeconds(1700000000);
    r.received_at = absl::FromUnixSeconds(1700000000);
    r.endpoint = "/webhook";
    r.raw_json = absl::StrCat(R"({"id":")", r.id, R"(","object":"event","type":")", r.type,
                              R"(","created":1700000000,"livemode":false,"data":{"object":)",
                              R"({"id":"pi_1","object":"payment_intent","description":")",
                              std::string(2000, 'x'), R"("}}})");
    ASSERT_OK(store.Append(r).status());
    ids.push_back(r.id);
  }
  GatewayService::Deps deps;
  deps.store = &store;
  deps.converter = &converter;
  deps.max_page_bytes = 10000;  // about two of these events
  GatewayService service(deps);

  std::vector<std::string> seen;
  switchboard::v1::ListEventsRequest request;
  request.set_page_size(1000);
  int pages = 0;
  do {
    grpc::ServerContext context;
    switchboard::v1::ListEventsResponse response;
    ASSERT_TRUE(service.ListEvents(&context, &request, &response).ok());
    ASSERT_GE(response.events_size(), 1);
    int64_t bytes = 0;
    for (const switchboard::v1::Event& e : response.events()) {
      seen.push_back(e.id());
      bytes += static_cast<int64_t>(e.ByteSizeLong());
    }
    if (response.events_size() > 1) {
      EXPECT_LE(bytes, deps.max_page_bytes);
    }
    request.set_page_token(response.next_page_token());
    ++pages;
  } while (!request.page_token().empty() && pages < 100);
  EXPECT_EQ(seen, ids);
  EXPECT_GE(pages, 4);

  // A pattern the store cannot match is an error, not an empty list.
  {
    switchboard::v1::ListEventsRequest bad;
    bad.add_types("*.paid");
    grpc::ServerContext context;
    switchboard::v1::ListEventsResponse response;
    EXPECT_EQ(service.ListEvents(&context, &bad, &response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }

  // An event larger than the budget still comes, alone.
  deps.max_page_bytes = 100;
  GatewayService tiny(deps);
  request.clear_page_token();
  grpc::ServerContext context;
  switchboard::v1::ListEventsResponse response;
  ASSERT_TRUE(tiny.ListEvents(&context, &request, &response).ok());
  ASSERT_EQ(response.events_size(), 1);
  EXPECT_EQ(response.next_page_token(), absl::StrCat(response.events(0).sequence()));
}

}  // namespace
}  // namespace switchboard::server::rpc
