// HandlerServer in-process: a fake gateway records Subscribe/Unsubscribe, and the test plays
// the gateway's side of EventHandler.Deliver with a real gRPC stream on port 0.
#include "sdk/serve.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "protos/switchboard/v1/gateway.grpc.pb.h"
#include "protos/switchboard/v1/handler.grpc.pb.h"
#include "sdk/internal/worker_pool.h"
#include "sdk/router.h"
#include "sdk/status.h"
#include "tests/util/capture_stderr.h"

namespace switchboard::sdk {

class HandlerServerPeer {
 public:
  static int64_t ReregisterRounds(HandlerServer& server) {
    absl::MutexLock lock(&server.reregister_mu_);
    return server.reregister_rounds_;
  }
  // Deliveries read and waiting for a worker.
  static int QueuedJobs(HandlerServer& server) { return server.pool_->queued(); }
};

namespace {

using ::switchboard::v1::Ack;
using ::switchboard::v1::Delivery;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Generous safety net for conditions that should hold within milliseconds.
constexpr absl::Duration kSafety = absl::Seconds(30);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class FakeGateway final : public switchboard::v1::Gateway::Service {
 public:
  grpc::Status Subscribe(grpc::ServerContext* context,
                         const switchboard::v1::SubscribeRequest* request,
                         switchboard::v1::Subscription* response) override {
    std::function<grpc::Status(const switchboard::v1::SubscribeRequest&)> hook;
    {
      absl::MutexLock lock(&mu_);
      Authorization(context);
      subscribes_.push_back(*request);
      *response = request->subscription();
      if (request->add_event_types() && !existing_types_.empty()) {
        // As the gateway does: the subscription's types first, then the ones it lacked.
        response->clear_event_types();
        for (const std::string& t : existing_types_) response->add_event_types(t);
        for (const std::string& t : request->subscription().event_types()) {
          if (std::find(existing_types_.begin(), existing_types_.end(), t) ==
              existing_types_.end()) {
            response->add_event_types(t);
          }
        }
      }
      hook = subscribe_hook_;
    }
    return hook == nullptr ? grpc::Status::OK : hook(*request);
  }
  // The event types the subscription already has (a Subscribe with add_event_types adds to them).
  void SetExistingTypes(std::vector<std::string> types) {
    absl::MutexLock lock(&mu_);
    existing_types_ = std::move(types);
  }
  // Runs in every later Subscribe, which answers what it returns.
  void SetSubscribeHook(std::function<grpc::Status(const switchboard::v1::SubscribeRequest&)> f) {
    absl::MutexLock lock(&mu_);
    subscribe_hook_ = std::move(f);
  }
  grpc::Status Unsubscribe(grpc::ServerContext* context,
                           const switchboard::v1::UnsubscribeRequest* request,
                           switchboard::v1::UnsubscribeResponse*) override {
    std::function<void(const switchboard::v1::UnsubscribeRequest&)> hook;
    {
      absl::MutexLock lock(&mu_);
      Authorization(context);
      unsubscribes_.push_back(*request);
      hook = unsubscribe_hook_;
    }
    if (hook != nullptr) hook(*request);
    return grpc::Status::OK;
  }
  // Runs in every later Unsubscribe, before it answers.
  void SetUnsubscribeHook(std::function<void(const switchboard::v1::UnsubscribeRequest&)> f) {
    absl::MutexLock lock(&mu_);
    unsubscribe_hook_ = std::move(f);
  }
  std::vector<switchboard::v1::SubscribeRequest> subscribes() {
    absl::MutexLock lock(&mu_);
    return subscribes_;
  }
  std::vector<switchboard::v1::UnsubscribeRequest> unsubscribes() {
    absl::MutexLock lock(&mu_);
    return unsubscribes_;
  }
  // The authorization metadata of every call, in order ("" when absent).
  std::vector<std::string> authorizations() {
    absl::MutexLock lock(&mu_);
    return authorizations_;
  }

 private:
  void Authorization(grpc::ServerContext* context) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = context->client_metadata().find("authorization");
    authorizations_.push_back(it == context->client_metadata().end()
                                  ? ""
                                  : std::string(it->second.data(), it->second.size()));
  }

  absl::Mutex mu_;
  std::vector<std::string> authorizations_;
  std::vector<switchboard::v1::SubscribeRequest> subscribes_;
  std::vector<switchboard::v1::UnsubscribeRequest> unsubscribes_;
  std::function<grpc::Status(const switchboard::v1::SubscribeRequest&)> subscribe_hook_;
  std::vector<std::string> existing_types_;
  std::function<void(const switchboard::v1::UnsubscribeRequest&)> unsubscribe_hook_;
};

// Opens a Deliver stream to `member` as the gateway would, closes it at once and returns how
// it ended: OK from a handler that takes new streams, UNAVAILABLE from one that is draining.
grpc::Status ProbeDeliverStream(const std::string& member) {
  auto stub = switchboard::v1::EventHandler::NewStub(
      grpc::CreateChannel(member, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kSafety));
  auto rw = stub->Deliver(&context);
  rw->WritesDone();
  Ack unused;
  while (rw->Read(&unused)) {
  }
  return rw->Finish();
}

Delivery MakeDelivery(absl::string_view id, absl::string_view type) {
  Delivery d;
  d.set_delivery_id(absl::StrCat("d-", id));
  d.set_attempt(1);
  d.set_subscription("serve-test");
  d.mutable_event()->set_id(std::string(id));
  d.mutable_event()->set_type(std::string(type));
  return d;
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override { StartGateway(grpc::InsecureServerCredentials()); }
  void StartGateway(std::shared_ptr<grpc::ServerCredentials> credentials) {
    if (gateway_server_ != nullptr) gateway_server_->Shutdown();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", credentials, &gateway_port_);
    builder.RegisterService(&gateway_);
    gateway_server_ = builder.BuildAndStart();
    ASSERT_NE(gateway_port_, 0);
  }
  void TearDown() override { gateway_server_->Shutdown(); }

  ServeOptions Options() {
    ServeOptions o;
    o.gateway.address = absl::StrCat("127.0.0.1:", gateway_port_);
    o.subscription = "serve-test";
    o.workers = 4;
    return o;
  }

  // The gateway's side of a Deliver stream to `server`.
  struct Stream {
    std::unique_ptr<switchboard::v1::EventHandler::Stub> stub;
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReaderWriter<Delivery, Ack>> rw;
  };
  std::unique_ptr<Stream> OpenStream(const HandlerServer& server,
                                     const grpc::ChannelArguments& args = {}) {
    auto s = std::make_unique<Stream>();
    s->stub = switchboard::v1::EventHandler::NewStub(grpc::CreateCustomChannel(
        server.advertise_address(), grpc::InsecureChannelCredentials(), args));
    s->context.set_deadline(absl::ToChronoTime(absl::Now() + kSafety));
    s->rw = s->stub->Deliver(&s->context);
    return s;
  }

  FakeGateway gateway_;
  std::unique_ptr<grpc::Server> gateway_server_;
  int gateway_port_ = 0;
};

TEST_F(ServeTest, RegistersWithTheGatewayAndAcksEachDelivery) {
  Router router;
  router.OnEvent("payment_intent.*", [](const EventContext&) { return absl::OkStatus(); })
      .OnEvent("charge.failed", [](const EventContext&) { return absl::UnavailableError("busy"); })
      .OnEvent("invoice.paid", [](const EventContext&) { return PermanentError("no"); });
  ServeOptions options = Options();
  options.max_in_flight = 5;
  options.start = StartPosition::Beginning();
  options.retry_policy.max_attempts = 4;
  auto server = HandlerServer::Start(&router, options);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string member = absl::StrCat("127.0.0.1:", (*server)->port());
  EXPECT_EQ((*server)->advertise_address(), member);

  ASSERT_EQ(gateway_.subscribes().size(), 1u);
  const switchboard::v1::SubscribeRequest subscribe = gateway_.subscribes()[0];
  EXPECT_EQ(subscribe.member_address(), member);
  EXPECT_EQ(subscribe.subscription().name(), "serve-test");
  EXPECT_THAT(subscribe.subscription().event_types(),
              ElementsAre("charge.failed", "invoice.paid", "payment_intent.*"));
  EXPECT_EQ(subscribe.subscription().max_in_flight(), 5);
  EXPECT_TRUE(subscribe.subscription().start().beginning());
  EXPECT_EQ(subscribe.subscription().retry_policy().max_attempts(), 4);

  auto stream = OpenStream(**server);
  std::map<std::string, Ack> acks;
  const std::vector<Delivery> deliveries = {
      MakeDelivery("evt_a", "payment_intent.succeeded"), MakeDelivery("evt_b", "charge.failed"),
      MakeDelivery("evt_c", "invoice.paid"), MakeDelivery("evt_d", "payment_intent.created")};
  for (const Delivery& d : deliveries) ASSERT_TRUE(stream->rw->Write(d));
  // An event the generated classes refuse (a proto3 string with invalid UTF-8) is rejected,
  // and the stream goes on.
  Delivery undecodable = MakeDelivery("evt_\xff", "payment_intent.succeeded");
  undecodable.set_delivery_id("d-undecodable");
  ASSERT_TRUE(stream->rw->Write(undecodable));
  ASSERT_TRUE(stream->rw->Write(MakeDelivery("evt_e", "payment_intent.canceled")));
  Ack ack;
  while (acks.size() < 6 && stream->rw->Read(&ack)) acks[ack.delivery_id()] = ack;
  ASSERT_EQ(acks.size(), 6u);
  EXPECT_EQ(acks["d-evt_a"].outcome(), Ack::OK);
  EXPECT_EQ(acks["d-evt_b"].outcome(), Ack::RETRY);
  EXPECT_EQ(acks["d-evt_c"].outcome(), Ack::REJECT);
  EXPECT_EQ(acks["d-evt_d"].outcome(), Ack::OK);
  EXPECT_EQ(acks["d-undecodable"].outcome(), Ack::REJECT);
  EXPECT_THAT(acks["d-undecodable"].message(), HasSubstr("does not decode"));
  EXPECT_EQ(acks["d-evt_e"].outcome(), Ack::OK);

  // The gateway closes its side: the stream ends cleanly.
  stream->rw->WritesDone();
  EXPECT_FALSE(stream->rw->Read(&ack));
  EXPECT_TRUE(stream->rw->Finish().ok());

  EXPECT_TRUE((*server)->Shutdown().ok());
  ASSERT_EQ(gateway_.unsubscribes().size(), 1u);
  EXPECT_EQ(gateway_.unsubscribes()[0].name(), "serve-test");
  EXPECT_EQ(gateway_.unsubscribes()[0].member_address(), member);
}

TEST_F(ServeTest, RegistersItsTypesAsAnAdditionSoAnOlderInstanceNeverNarrowsThem) {
  // A v1 instance restarting while v2 (which added invoice.paid) runs: its start-up
  // registration adds its types to the subscription's instead of replacing them.
  Router router;
  router.OnEvent("payment_intent.succeeded", [](const EventContext&) { return absl::OkStatus(); });
  gateway_.SetExistingTypes({"invoice.paid"});
  absl::StatusOr<std::unique_ptr<HandlerServer>> server;
  const std::string log =
      testing::CaptureStderr([&] { server = HandlerServer::Start(&router, Options()); });
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_EQ(gateway_.subscribes().size(), 1u);
  const switchboard::v1::SubscribeRequest subscribe = gateway_.subscribes()[0];
  EXPECT_THAT(subscribe.subscription().event_types(), ElementsAre("payment_intent.succeeded"));
  EXPECT_TRUE(subscribe.add_event_types());
  // The log shows both: what this instance handles, and what the subscription now holds.
  EXPECT_THAT(log, HasSubstr(" types=payment_intent.succeeded "));
  EXPECT_THAT(log, HasSubstr(" subscription_types=invoice.paid,payment_intent.succeeded "));
  EXPECT_TRUE((*server)->Shutdown().ok());
}

TEST_F(ServeTest, DrainFinishesRunningCallsRefusesNewWorkAndUnsubscribes) {
  absl::Notification started, release;
  Router router;
  router.OnEvent("slow.event", [&](const EventContext&) {
    started.Notify();
    release.WaitForNotification();
    return absl::OkStatus();
  });
  router.OnEvent("*", [](const EventContext&) { return absl::OkStatus(); });
  auto server = HandlerServer::Start(&router, Options());
  ASSERT_TRUE(server.ok()) << server.status();
  // How a new stream to the member ended while the gateway handled its Unsubscribe.
  std::vector<grpc::Status> at_unsubscribe;
  gateway_.SetUnsubscribeHook([&](const switchboard::v1::UnsubscribeRequest& request) {
    at_unsubscribe.push_back(ProbeDeliverStream(request.member_address()));
  });

  auto stream = OpenStream(**server);
  ASSERT_TRUE(stream->rw->Write(MakeDelivery("evt_slow", "slow.event")));
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kSafety));

  absl::Status shutdown_status;
  std::thread shutdown([&] { shutdown_status = (*server)->Shutdown(); });

  // Draining has begun once a new stream is refused.
  bool refused = false;
  for (absl::Time deadline = absl::Now() + kSafety; !refused && absl::Now() < deadline;) {
    auto probe = OpenStream(**server);
    probe->rw->WritesDone();
    Ack unused;
    while (probe->rw->Read(&unused)) {
    }
    const grpc::Status status = probe->rw->Finish();
    refused = status.error_code() == grpc::StatusCode::UNAVAILABLE;
    if (!refused) {
      ASSERT_TRUE(status.ok()) << status.error_message();
    }
  }
  ASSERT_TRUE(refused);

  // A delivery that arrives while draining is handed back at once.
  ASSERT_TRUE(stream->rw->Write(MakeDelivery("evt_late", "other.event")));
  Ack ack;
  ASSERT_TRUE(stream->rw->Read(&ack));
  EXPECT_EQ(ack.delivery_id(), "d-evt_late");
  EXPECT_EQ(ack.outcome(), Ack::RETRY);
  EXPECT_THAT(ack.message(), HasSubstr("shutting down"));
  // It left the subscription before draining, so the gateway was already sending elsewhere.
  EXPECT_EQ(gateway_.unsubscribes().size(), 1u);

  // The running call finishes: its ack is sent, then the stream closes.
  release.Notify();
  ASSERT_TRUE(stream->rw->Read(&ack));
  EXPECT_EQ(ack.delivery_id(), "d-evt_slow");
  EXPECT_EQ(ack.outcome(), Ack::OK);
  EXPECT_FALSE(stream->rw->Read(&ack));
  EXPECT_TRUE(stream->rw->Finish().ok());

  shutdown.join();
  EXPECT_TRUE(shutdown_status.ok()) << shutdown_status;
  EXPECT_EQ(gateway_.unsubscribes().size(), 1u);
  EXPECT_EQ((*server)->open_streams(), 0);
  // It left before it began draining: while the gateway took it out of the subscription, the
  // member still took new streams (draining first would answer deliveries RETRY at once, make
  // it look idle and draw the subscription's traffic).
  ASSERT_EQ(at_unsubscribe.size(), 1u);
  EXPECT_TRUE(at_unsubscribe[0].ok())
      << "the member was already draining when it unsubscribed: " << at_unsubscribe[0].error_code()
      << " " << at_unsubscribe[0].error_message();
}

// Polls `done` until it holds or kSafety passed. True when it holds.
bool Eventually(const std::function<bool()>& done) {
  for (const absl::Time deadline = absl::Now() + kSafety; absl::Now() < deadline;) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return done();
}

TEST_F(ServeTest, AStreamCancelledWithAcksQueuedCloses) {
  // Acks of 400+ bytes (the delivery_id is echoed) to a gateway that never reads them: they
  // outgrow its flow-control window (fixed at 64 KiB without BDP probing), so the write in
  // progress stalls and the rest queue in the stream's outbox until the cancel.
  constexpr int kDeliveries = 400;
  std::atomic<int> calls{0};
  Router router;
  router.OnEvent("*", [&](const EventContext&) {
    ++calls;
    return absl::OkStatus();
  });
  ServeOptions options = Options();
  options.drain_timeout = absl::Seconds(1);  // only bounds the test when the stream leaks
  auto server = HandlerServer::Start(&router, options);
  ASSERT_TRUE(server.ok()) << server.status();

  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto stream = OpenStream(**server, args);
  for (int i = 0; i < kDeliveries; ++i) {
    Delivery d = MakeDelivery(absl::StrCat("evt_", i), "x.y");
    d.set_delivery_id(absl::StrCat(i, "-", std::string(400, 'x')));
    ASSERT_TRUE(stream->rw->Write(d));
  }
  ASSERT_TRUE(Eventually([&] { return calls.load() == kDeliveries; }));
  ASSERT_EQ((*server)->open_streams(), 1);

  stream->context.TryCancel();
  // The queued acks are dropped (the gateway counts those deliveries as failed anyway), so the
  // stream finishes: re-registration and a quick Shutdown depend on it.
  EXPECT_TRUE(Eventually([&] { return (*server)->open_streams() == 0; }));
  EXPECT_TRUE((*server)->Shutdown().ok());
}

// A handler function that blocks until released. Shared with the function, which may outlive
// the test's server.
struct Blocker {
  absl::Notification started, release, returned;
  EventFn Fn() {
    return [this](const EventContext&) {
      started.Notify();
      release.WaitForNotification();
      returned.Notify();
      return absl::OkStatus();
    };
  }
};

TEST_F(ServeTest, DeliveriesQueuedOnACancelledStreamAreNotHandled) {
  // One worker: evt_0 runs, evt_1 waits in the pool. The gateway then cancels the stream (its
  // SIGTERM, a handler_not_acking restart, a network break) and will send both again. evt_1
  // must not run on the dead stream (its effect would happen twice, its ack go nowhere), and
  // the new stream's delivery must not wait behind it.
  Blocker first;
  absl::Mutex mu;
  std::vector<std::string> calls;
  Router router;
  router.OnEvent("*", [&](const EventContext& ctx) {
    {
      absl::MutexLock lock(&mu);
      calls.push_back(std::string(ctx.id()));
    }
    if (ctx.id() == "evt_0") return first.Fn()(ctx);
    return absl::OkStatus();
  });
  ServeOptions options = Options();
  options.workers = 1;
  auto server = HandlerServer::Start(&router, options);
  ASSERT_TRUE(server.ok()) << server.status();
  HandlerServer& s = **server;

  auto old_stream = OpenStream(s);
  ASSERT_TRUE(old_stream->rw->Write(MakeDelivery("evt_0", "x.y")));
  ASSERT_TRUE(old_stream->rw->Write(MakeDelivery("evt_1", "x.y")));
  ASSERT_TRUE(first.started.WaitForNotificationWithTimeout(kSafety));
  ASSERT_TRUE(Eventually([&] { return HandlerServerPeer::QueuedJobs(s) == 1; }));

  old_stream->context.TryCancel();
  // The handler has seen the cancel once the stream is gone (it finishes without waiting for
  // evt_0).
  ASSERT_TRUE(Eventually([&] { return s.open_streams() == 0; }));
  first.release.Notify();

  // The gateway's new stream. The pool runs jobs in order on its one worker, so evt_1's job is
  // over when evt_2's ack arrives.
  auto new_stream = OpenStream(s);
  ASSERT_TRUE(new_stream->rw->Write(MakeDelivery("evt_2", "x.y")));
  Ack ack;
  ASSERT_TRUE(new_stream->rw->Read(&ack));
  EXPECT_EQ(ack.delivery_id(), "d-evt_2");
  EXPECT_EQ(ack.outcome(), Ack::OK);
  {
    absl::MutexLock lock(&mu);
    EXPECT_THAT(calls, ElementsAre("evt_0", "evt_2"));
  }
  new_stream->rw->WritesDone();
  EXPECT_FALSE(new_stream->rw->Read(&ack));
  EXPECT_TRUE(new_stream->rw->Finish().ok());

  // Only the ack that went out is counted: evt_0's was dropped with its stream.
  const std::string log = testing::CaptureStderr([&] { EXPECT_TRUE(s.Shutdown().ok()); });
  EXPECT_THAT(log, HasSubstr("sdk_stopped subscription=serve-test ok=1 retry=0 reject=0 "));
}

TEST_F(ServeTest, ShutdownGivesUpOnACallThatNeverReturns) {
  Blocker hung;
  Router router;
  router.OnEvent("*", hung.Fn());
  ServeOptions options = Options();
  options.drain_timeout = absl::Milliseconds(100);
  auto server = HandlerServer::Start(&router, options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stream = OpenStream(**server);
  ASSERT_TRUE(stream->rw->Write(MakeDelivery("evt_hung", "x.y")));
  ASSERT_TRUE(hung.started.WaitForNotificationWithTimeout(kSafety));

  absl::Status status;
  absl::Notification shut_down;
  std::thread shutdown([&] {
    status = (*server)->Shutdown();
    shut_down.Notify();
  });
  const bool returned_first = shut_down.WaitForNotificationWithTimeout(kSafety);
  EXPECT_FALSE(hung.returned.HasBeenNotified());
  // The call returns after Shutdown gave up on it, and after the server is gone.
  if (returned_first) {
    shutdown.join();
    server->reset();
  }
  hung.release.Notify();
  ASSERT_TRUE(hung.returned.WaitForNotificationWithTimeout(kSafety));
  if (!returned_first) shutdown.join();
  ASSERT_TRUE(returned_first) << "Shutdown waited for the hung call";
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_THAT(status.message(), HasSubstr("abandoned"));
  EXPECT_FALSE(stream->rw->Finish().ok());
}

TEST_F(ServeTest, StartThatFailsAfterDeliveriesArrivedDoesNotWaitForTheirCalls) {
  // A gateway that already knows the address (a restart) dials it before Subscribe answers;
  // then Subscribe fails. One call runs (and does not return), one more delivery is queued.
  Blocker hung;
  Router router;
  router.OnEvent("*", hung.Fn());
  ServeOptions options = Options();
  options.workers = 1;
  std::unique_ptr<Stream> stream;
  gateway_.SetSubscribeHook([&](const switchboard::v1::SubscribeRequest& request) {
    stream = std::make_unique<Stream>();
    stream->stub = switchboard::v1::EventHandler::NewStub(
        grpc::CreateChannel(request.member_address(), grpc::InsecureChannelCredentials()));
    stream->context.set_deadline(absl::ToChronoTime(absl::Now() + kSafety));
    stream->rw = stream->stub->Deliver(&stream->context);
    stream->rw->Write(MakeDelivery("evt_running", "x.y"));
    stream->rw->Write(MakeDelivery("evt_queued", "x.y"));
    hung.started.WaitForNotificationWithTimeout(kSafety);
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "not today");
  });

  absl::StatusOr<std::unique_ptr<HandlerServer>> server;
  absl::Notification started;
  std::thread start([&] {
    server = HandlerServer::Start(&router, options);
    started.Notify();
  });
  const bool returned_first = started.WaitForNotificationWithTimeout(kSafety);
  EXPECT_FALSE(hung.returned.HasBeenNotified());
  hung.release.Notify();
  ASSERT_TRUE(hung.returned.WaitForNotificationWithTimeout(kSafety));
  start.join();
  ASSERT_TRUE(returned_first) << "Start waited for the running call";
  EXPECT_EQ(server.status().code(), absl::StatusCode::kPermissionDenied) << server.status();
  ASSERT_NE(stream, nullptr);
  EXPECT_FALSE(stream->rw->Finish().ok());
}

TEST_F(ServeTest, ReadsOnlyAboutAsManyDeliveriesAsThereAreWorkers) {
  // Both workers busy, ten deliveries written. The handler reads 2 x workers and leaves the
  // rest to wait in the gateway, unwritten. Draining then tells which were read before: those
  // run once released, while a delivery read during the drain is handed back at once.
  constexpr int kDeliveries = 10;
  constexpr int kWorkers = 2;
  absl::Mutex mu;
  int calls = 0;
  absl::Notification release;
  Router router;
  router.OnEvent("x.y", [&](const EventContext&) {
    {
      absl::MutexLock lock(&mu);
      ++calls;
    }
    release.WaitForNotification();
    return absl::OkStatus();
  });
  ServeOptions options = Options();
  options.workers = kWorkers;
  options.max_in_flight = 32;
  auto server = HandlerServer::Start(&router, options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stream = OpenStream(**server);
  for (int i = 0; i < kDeliveries; ++i) {
    ASSERT_TRUE(stream->rw->Write(MakeDelivery(absl::StrCat("evt_", i), "x.y")));
  }
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(
                                        +[](int* n) { return *n == kWorkers; }, &calls),
                                    kSafety));
  }

  absl::Status shutdown_status;
  std::thread shutdown([&] { shutdown_status = (*server)->Shutdown(); });
  ASSERT_TRUE(Eventually([&] {
    auto probe = OpenStream(**server);
    probe->rw->WritesDone();
    Ack unused;
    while (probe->rw->Read(&unused)) {
    }
    return probe->rw->Finish().error_code() == grpc::StatusCode::UNAVAILABLE;
  }));
  release.Notify();

  int ok = 0, refused = 0;
  Ack ack;
  while (stream->rw->Read(&ack)) {
    if (ack.outcome() == Ack::OK) {
      ++ok;
    } else {
      EXPECT_THAT(ack.message(), HasSubstr("shutting down"));
      ++refused;
    }
  }
  EXPECT_TRUE(stream->rw->Finish().ok());
  shutdown.join();
  EXPECT_TRUE(shutdown_status.ok()) << shutdown_status;
  absl::MutexLock lock(&mu);
  EXPECT_LE(calls, 2 * kWorkers) << "read more deliveries than twice the workers";
  EXPECT_EQ(ok, calls);
  EXPECT_LE(ok + refused, kDeliveries);
}

TEST_F(ServeTest, StartRefusesBadConfiguration) {
  Router router;
  router.OnEvent("*", [](const EventContext&) { return absl::OkStatus(); });

  ServeOptions bad_name = Options();
  bad_name.subscription = "Has Spaces";
  EXPECT_EQ(HandlerServer::Start(&router, bad_name).status().code(),
            absl::StatusCode::kInvalidArgument);

  ServeOptions wildcard = Options();
  wildcard.advertise = "0.0.0.0:7000";
  auto status = HandlerServer::Start(&router, wildcard).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("never 0.0.0.0"));

  Router empty;
  EXPECT_EQ(HandlerServer::Start(&empty, Options()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(gateway_.subscribes().empty());
}

TEST_F(ServeTest, AdvertiseDefaultsToLoopbackWithTheBoundPort) {
  Router router;
  router.OnEvent("*", [](const EventContext&) { return absl::OkStatus(); });
  ServeOptions options = Options();
  options.listen = "0.0.0.0:0";
  auto server = HandlerServer::Start(&router, options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->advertise_address(), absl::StrCat("127.0.0.1:", (*server)->port()));
  EXPECT_TRUE((*server)->Shutdown().ok());

  options.advertise = "localhost";  // a host alone gets the bound port
  server = HandlerServer::Start(&router, options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->advertise_address(), absl::StrCat("localhost:", (*server)->port()));
}

TEST_F(ServeTest, ASecondServerOnTheSamePortFailsToStart) {
  Router router;
  router.OnEvent("*", [](const EventContext&) { return absl::OkStatus(); });
  auto first = HandlerServer::Start(&router, Options());
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken = absl::StrCat("127.0.0.1:", (*first)->port());

  ServeOptions options = Options();
  options.listen = taken;
  options.subscription = "another";
  auto second = HandlerServer::Start(&router, options);
  ASSERT_FALSE(second.ok()) << "a second server shares port " << taken;
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(),
              HasSubstr(absl::StrCat("cannot listen on ", taken, ": the port is in use")));
  EXPECT_EQ(gateway_.subscribes().size(), 1u);  // the second never registered
  EXPECT_EQ(ProbeDeliverStream(taken).error_code(), grpc::StatusCode::OK);
}

TEST_F(ServeTest, UnreachableGatewayFailsStartAfterTheRegisterTimeout) {
  Router router;
  router.OnEvent("*", [](const EventContext&) { return absl::OkStatus(); });
  ServeOptions options = Options();
  gateway_server_->Shutdown();
  options.register_timeout = absl::Milliseconds(200);
  auto server = HandlerServer::Start(&router, options);
  EXPECT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(), HasSubstr("registering subscription serve-test"));
}

TEST_F(ServeTest, RegistersAgainOnlyWhileNoStreamIsOpenWithoutTouchingTheSpec) {
  Router router;
  router.OnEvent("invoice.paid", [](const EventContext&) { return absl::OkStatus(); });
  ServeOptions options = Options();
  options.reregister_interval = absl::Milliseconds(5);
  auto server = HandlerServer::Start(&router, options);
  ASSERT_TRUE(server.ok()) << server.status();
  HandlerServer& s = **server;
  const auto rounds = [&] { return HandlerServerPeer::ReregisterRounds(s); };

  // No Deliver stream yet: the instance registers itself again.
  ASSERT_TRUE(Eventually([&] { return gateway_.subscribes().size() >= 2; }));
  const switchboard::v1::SubscribeRequest again = gateway_.subscribes()[1];
  EXPECT_EQ(again.subscription().name(), "serve-test");
  EXPECT_EQ(again.subscription().event_types_size(), 0) << "the repeat names only the member";
  EXPECT_EQ(again.member_address(), s.advertise_address());

  // The gateway holds a stream open: rounds pass without a registration. (The round under way
  // when the stream opened may have checked before it did.)
  auto stream = OpenStream(s);
  ASSERT_TRUE(Eventually([&] { return s.open_streams() == 1; }));
  const int64_t opened = rounds();
  ASSERT_TRUE(Eventually([&] { return rounds() >= opened + 1; }));
  const size_t registered = gateway_.subscribes().size();
  ASSERT_TRUE(Eventually([&] { return rounds() >= opened + 6; }));
  EXPECT_EQ(gateway_.subscribes().size(), registered) << "registered again with a stream open";

  // The stream ends: registrations come again.
  stream->rw->WritesDone();
  Ack unused;
  EXPECT_FALSE(stream->rw->Read(&unused));
  EXPECT_TRUE(stream->rw->Finish().ok());
  ASSERT_TRUE(Eventually([&] { return s.open_streams() == 0; }));
  EXPECT_TRUE(Eventually([&] { return gateway_.subscribes().size() > registered; }));

  EXPECT_TRUE(s.Shutdown().ok());
  const size_t after_shutdown = gateway_.subscribes().size();
  EXPECT_EQ(gateway_.unsubscribes().size(), 1u);
  EXPECT_EQ(gateway_.subscribes().size(), after_shutdown) << "no registration after Shutdown";
}

TEST_F(ServeTest, SendsTheGatewayTokenOnEveryCall) {
  Router router;
  router.OnEvent("*", [](const EventContext&) { return absl::OkStatus(); });
  ServeOptions options = Options();
  options.gateway.token = "tok_123";
  auto server = HandlerServer::Start(&router, options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE((*server)->Shutdown().ok());
  EXPECT_THAT(gateway_.authorizations(), ElementsAre("Bearer tok_123", "Bearer tok_123"));
}

TEST_F(ServeTest, RegistersOverMutualTls) {
  const std::string cert = ReadFile("tests/testdata/tls/test_server.crt");
  const std::string key = ReadFile("tests/testdata/tls/test_server.key");
  ASSERT_FALSE(cert.empty());
  // The test certificate is its own CA, for the server and the client alike.
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_key_cert_pairs.push_back({key, cert});
  ssl.pem_root_certs = cert;
  StartGateway(grpc::SslServerCredentials(ssl));

  Router router;
  router.OnEvent("*", [](const EventContext&) { return absl::OkStatus(); });
  ServeOptions options = Options();
  options.gateway.ca_file = "tests/testdata/tls/test_server.crt";
  options.register_timeout = absl::Seconds(2);
  // Without a client certificate the gateway refuses the handshake.
  EXPECT_FALSE(HandlerServer::Start(&router, options).ok());
  EXPECT_TRUE(gateway_.subscribes().empty());

  options.gateway.cert_file = "tests/testdata/tls/test_server.crt";
  options.gateway.key_file = "tests/testdata/tls/test_server.key";
  options.register_timeout = kSafety;
  auto server = HandlerServer::Start(&router, options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(gateway_.subscribes().size(), 1u);
  EXPECT_TRUE((*server)->Shutdown().ok());
  EXPECT_EQ(gateway_.unsubscribes().size(), 1u);

  options.gateway.key_file = "";
  EXPECT_EQ(HandlerServer::Start(&router, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.gateway.key_file = "/nonexistent/key.pem";
  EXPECT_EQ(HandlerServer::Start(&router, options).status().code(), absl::StatusCode::kNotFound);
}

TEST(ShutdownSignals, SigtermIsSeenByEveryLaterWait) {
  ASSERT_TRUE(InstallShutdownSignals().ok());
  ASSERT_TRUE(InstallShutdownSignals().ok());  // idempotent
  EXPECT_FALSE(WaitForShutdownSignal(absl::ZeroDuration()));
  // The handler runs inside raise(), so the signal is recorded when it returns; the process
  // survives it.
  ASSERT_EQ(::raise(SIGTERM), 0);
  EXPECT_TRUE(WaitForShutdownSignal(absl::ZeroDuration()));
  EXPECT_TRUE(WaitForShutdownSignal());
}

// The number of the system call thread `tid` of this process is blocked in; -1 when it is not
// blocked in one ("running"), -2 when the kernel does not say.
long BlockedSyscall(pid_t tid) {
  std::ifstream in(absl::StrCat("/proc/self/task/", tid, "/syscall"));
  std::string first;
  if (!(in >> first)) return -2;
  long number = -1;
  return absl::SimpleAtoi(first, &number) ? number : -1;
}

// Whether `signal` is pending for thread `tid` of this process.
bool SignalPending(pid_t tid, int signal) {
  std::ifstream in(absl::StrCat("/proc/self/task/", tid, "/status"));
  for (std::string line; std::getline(in, line);) {
    uint64_t mask = 0;
    if (line.rfind("SigPnd:", 0) == 0 &&
        absl::SimpleHexAtoi(absl::StripAsciiWhitespace(line.substr(7)), &mask)) {
      return (mask >> (signal - 1)) & 1;
    }
  }
  return false;
}

TEST(ShutdownSignals, ABlockingCallOnAWorkerThreadIsRestartedNotInterrupted) {
  // A handler function blocked in a system call (a database read) when SIGTERM arrives on its
  // thread: with SA_RESTART the call carries on; without, it fails with EINTR.
  ASSERT_TRUE(InstallShutdownSignals().ok());
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::atomic<pid_t> tid{0};
  ssize_t n = 0;
  int error = 0;
  absl::Notification returned;
  std::thread reader([&] {
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    char byte;
    n = ::read(fds[0], &byte, 1);
    error = errno;
    returned.Notify();
  });
  ASSERT_TRUE(Eventually([&] { return tid.load() != 0; }));
  if (BlockedSyscall(tid) == -2) {
    ASSERT_EQ(::write(fds[1], "x", 1), 1);
    reader.join();
    GTEST_SKIP() << "/proc/self/task/*/syscall is not available";
  }
  ASSERT_TRUE(Eventually([&] { return BlockedSyscall(tid) == SYS_read; }));
  ASSERT_EQ(::pthread_kill(reader.native_handle(), SIGTERM), 0);
  // The signal is handled once it is no longer pending; the read then either went on (the
  // thread is blocked in it again) or failed.
  ASSERT_TRUE(Eventually([&] {
    return returned.HasBeenNotified() ||
           (!SignalPending(tid, SIGTERM) && BlockedSyscall(tid) == SYS_read);
  }));
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  reader.join();
  EXPECT_EQ(n, 1) << "read failed: " << strerror(error);
  EXPECT_TRUE(WaitForShutdownSignal(absl::ZeroDuration()));
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(StartPosition, Parses) {
  EXPECT_EQ(ParseStartPosition("now")->kind, StartPosition::Kind::kNow);
  EXPECT_EQ(ParseStartPosition("beginning")->kind, StartPosition::Kind::kBeginning);
  auto at = ParseStartPosition("2024-06-01T12:00:00Z");
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(at->kind, StartPosition::Kind::kTime);
  EXPECT_EQ(at->time, absl::FromUnixSeconds(1717243200));
  EXPECT_FALSE(ParseStartPosition("yesterday").ok());
}

}  // namespace
}  // namespace switchboard::sdk
