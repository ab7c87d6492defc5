// GrpcHandlerConnection: the gateway's switchboard.v1.EventHandler.Deliver stream to one member
// (a handler instance), implementing dispatch::HandlerConnection. The gateway is the gRPC
// CLIENT here: it dials the member's advertised address and keeps one long-lived bidi stream,
// writing Delivery messages and reading Acks.
//
// Uses gRPC's callback API (grpc::ClientBidiReactor), as STYLE.md recommends for streaming: no
// thread per stream, and the dispatcher never blocks on the network.
//   - One write in flight: Send() puts the delivery in an outbox; the next write starts from
//     OnWriteDone. A write with more queued behind it carries WriteOptions::set_buffer_hint(),
//     so a burst leaves in a few large TCP writes. Deliveries go out as their encoded bytes
//     (dispatch::EncodedDelivery, through grpc::GenericStub): the event is neither copied nor
//     serialized again. One read is always outstanding; each Ack goes to the Listener.
//     Withdraw takes a delivery back (true) only while it waits in the outbox, never once its
//     write has started.
//   - Reactions never block: they take the connection's mutex briefly and call the Listener,
//     whose contract is to be quick (the Dispatcher only queues the event). Start*/RemoveHold
//     may be called with the mutex held because gRPC never runs a reaction inline here.
//   - A hold keeps the call alive while Send() may still start writes; it is released when the
//     read side ends. A reactor is deleted in its own OnDone and never touched afterwards.
//   - "Connected" is reported when the handler sends its initial metadata, or when the stream
//     has stayed open for `settle` on a READY channel (handlers need not send metadata before
//     their first Ack). A stream the handler refuses at once (UNIMPLEMENTED, UNAVAILABLE while
//     draining, nothing listening) is never reported, so no delivery is spent on it.
//   - When a stream ends it reconnects after a jittered exponential backoff (initial_backoff
//     doubling to max_backoff; reset once a stream has lived for a minute) until closed.
//   - Keepalive (see ChannelArgs): pings every `keepalive` while a stream is open, none without
//     one; the handler's server must permit pings that often (docs/DELIVERY.md, "Keepalive").
//   - Garbage from the handler (a message that does not parse, one over max_ack_bytes) ends
//     that stream with an error status; the connection reconnects; nothing crashes. Acks with
//     unknown delivery ids are the Dispatcher's business (ignored and counted there).
//
// Example:
//   GrpcHandlerConnectionFactory factory(GrpcHandlerConnectionFactory::Options{});
//   dispatch_deps.connections = &factory;  // the Dispatcher calls factory.Connect(address, ...)
//
// Thread-safety: all methods of both classes may be called from any thread.
#ifndef SWITCHBOARD_SERVER_RPC_GRPC_HANDLER_CONNECTION_H_
#define SWITCHBOARD_SERVER_RPC_GRPC_HANDLER_CONNECTION_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/alarm.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "protos/switchboard/v1/handler.grpc.pb.h"
#include "server/dispatch/handler_connection.h"

namespace switchboard::server::rpc {

struct GrpcHandlerConnectionOptions {
  // HTTP/2 keepalive ping interval while a stream is open (Config.delivery.keepalive_ms). The
  // handler's server must allow pings this often:
  // GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS
  // <= this (the SDK allows 10 s).
  absl::Duration keepalive = absl::Seconds(30);
  // A ping unanswered this long closes the connection (a dead handler is noticed).
  absl::Duration keepalive_timeout = absl::Seconds(10);
  // Reconnect backoff (jittered: each wait is uniform in [backoff/2, backoff]).
  absl::Duration initial_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(10);
  // See the file comment ("Connected").
  absl::Duration settle = absl::Milliseconds(100);
  // How long the destructor lets a half-closed stream finish before cancelling it.
  absl::Duration close_grace = absl::Seconds(1);
  // Largest Ack accepted (a bigger message ends the stream).
  int max_ack_bytes = 64 << 10;
  // A stream that took more than max_unacked_bytes of deliveries without a single Ack coming
  // back, and has had no Ack for not_acking_after (counted from the stream's start before its
  // first Ack), is restarted (cancelled, then reconnected): gRPC accepts writes beyond what a
  // handler that stopped reading takes in, and keeps them until the call ends, so retries
  // re-sent to such a handler would otherwise grow the gateway's memory without bound. Both
  // conditions, so that a healthy handler whose first calls are slow while a burst of large
  // events (deliveries can be MBs each) goes out is not cut off and charged an attempt for
  // each of them. The same restart happens when a delivery times out still queued behind a
  // write that never finished (flow control: the handler stopped reading) and there has been no
  // Ack for not_acking_after.
  int64_t max_unacked_bytes = int64_t{16} << 20;
  absl::Duration not_acking_after = absl::Seconds(30);
  // Channel credentials for dialing handlers (Config.handler_tls): null means plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

class GrpcHandlerConnection final : public dispatch::HandlerConnection {
 public:
  // Starts connecting at once. `listener` must outlive this object.
  GrpcHandlerConnection(std::string address, std::shared_ptr<grpc::Channel> channel,
                        Listener* listener, const GrpcHandlerConnectionOptions& options);
  ~GrpcHandlerConnection() override;
  GrpcHandlerConnection(const GrpcHandlerConnection&) = delete;
  GrpcHandlerConnection& operator=(const GrpcHandlerConnection&) = delete;

  // dispatch::HandlerConnection.
  const std::string& address() const override { return address_; }
  bool connected() const override;
  bool Send(uint64_t stream, dispatch::EncodedDelivery delivery) override;
  bool Withdraw(uint64_t stream, const std::string& delivery_id) override;
  void ResetBackoff() override;
  void Close() override;

 private:
  class Call;
  enum class State { kBackoff, kStarting, kConnected, kClosed };
  enum class TimerKind { kSettle, kReconnect };

  void StartCallLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Arms the one timer; the previous alarm (cancelled by its destruction) goes to *stale, for
  // the caller to destroy once mu_ is released.
  void ArmTimerLocked(absl::Duration after, TimerKind kind, std::unique_ptr<grpc::Alarm>* stale)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void BecomeConnectedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts writing the first delivery of the outbox on `call`. REQUIRES: outbox not empty, no
  // write in flight.
  void StartNextWriteLocked(Call* call) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cancels `call` (it reconnects) unless it ended, was cancelled so already, or had an Ack
  // within not_acking_after; logs handler_not_acking with `reason`.
  void MaybeRestartNotAckingLocked(Call* call, absl::string_view reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Reactions of the current Call and of the timer.
  void OnInitialMetadata(Call* call, bool ok);
  void OnReadDone(Call* call, bool ok);
  void OnWriteDone(Call* call, bool ok);
  void OnCallDone(Call* call, const grpc::Status& status);
  // The last thing a Call does, after deleting itself.
  void CallFinished();
  void OnTimer(uint64_t id, TimerKind kind, bool fired);

  const std::string address_;
  const std::shared_ptr<grpc::Channel> channel_;
  // EventHandler.Deliver through the generic stub: deliveries go out as already-encoded bytes
  // (the same messages the generated stub would send) and acks are parsed here.
  grpc::GenericStub stub_;
  Listener* const listener_;
  const GrpcHandlerConnectionOptions options_;

  mutable absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kBackoff;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t stream_ ABSL_GUARDED_BY(mu_) = 0;
  // The current call; it deletes itself in OnDone.
  Call* call_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Time connected_at_ ABSL_GUARDED_BY(mu_);  // base::MonotonicNow(), as is last_ack_
  // Calls and timers whose last callback has not finished; the destructor waits for zero.
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<grpc::Alarm> timer_ ABSL_GUARDED_BY(mu_);
  uint64_t timer_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_);
  absl::BitGen jitter_ ABSL_GUARDED_BY(mu_);
  bool unreachable_logged_ ABSL_GUARDED_BY(mu_) = false;
  // The current call's outbox: deliveries waiting for the one write in flight to finish (and,
  // once a write failed, those that will never be written: OnDisconnected names them).
  std::deque<dispatch::EncodedDelivery> outbox_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // Bytes written on the current call since its last Ack (see max_unacked_bytes).
  int64_t unacked_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_ack_ ABSL_GUARDED_BY(mu_);  // or the stream's start, before its first Ack
};

class GrpcHandlerConnectionFactory final : public dispatch::HandlerConnectionFactory {
 public:
  explicit GrpcHandlerConnectionFactory(GrpcHandlerConnectionOptions options) : options_(options) {}

  // A GrpcHandlerConnection to `address`; members at one address share a channel.
  std::unique_ptr<dispatch::HandlerConnection> Connect(
      const std::string& address, dispatch::HandlerConnection::Listener* listener) override;

  // The channel arguments the gateway dials handlers with: keepalive every options.keepalive
  // while a stream is open (GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS = 0: a member always has its
  // Deliver stream open, and pings without a call would count as bad pings at a server that
  // does not permit them), unlimited pings without data (GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA =
  // 0: an idle stream stays watched), reconnect backoff, and the Ack size limit.
  static grpc::ChannelArguments ChannelArgs(const GrpcHandlerConnectionOptions& options);

 private:
  const GrpcHandlerConnectionOptions options_;
  absl::Mutex mu_;
  std::map<std::string, std::weak_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::server::rpc

#endif  // SWITCHBOARD_SERVER_RPC_GRPC_HANDLER_CONNECTION_H_
