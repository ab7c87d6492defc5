// Serve: runs a Router as a handler service: the switchboard.v1.EventHandler gRPC server the
// gateway streams deliveries to, plus the registration of its subscription with the gateway.
//
// On start, Serve (or HandlerServer::Start):
//   1. checks the router (a bad registration fails here, with every problem listed);
//   2. listens on `listen` (port 0 picks a free port; a port already in use fails the start:
//      no SO_REUSEPORT sharing with another process) with the gRPC callback API: each Deliver
//      stream is a reactor with one write in flight; handler functions run on a pool of
//      `workers` threads, never on gRPC's threads (see sdk/internal/deliver_service.h);
//   3. calls Gateway.Subscribe: creates or updates the subscription `subscription` with these
//      options, adds the router's event types to the ones it has (add_event_types: an older
//      instance restarting during a rolling deploy never narrows the types a newer one
//      registered; removing a type takes an explicit update, docs/HANDLERS.md), and registers
//      this instance as a member at `advertise` (default 127.0.0.1:<bound port>). Instances of
//      one handler that use the same subscription name share its deliveries.
// Then the gateway dials the member and streams matching events; each is acknowledged from the
// handler function's status (sdk/router.h, sdk/status.h). While no stream is open, the instance
// registers itself again every `reregister_interval` (a gateway that lost track of it, e.g.
// after it was unreachable for longer than the gateway's member grace, takes it back).
//
// On SIGTERM or SIGINT, Serve leaves and drains: it calls Gateway.Unsubscribe for this member
// first (the subscription stays; the gateway stops sending here and other members take the
// traffic), then stops taking deliveries (any that still arrive are answered RETRY "handler
// shutting down"), lets running handler calls finish and sends their acks, closes the streams,
// and returns. Calls still running after drain_timeout are abandoned, not waited for
// (HandlerServer::Shutdown).
//
// Keepalive: the gateway pings its handler connections every 30 s; the server here permits
// client pings every 10 s, even without calls (gRPC 1.51's default would close the connection
// after a few pings).
//
// Example (a whole handler binary; sdk/flags.h fills the options from --gateway etc.):
//   int main(int argc, char** argv) {
//     absl::ParseCommandLine(argc, argv);
//     sdk::Router router;
//     router.OnEvent("*", [](const sdk::EventContext& ctx) { return absl::OkStatus(); });
//     sdk::ServeOptions options;
//     options.subscription = "audit";
//     absl::Status status = sdk::Serve(router, options);  // blocks until SIGTERM
//     return status.ok() ? 0 : 1;
//   }
//
// Thread-safety: HandlerServer's methods may be called from any thread; Shutdown is idempotent
// (a second call waits for the first and returns its result).
#ifndef SWITCHBOARD_SDK_SERVE_H_
#define SWITCHBOARD_SDK_SERVE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sdk/gateway_client.h"
#include "sdk/router.h"

namespace grpc {
class Channel;
class Server;
}  // namespace grpc

namespace switchboard::sdk {

namespace internal {
class DeliverService;
class WorkerPool;
}  // namespace internal

// Where a new subscription starts (ignored when the subscription already exists: it keeps its
// position).
struct StartPosition {
  enum class Kind { kNow, kBeginning, kTime };
  Kind kind = Kind::kNow;
  absl::Time time;  // kTime only

  // Only events received from now on (the default).
  static StartPosition Now() { return {}; }
  // Every stored event.
  static StartPosition Beginning() { return {Kind::kBeginning, {}}; }
  // Events received at or after `t` that are still stored.
  static StartPosition At(absl::Time t) { return {Kind::kTime, t}; }
};

// Parses "now", "beginning" or an RFC 3339 time. kInvalidArgument otherwise.
absl::StatusOr<StartPosition> ParseStartPosition(absl::string_view text);

// Retry policy of the subscription. Zero values mean the gateway's defaults (1 s initial
// backoff doubling to 10 min, with full jitter; dead letter after 3 days).
struct RetryPolicy {
  absl::Duration initial_backoff = absl::ZeroDuration();
  absl::Duration max_backoff = absl::ZeroDuration();
  absl::Duration max_age = absl::ZeroDuration();
  int max_attempts = 0;  // 0: only max_age limits
};

struct ServeOptions {
  // The gateway's gRPC API: address (default 127.0.0.1:50051), token, TLS.
  GatewayClientOptions gateway;
  // The subscription's name ([a-z0-9_.-]{1,64}). Required.
  std::string subscription;
  // Where this instance listens for the gateway: host:port, port 0 picks a free one.
  std::string listen = "127.0.0.1:0";
  // host:port the gateway dials. Default: the listen host (127.0.0.1 when it listens on all
  // interfaces) with the bound port. A host without a port gets the bound port. Never
  // 0.0.0.0 or [::].
  std::string advertise;
  // TLS for the gateway's connections to this instance (cert and key together). With
  // tls_client_ca_file the gateway must present a client certificate signed by it (mTLS); the
  // gateway's side is Config.handler_tls.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;

  // Subscription settings (sent with Subscribe; 0 / unset means the gateway's default).
  int max_in_flight = 0;  // unacknowledged deliveries at once over all members (default 32)
  StartPosition start;
  RetryPolicy retry_policy;
  absl::Duration delivery_timeout = absl::ZeroDuration();  // default 30 s
  bool per_object_ordering = false;
  std::optional<bool> livemode;       // only live or only test events
  std::vector<std::string> accounts;  // only these Connect accounts

  // Handler functions running at once in this instance.
  int workers = 8;
  // How long Subscribe waits for the gateway at start (it may be starting too).
  absl::Duration register_timeout = absl::Seconds(30);
  // While no Deliver stream is open, this instance registers itself again this often (the
  // gateway drops a member it could not reach for a while; this brings it back). The repeat
  // names only the member, so it never overwrites the subscription's settings. 0: never.
  absl::Duration reregister_interval = absl::Seconds(30);
  // How long a drain waits for running handler calls before closing the streams anyway.
  absl::Duration drain_timeout = absl::Seconds(30);
};

class HandlerServer {
 public:
  // Checks the router and the options, starts listening, and registers with the gateway.
  // kInvalidArgument for a bad registration or option (the message says which);
  // kUnavailable when it cannot listen; DialGateway's errors (an unreadable TLS file); the
  // gateway's error (often kUnavailable, kUnauthenticated for a missing token, or
  // kDeadlineExceeded after register_timeout) when Subscribe fails.
  // `router` must outlive the server, and any handler call Shutdown gave up on.
  static absl::StatusOr<std::unique_ptr<HandlerServer>> Start(const Router* router,
                                                              ServeOptions options);

  // Shutdown() if it was not called.
  ~HandlerServer();
  HandlerServer(const HandlerServer&) = delete;
  HandlerServer& operator=(const HandlerServer&) = delete;

  // Unsubscribes this member, drains (see the file comment) and stops the server. Returns
  // within about drain_timeout (plus at most 5 s each for a re-registration under way and for
  // the Unsubscribe call). OK when every running handler call finished within drain_timeout;
  // kDeadlineExceeded otherwise: the streams are closed anyway (the gateway retries their
  // deliveries), and a call still running is not waited for: it keeps its worker thread until
  // it returns, and its ack is dropped. The router, and whatever such a call touches, must
  // outlive it (a process that exits after Shutdown, as Serve's callers do, ends it). An
  // Unsubscribe failure (the gateway is down) is logged, not returned: the gateway drops
  // unreachable members itself.
  absl::Status Shutdown();

  // The port it listens on, and the address registered with the gateway.
  int port() const { return port_; }
  const std::string& advertise_address() const { return advertise_; }
  // Deliver streams open now.
  int open_streams() const;

 private:
  friend class HandlerServerPeer;  // tests: reregister_rounds_
  HandlerServer() = default;
  void ReregisterLoop();
  bool Stopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(reregister_mu_) { return stopping_; }

  ServeOptions options_;
  std::string advertise_;
  int port_ = 0;
  // Destroyed in reverse order: the server (no stream reads any more), then the pool (its
  // queued jobs are dropped; they hold their stream, which holds the service), then the
  // service.
  std::shared_ptr<internal::DeliverService> service_;  // also held by its streams
  std::unique_ptr<internal::WorkerPool> pool_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> gateway_channel_;
  absl::Mutex reregister_mu_;
  bool stopping_ ABSL_GUARDED_BY(reregister_mu_) = false;
  // Rounds of ReregisterLoop finished (skipped or not), so tests can wait for some to pass.
  int64_t reregister_rounds_ ABSL_GUARDED_BY(reregister_mu_) = 0;
  std::thread reregister_;
  absl::Mutex shutdown_mu_;
  std::optional<absl::Status> shutdown_status_ ABSL_GUARDED_BY(shutdown_mu_);
};

// Starts a HandlerServer, waits for SIGTERM or SIGINT, then shuts it down. Returns the first
// error of Start or Shutdown. Installs handlers for SIGTERM and SIGINT (and ignores SIGPIPE).
absl::Status Serve(const Router& router, ServeOptions options);

// For a handler process with its own main loop around HandlerServer (Serve() uses these):
// InstallShutdownSignals makes SIGTERM and SIGINT set a flag that WaitForShutdownSignal sees
// (the signal handler only writes a byte to a pipe) and ignores SIGPIPE. Idempotent.
absl::Status InstallShutdownSignals();
// True once SIGTERM or SIGINT arrived after InstallShutdownSignals (then always true); waits up
// to `timeout` for one otherwise.
bool WaitForShutdownSignal(absl::Duration timeout = absl::InfiniteDuration());

}  // namespace switchboard::sdk

#endif  // SWITCHBOARD_SDK_SERVE_H_
