// GrpcHandlerConnection against real in-process gRPC servers on loopback ports. Waits are
// bounded polls for an expected state (never timed assertions).
#include "server/rpc/grpc_handler_connection.h"

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/async_generic_service.h"
#include "gtest/gtest.h"
#include "protos/switchboard/v1/handler.grpc.pb.h"
#include "server/rpc/local_grpc_server.h"
#include "server/rpc/test_event_handler.h"

namespace switchboard::server::rpc {
namespace {

using ::switchboard::v1::Ack;
using ::switchboard::v1::Delivery;

constexpr absl::Duration kWait = absl::Seconds(10);

class RecordingListener final : public dispatch::HandlerConnection::Listener {
 public:
  void OnConnected(uint64_t stream) override {
    absl::MutexLock lock(&mu_);
    connected_.push_back(stream);
  }
  void OnAck(uint64_t stream, const Ack& ack) override {
    absl::MutexLock lock(&mu_);
    acks_.emplace_back(stream, ack);
  }
  void OnDisconnected(uint64_t stream, const absl::Status& status,
                      const std::vector<std::string>& unsent) override {
    absl::MutexLock lock(&mu_);
    disconnected_.emplace_back(stream, status);
    unsent_.push_back(unsent);
  }

  // The id of the `n`-th connected stream (1-based), or 0 after `timeout`.
  uint64_t WaitConnected(size_t n, absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    const auto ok = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return connected_.size() >= n; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ok), timeout)) return 0;
    return connected_[n - 1];
  }
  bool WaitAcks(size_t n, absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    const auto ok = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return acks_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&ok), timeout);
  }
  bool WaitDisconnected(size_t n, absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    const auto ok = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return disconnected_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&ok), timeout);
  }
  std::vector<std::pair<uint64_t, Ack>> acks() {
    absl::MutexLock lock(&mu_);
    return acks_;
  }
  std::vector<std::pair<uint64_t, absl::Status>> disconnected() {
    absl::MutexLock lock(&mu_);
    return disconnected_;
  }
  size_t connects() {
    absl::MutexLock lock(&mu_);
    return connected_.size();
  }
  // The unsent delivery ids each OnDisconnected reported, in order.
  std::vector<std::vector<std::string>> unsent() {
    absl::MutexLock lock(&mu_);
    return unsent_;
  }

 private:
  absl::Mutex mu_;
  std::vector<uint64_t> connected_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<uint64_t, Ack>> acks_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<uint64_t, absl::Status>> disconnected_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<std::string>> unsent_ ABSL_GUARDED_BY(mu_);
};

GrpcHandlerConnectionOptions FastOptions() {
  GrpcHandlerConnectionOptions o;
  o.initial_backoff = absl::Milliseconds(50);
  o.max_backoff = absl::Milliseconds(200);
  o.settle = absl::Milliseconds(50);
  o.close_grace = absl::Milliseconds(500);
  return o;
}

dispatch::EncodedDelivery MakeDelivery(int i) {
  Delivery d;
  d.set_delivery_id(absl::StrCat("d", i));
  d.set_attempt(1);
  d.set_subscription("s");
  d.mutable_event()->set_id(absl::StrCat("evt_", i));
  return dispatch::EncodedDelivery::FromDelivery(d);
}

TEST(GrpcHandlerConnection, SendsThroughTheOutboxAndReportsAcksInOrder) {
  auto handler = TestEventHandler::Start({});
  ASSERT_NE(handler, nullptr);
  GrpcHandlerConnectionFactory factory(FastOptions());
  RecordingListener listener;
  auto connection = factory.Connect(handler->address(), &listener);
  const uint64_t stream = listener.WaitConnected(1);
  ASSERT_NE(stream, 0u);
  EXPECT_TRUE(connection->connected());
  constexpr int kCount = 300;  // far more than one write in flight: the outbox queues them
  for (int i = 0; i < kCount; ++i) ASSERT_TRUE(connection->Send(stream, MakeDelivery(i)));
  ASSERT_TRUE(listener.WaitAcks(kCount));
  const auto acks = listener.acks();
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ(acks[i].first, stream);
    EXPECT_EQ(acks[i].second.delivery_id(), absl::StrCat("d", i));
    EXPECT_EQ(acks[i].second.outcome(), Ack::OK);
  }
  EXPECT_FALSE(connection->Send(stream + 1, MakeDelivery(0)));  // not that stream
}

std::string ReadTestFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST(GrpcHandlerConnection, DeliversOverTlsAndRefusesAnUntrustedHandler) {
  const std::string cert = ReadTestFile("tests/testdata/tls/test_server.crt");
  const std::string key = ReadTestFile("tests/testdata/tls/test_server.key");
  ASSERT_FALSE(cert.empty());
  grpc::SslServerCredentialsOptions server_tls;
  server_tls.pem_key_cert_pairs.push_back({key, cert});
  TestEventHandler::Options options;
  options.credentials = grpc::SslServerCredentials(server_tls);
  auto handler = TestEventHandler::Start(options);
  ASSERT_NE(handler, nullptr);

  GrpcHandlerConnectionOptions trusting = FastOptions();
  grpc::SslCredentialsOptions client_tls;
  client_tls.pem_root_certs = cert;  // the handler's certificate is its own CA
  trusting.credentials = grpc::SslCredentials(client_tls);
  GrpcHandlerConnectionFactory factory(trusting);
  RecordingListener listener;
  auto connection = factory.Connect(handler->address(), &listener);
  const uint64_t stream = listener.WaitConnected(1);
  ASSERT_NE(stream, 0u);
  ASSERT_TRUE(connection->Send(stream, MakeDelivery(1)));
  ASSERT_TRUE(listener.WaitAcks(1));
  EXPECT_EQ(listener.acks()[0].second.outcome(), Ack::OK);

  // Plaintext to a TLS handler never connects, so nothing is sent in the clear.
  GrpcHandlerConnectionOptions plain = FastOptions();
  plain.settle = absl::Milliseconds(50);
  GrpcHandlerConnectionFactory plain_factory(plain);
  RecordingListener plain_listener;
  auto plain_connection = plain_factory.Connect(handler->address(), &plain_listener);
  EXPECT_EQ(plain_listener.WaitConnected(1, absl::Milliseconds(500)), 0u);
  EXPECT_EQ(handler->received().size(), 1u);
}

TEST(GrpcHandlerConnection, ConnectsAtOnceWhenTheHandlerSendsMetadataFirst) {
  TestEventHandler::Options options;
  options.send_metadata_first = true;
  auto handler = TestEventHandler::Start(options);
  ASSERT_NE(handler, nullptr);
  GrpcHandlerConnectionOptions o = FastOptions();
  o.settle = absl::Hours(1);  // only the metadata can report the stream up
  GrpcHandlerConnectionFactory factory(o);
  RecordingListener listener;
  auto connection = factory.Connect(handler->address(), &listener);
  EXPECT_NE(listener.WaitConnected(1), 0u);
}

TEST(GrpcHandlerConnection, NeverReportsAServerWithoutTheService) {
  // A gRPC server that is not a handler: every Deliver call ends UNIMPLEMENTED at once.
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  grpc::CallbackGenericService generic;  // answers UNIMPLEMENTED
  builder.RegisterCallbackGenericService(&generic);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  GrpcHandlerConnectionFactory factory(FastOptions());
  RecordingListener listener;
  auto connection = factory.Connect(absl::StrCat("127.0.0.1:", port), &listener);
  EXPECT_EQ(listener.WaitConnected(1, absl::Seconds(1)), 0u);
  EXPECT_FALSE(connection->Send(1, MakeDelivery(0)));
  connection.reset();
  server->Shutdown();
}

TEST(GrpcHandlerConnection, WaitsForAHandlerThatIsDownThenConnects) {
  // Take a free port, then free it: nothing listens there.
  int port = 0;
  {
    auto probe = TestEventHandler::Start({});
    ASSERT_NE(probe, nullptr);
    port = probe->port();
  }
  GrpcHandlerConnectionFactory factory(FastOptions());
  RecordingListener listener;
  auto connection = factory.Connect(absl::StrCat("127.0.0.1:", port), &listener);
  EXPECT_EQ(listener.WaitConnected(1, absl::Milliseconds(500)), 0u);
  EXPECT_TRUE(listener.disconnected().empty());  // never up, so never "down" either
  TestEventHandler::Options options;
  options.port = port;
  auto handler = TestEventHandler::Start(options);
  ASSERT_NE(handler, nullptr);
  connection->ResetBackoff();
  const uint64_t stream = listener.WaitConnected(1);
  ASSERT_NE(stream, 0u);
  ASSERT_TRUE(connection->Send(stream, MakeDelivery(1)));
  EXPECT_TRUE(listener.WaitAcks(1));
}

TEST(GrpcHandlerConnection, ReconnectsAfterTheHandlerRestarts) {
  auto handler = TestEventHandler::Start({});
  ASSERT_NE(handler, nullptr);
  const int port = handler->port();
  GrpcHandlerConnectionFactory factory(FastOptions());
  RecordingListener listener;
  auto connection = factory.Connect(handler->address(), &listener);
  const uint64_t first = listener.WaitConnected(1);
  ASSERT_NE(first, 0u);
  handler->Shutdown();
  ASSERT_TRUE(listener.WaitDisconnected(1));
  EXPECT_EQ(listener.disconnected()[0].first, first);
  EXPECT_FALSE(connection->Send(first, MakeDelivery(1)));

  TestEventHandler::Options options;
  options.port = port;
  handler = TestEventHandler::Start(options);
  ASSERT_NE(handler, nullptr);
  const uint64_t second = listener.WaitConnected(2);
  ASSERT_NE(second, 0u);
  EXPECT_GT(second, first);
  ASSERT_TRUE(connection->Send(second, MakeDelivery(2)));
  ASSERT_TRUE(listener.WaitAcks(1));
  EXPECT_EQ(listener.acks()[0].first, second);
}

// Writes bytes that are not an Ack as soon as a stream opens.
class GarbageService final : public grpc::CallbackGenericService {
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    class Reactor final : public grpc::ServerGenericBidiReactor {
     public:
      Reactor() {
        const char junk[] = "\xff\xff\xff\xff\x0f not a protobuf";
        grpc::Slice slice(junk, sizeof(junk) - 1);
        out_ = grpc::ByteBuffer(&slice, 1);
        StartWrite(&out_);
      }
      void OnWriteDone(bool ok) override {
        if (ok) {
          StartRead(&in_);
        } else {
          Finish(grpc::Status::OK);
        }
      }
      void OnReadDone(bool ok) override {
        if (ok) {
          StartRead(&in_);
        } else {
          Finish(grpc::Status::OK);
        }
      }
      void OnDone() override { delete this; }

     private:
      grpc::ByteBuffer out_;
      grpc::ByteBuffer in_;
    };
    return new Reactor();
  }
};

TEST(GrpcHandlerConnection, GarbageFromTheHandlerEndsThatStreamAndNothingElse) {
  GarbageService garbage;
  int port = 0;
  std::unique_ptr<grpc::Server> server = StartLocalServer(&garbage, &port);
  ASSERT_NE(server, nullptr);
  GrpcHandlerConnectionFactory factory(FastOptions());
  RecordingListener listener;
  auto connection = factory.Connect(absl::StrCat("127.0.0.1:", port), &listener);
  // The junk arrives with the stream's metadata (so it is up), then fails to parse: the stream
  // ends with an error, no Ack is reported, and the connection keeps trying.
  ASSERT_TRUE(listener.WaitDisconnected(2));
  EXPECT_TRUE(listener.acks().empty());
  EXPECT_FALSE(listener.disconnected()[0].second.ok());
  connection.reset();
  server->Shutdown();
}

// Opens streams (initial metadata at once) and never reads from them.
class NeverReadsService final : public grpc::CallbackGenericService {
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    class Reactor final : public grpc::ServerGenericBidiReactor {
     public:
      Reactor() { StartSendInitialMetadata(); }
      void OnCancel() override { Finish(grpc::Status::CANCELLED); }
      void OnDone() override { delete this; }
    };
    return new Reactor();
  }
};

// A delivery whose event carries `bytes` of raw JSON.
dispatch::EncodedDelivery SizedDelivery(const std::string& id, size_t bytes) {
  Delivery d;
  d.set_delivery_id(id);
  d.mutable_event()->set_raw_json(std::string(bytes, 'x'));
  return dispatch::EncodedDelivery::FromDelivery(d);
}

// A connection to a handler that opens streams and never reads them.
class NeverReadingHandlerTest : public ::testing::Test {
 protected:
  // Starts the handler and connects with `options`; stream_ is the first stream. With
  // `never_drains` a write bigger than 64 KB can never finish: without BDP probing the stream
  // window stays at HTTP/2's 64 KB, and a stream that is never read grants no more, whatever
  // the timing.
  void Connect(const GrpcHandlerConnectionOptions& options, bool never_drains) {
    int port = 0;
    std::map<std::string, int> args;
    if (never_drains) args[GRPC_ARG_HTTP2_BDP_PROBE] = 0;
    server_ = StartLocalServer(&service_, &port, args);
    ASSERT_NE(server_, nullptr);
    factory_ = std::make_unique<GrpcHandlerConnectionFactory>(options);
    connection_ = factory_->Connect(absl::StrCat("127.0.0.1:", port), &listener_);
    stream_ = listener_.WaitConnected(1);
    ASSERT_NE(stream_, 0u);
  }
  void TearDown() override {
    connection_.reset();
    if (server_ != nullptr) server_->Shutdown();
  }

  NeverReadsService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<GrpcHandlerConnectionFactory> factory_;
  RecordingListener listener_;
  std::unique_ptr<dispatch::HandlerConnection> connection_;
  uint64_t stream_ = 0;
};

TEST_F(NeverReadingHandlerTest, RestartsAStreamThatTakesDeliveriesWithoutAcking) {
  GrpcHandlerConnectionOptions options = FastOptions();
  options.max_unacked_bytes = 64 << 10;
  options.not_acking_after = absl::ZeroDuration();
  ASSERT_NO_FATAL_FAILURE(Connect(options, /*never_drains=*/false));
  for (int i = 0; i < 8; ++i) {
    connection_->Send(stream_, SizedDelivery(absl::StrCat("d", i), 16 << 10));
  }
  // Past 64 KB without an Ack the stream is cancelled and a new one opens.
  ASSERT_TRUE(listener_.WaitDisconnected(1));
  EXPECT_FALSE(listener_.disconnected()[0].second.ok());
  EXPECT_GT(listener_.WaitConnected(2), stream_);
}

TEST_F(NeverReadingHandlerTest, WithdrawTakesBackOnlyADeliveryStillQueuedUnsent) {
  ASSERT_NO_FATAL_FAILURE(Connect(FastOptions(), /*never_drains=*/true));
  ASSERT_TRUE(connection_->Send(stream_, SizedDelivery("big", 1 << 20)));
  ASSERT_TRUE(connection_->Send(stream_, MakeDelivery(1)));  // queued behind the write in flight
  ASSERT_TRUE(connection_->Send(stream_, MakeDelivery(2)));
  EXPECT_FALSE(connection_->Withdraw(stream_, "big"));     // its write has started
  EXPECT_FALSE(connection_->Withdraw(stream_ + 1, "d1"));  // not that stream
  EXPECT_FALSE(connection_->Withdraw(stream_, "d9"));      // no such delivery
  EXPECT_TRUE(connection_->Withdraw(stream_, "d2"));
  EXPECT_FALSE(connection_->Withdraw(stream_, "d2"));  // taken back already
  EXPECT_TRUE(connection_->Withdraw(stream_, "d1"));
  EXPECT_TRUE(listener_.disconnected().empty());
}

TEST_F(NeverReadingHandlerTest, RestartsAStreamWhoseQueuedDeliveryTimedOutBehindAStalledWrite) {
  GrpcHandlerConnectionOptions options = FastOptions();
  options.max_unacked_bytes = int64_t{1} << 40;  // only the stalled-write rule can restart it
  options.not_acking_after = absl::ZeroDuration();
  // The 1 MB write can never finish, so the byte rule is never checked again.
  ASSERT_NO_FATAL_FAILURE(Connect(options, /*never_drains=*/true));
  ASSERT_TRUE(connection_->Send(stream_, SizedDelivery("big", 1 << 20)));
  ASSERT_TRUE(connection_->Send(stream_, MakeDelivery(1)));
  ASSERT_TRUE(connection_->Send(stream_, MakeDelivery(2)));
  EXPECT_TRUE(listener_.disconnected().empty());
  // The dispatcher withdraws d1 at its timeout: the stream is cancelled and a new one opens.
  EXPECT_TRUE(connection_->Withdraw(stream_, "d1"));
  // The cancelled stream takes nothing more (the dispatcher keeps it for the next stream).
  EXPECT_FALSE(connection_->Send(stream_, MakeDelivery(3)));
  ASSERT_TRUE(listener_.WaitDisconnected(1));
  EXPECT_FALSE(listener_.disconnected()[0].second.ok());
  // d2 was still queued, never written: named as unsent, so it costs no attempt. "big" was
  // being written: it may have reached the handler.
  EXPECT_THAT(listener_.unsent()[0], ::testing::ElementsAre("d2"));
  EXPECT_GT(listener_.WaitConnected(2), stream_);
}

TEST(GrpcHandlerConnection, KeepsAStreamPastTheByteLimitWhileItsHandlerIsNotLateToAck) {
  // A healthy handler that acks every delivery, with the byte limit far below one delivery:
  // only bytes, without the time condition, would cut it off on the first write.
  auto handler = TestEventHandler::Start({});
  ASSERT_NE(handler, nullptr);
  GrpcHandlerConnectionOptions options = FastOptions();
  options.max_unacked_bytes = 1 << 10;
  options.not_acking_after = absl::Hours(1);
  GrpcHandlerConnectionFactory factory(options);
  RecordingListener listener;
  auto connection = factory.Connect(handler->address(), &listener);
  const uint64_t stream = listener.WaitConnected(1);
  ASSERT_NE(stream, 0u);
  constexpr int kCount = 8;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(connection->Send(stream, SizedDelivery(absl::StrCat("d", i), 16 << 10)));
  }
  ASSERT_TRUE(listener.WaitAcks(kCount));
  for (const auto& [acked_stream, ack] : listener.acks()) EXPECT_EQ(acked_stream, stream);
  EXPECT_TRUE(connection->connected());
}

TEST(GrpcHandlerConnection, DestroyingHalfClosesSoTheHandlerSeesACleanEnd) {
  auto handler = TestEventHandler::Start({});
  ASSERT_NE(handler, nullptr);
  GrpcHandlerConnectionFactory factory(FastOptions());
  RecordingListener listener;
  auto connection = factory.Connect(handler->address(), &listener);
  ASSERT_NE(listener.WaitConnected(1), 0u);
  ASSERT_TRUE(handler->WaitForOpenStreams(1, kWait));
  connection.reset();
  EXPECT_TRUE(handler->WaitForOpenStreams(0, kWait));
  EXPECT_EQ(handler->clean_ends(), 1);
}

TEST(GrpcHandlerConnection, ChannelArgsConfigureKeepaliveForAnOpenStreamOnly) {
  GrpcHandlerConnectionOptions o;
  o.keepalive = absl::Seconds(30);
  const grpc::ChannelArguments args = GrpcHandlerConnectionFactory::ChannelArgs(o);
  const grpc_channel_args c = args.c_channel_args();
  std::map<std::string, int> ints;
  for (size_t i = 0; i < c.num_args; ++i) {
    if (c.args[i].type == GRPC_ARG_INTEGER) ints[c.args[i].key] = c.args[i].value.integer;
  }
  EXPECT_EQ(ints[GRPC_ARG_KEEPALIVE_TIME_MS], 30000);
  EXPECT_EQ(ints[GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS], 0);
  EXPECT_EQ(ints[GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA], 0);
}

// What docs/DELIVERY.md warns about, shown with a 1 s keepalive so the test is short: a handler
// that permits the gateway's ping rate keeps its idle stream; one left at gRPC 1.51's default
// (pings no more often than every 5 min without data) closes the connection after a few pings.
TEST(GrpcHandlerConnection, KeepaliveNeedsTheHandlerToPermitThePingRate) {
  GrpcHandlerConnectionOptions o = FastOptions();
  o.keepalive = absl::Seconds(1);
  GrpcHandlerConnectionFactory factory(o);

  TestEventHandler::Options permits;
  permits.min_ping_interval_ms = 500;
  auto good = TestEventHandler::Start(permits);
  ASSERT_NE(good, nullptr);
  RecordingListener good_listener;
  auto good_connection = factory.Connect(good->address(), &good_listener);
  const uint64_t stream = good_listener.WaitConnected(1);
  ASSERT_NE(stream, 0u);

  TestEventHandler::Options strict;
  strict.min_ping_interval_ms = 0;  // gRPC's default
  auto bad = TestEventHandler::Start(strict);
  ASSERT_NE(bad, nullptr);
  RecordingListener bad_listener;
  auto bad_connection = factory.Connect(bad->address(), &bad_listener);
  ASSERT_NE(bad_listener.WaitConnected(1), 0u);

  // Several idle ping intervals.
  EXPECT_TRUE(bad_listener.WaitDisconnected(1, absl::Seconds(15)));
  EXPECT_TRUE(good_listener.disconnected().empty());
  ASSERT_TRUE(good_connection->Send(stream, MakeDelivery(1)));
  EXPECT_TRUE(good_listener.WaitAcks(1));
}

}  // namespace
}  // namespace switchboard::server::rpc
