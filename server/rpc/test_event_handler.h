// TestEventHandler: a tiny in-process switchboard.v1.EventHandler server (gRPC sync API, one
// thread per stream: the simplest correct thing for a test) for tests of the gateway's delivery
// client. It records every Delivery and answers each with the Ack a test-supplied function
// decides (OK by default). Like the SDK's server it permits keepalive pings every 10 s.
//
// Example:
//   auto handler = TestEventHandler::Start(0, [](const Delivery& d) { return Ok(d); });
//   ... subscribe with member_address = handler->address() ...
//   ASSERT_TRUE(handler->WaitForReceived(3, absl::Seconds(10)));
//
// Thread-safety: all methods may be called from any thread.
#ifndef SWITCHBOARD_SERVER_RPC_TEST_EVENT_HANDLER_H_
#define SWITCHBOARD_SERVER_RPC_TEST_EVENT_HANDLER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "protos/switchboard/v1/handler.grpc.pb.h"

namespace switchboard::server::rpc {

class TestEventHandler {
 public:
  using Decide = std::function<switchboard::v1::Ack(const switchboard::v1::Delivery&)>;

  struct Options {
    int port = 0;   // 0 picks a free one
    Decide decide;  // null: every delivery is acked OK
    // Send initial metadata as soon as a stream opens (the SDK's server does not have to).
    bool send_metadata_first = false;
    // GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS (the SDK permits 10 s); 0 leaves
    // gRPC's default (5 min), which closes connections of a gateway pinging every 30 s.
    int min_ping_interval_ms = 10000;
    // TLS server credentials; null means plaintext.
    std::shared_ptr<grpc::ServerCredentials> credentials;
  };

  // nullptr when the port cannot be bound.
  static std::unique_ptr<TestEventHandler> Start(Options options);
  ~TestEventHandler();

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  std::vector<switchboard::v1::Delivery> received() const;
  // True once at least `n` deliveries arrived (false after `timeout`).
  bool WaitForReceived(size_t n, absl::Duration timeout) const;
  int open_streams() const;
  // Streams whose input ended without a cancellation (the gateway half-closed).
  int clean_ends() const;
  bool WaitForOpenStreams(int n, absl::Duration timeout) const;

  // Stops serving (cancelling open streams). Idempotent.
  void Shutdown();

 private:
  class Service;
  TestEventHandler() = default;

  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  mutable absl::Mutex mu_;
  std::vector<switchboard::v1::Delivery> received_ ABSL_GUARDED_BY(mu_);
  int open_streams_ ABSL_GUARDED_BY(mu_) = 0;
  int clean_ends_ ABSL_GUARDED_BY(mu_) = 0;
};

// An Ack for `d` with `outcome`.
switchboard::v1::Ack AckFor(const switchboard::v1::Delivery& d,
                            switchboard::v1::Ack::Outcome outcome, const std::string& message = "");

}  // namespace switchboard::server::rpc

#endif  // SWITCHBOARD_SERVER_RPC_TEST_EVENT_HANDLER_H_
