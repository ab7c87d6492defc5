#include "sdk/serve.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "grpcpp/grpcpp.h"
#include "protos/switchboard/v1/gateway.grpc.pb.h"
#include "sdk/internal/deliver_service.h"
#include "sdk/internal/worker_pool.h"
#include "sdk/log.h"

namespace switchboard::sdk {
namespace {

absl::StatusOr<std::string> ReadPemFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Plaintext, TLS, or mTLS (a client CA) for the EventHandler listener.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ListenCredentials(const ServeOptions& o) {
  if (o.tls_cert_file.empty() && o.tls_key_file.empty() && o.tls_client_ca_file.empty()) {
    return grpc::InsecureServerCredentials();
  }
  if (o.tls_cert_file.empty() || o.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both tls_cert_file and tls_key_file");
  }
  grpc::SslServerCredentialsOptions tls(
      o.tls_client_ca_file.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                   : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  absl::StatusOr<std::string> key = ReadPemFile(o.tls_key_file);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> cert = ReadPemFile(o.tls_cert_file);
  if (!cert.ok()) return cert.status();
  pair.private_key = *std::move(key);
  pair.cert_chain = *std::move(cert);
  tls.pem_key_cert_pairs.push_back(std::move(pair));
  if (!o.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPemFile(o.tls_client_ca_file);
    if (!ca.ok()) return ca.status();
    tls.pem_root_certs = *std::move(ca);
  }
  return grpc::SslServerCredentials(tls);
}

struct HostPort {
  std::string host;  // without brackets
  std::string port;  // may be empty
};

// "h:p", "[v6]:p", "h" (no port), "[v6]".
absl::StatusOr<HostPort> SplitHostPort(absl::string_view address) {
  HostPort hp;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bad address \"", address, "\""));
    }
    hp.host = std::string(address.substr(1, close - 1));
    absl::string_view rest = address.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(absl::StrCat("bad address \"", address, "\""));
      }
      hp.port = std::string(rest.substr(1));
    }
    return hp;
  }
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) {
    hp.host = std::string(address);
  } else {
    if (address.find(':') != colon) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address \"", address, "\" (write IPv6 hosts as [::1]:port)"));
    }
    hp.host = std::string(address.substr(0, colon));
    hp.port = std::string(address.substr(colon + 1));
  }
  return hp;
}

bool IsWildcard(absl::string_view host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "0:0:0:0:0:0:0:0";
}

std::string JoinHostPort(absl::string_view host, absl::string_view port) {
  return host.find(':') != absl::string_view::npos ? absl::StrCat("[", host, "]:", port)
                                                   : absl::StrCat(host, ":", port);
}

// The address the gateway dials, from --advertise (maybe empty) and the bound listen address.
absl::StatusOr<std::string> AdvertiseAddress(absl::string_view advertise, absl::string_view listen,
                                             int bound_port) {
  const std::string port = absl::StrCat(bound_port);
  if (advertise.empty()) {
    absl::StatusOr<HostPort> hp = SplitHostPort(listen);
    if (!hp.ok()) return hp.status();
    return JoinHostPort(IsWildcard(hp->host) ? "127.0.0.1" : hp->host, port);
  }
  absl::StatusOr<HostPort> hp = SplitHostPort(advertise);
  if (!hp.ok()) return hp.status();
  if (IsWildcard(hp->host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "advertise address \"", advertise,
        "\" is not dialable: give a host the gateway can reach (never 0.0.0.0 or [::])"));
  }
  int explicit_port = 0;
  if (!hp->port.empty() &&
      (!absl::SimpleAtoi(hp->port, &explicit_port) || explicit_port < 0 || explicit_port > 65535)) {
    return absl::InvalidArgumentError(absl::StrCat("bad port in advertise \"", advertise, "\""));
  }
  return JoinHostPort(hp->host, explicit_port == 0 ? port : hp->port);
}

bool ValidSubscriptionName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
}

void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

switchboard::v1::Subscription SubscriptionSpec(const Router& router, const ServeOptions& o) {
  switchboard::v1::Subscription sub;
  sub.set_name(o.subscription);
  for (const std::string& type : router.EventTypes()) sub.add_event_types(type);
  if (o.livemode.has_value()) sub.set_livemode(*o.livemode);
  for (const std::string& account : o.accounts) sub.add_accounts(account);
  if (o.max_in_flight > 0) sub.set_max_in_flight(o.max_in_flight);
  const RetryPolicy& r = o.retry_policy;
  if (r.initial_backoff > absl::ZeroDuration()) {
    SetDuration(r.initial_backoff, sub.mutable_retry_policy()->mutable_initial_backoff());
  }
  if (r.max_backoff > absl::ZeroDuration()) {
    SetDuration(r.max_backoff, sub.mutable_retry_policy()->mutable_max_backoff());
  }
  if (r.max_age > absl::ZeroDuration()) {
    SetDuration(r.max_age, sub.mutable_retry_policy()->mutable_max_age());
  }
  if (r.max_attempts > 0) sub.mutable_retry_policy()->set_max_attempts(r.max_attempts);
  if (o.per_object_ordering) sub.set_ordering(switchboard::v1::Subscription::PER_OBJECT);
  switch (o.start.kind) {
    case StartPosition::Kind::kNow:
      sub.mutable_start()->set_now(true);
      break;
    case StartPosition::Kind::kBeginning:
      sub.mutable_start()->set_beginning(true);
      break;
    case StartPosition::Kind::kTime: {
      const int64_t nanos = absl::ToUnixNanos(o.start.time);
      auto* t = sub.mutable_start()->mutable_time();
      t->set_seconds(nanos / 1000000000);
      t->set_nanos(static_cast<int32_t>(nanos % 1000000000));
      break;
    }
  }
  if (o.delivery_timeout > absl::ZeroDuration()) {
    SetDuration(o.delivery_timeout, sub.mutable_delivery_timeout());
  }
  return sub;
}

absl::Status FromGrpc(const grpc::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

}  // namespace

absl::StatusOr<StartPosition> ParseStartPosition(absl::string_view text) {
  if (text == "now") return StartPosition::Now();
  if (text == "beginning") return StartPosition::Beginning();
  absl::Time t;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &error)) return StartPosition::At(t);
  return absl::InvalidArgumentError(absl::StrCat(
      "start position \"", text, "\": want now, beginning or an RFC 3339 time (", error, ")"));
}

absl::StatusOr<std::unique_ptr<HandlerServer>> HandlerServer::Start(const Router* router,
                                                                    ServeOptions options) {
  if (absl::Status s = router->Check(); !s.ok()) return s;
  if (!ValidSubscriptionName(options.subscription)) {
    return absl::InvalidArgumentError(absl::StrCat("subscription name \"", options.subscription,
                                                   "\" must match [a-z0-9_.-]{1,64}"));
  }
  if (options.workers < 1) return absl::InvalidArgumentError("workers must be at least 1");
  if (options.max_in_flight < 0 || options.max_in_flight > 1024) {
    return absl::InvalidArgumentError("max_in_flight must be in [0, 1024] (0: gateway default)");
  }
  if (!options.advertise.empty()) {
    // Refuse a wildcard advertise address before listening.
    if (absl::StatusOr<std::string> a = AdvertiseAddress(options.advertise, options.listen, 1);
        !a.ok()) {
      return a.status();
    }
  }

  auto server = std::unique_ptr<HandlerServer>(new HandlerServer());
  server->options_ = std::move(options);
  const ServeOptions& o = server->options_;
  server->pool_ = std::make_unique<internal::WorkerPool>(o.workers);
  // Read what the workers can start on and as many again, so a worker that finishes finds the
  // next delivery queued rather than waiting for a read (with one spare only, fast handlers
  // starved: a saturated bench sink's median latency went from ~10 to 40-70 ms). The gateway's
  // delivery_timeout runs from its write: a delivery read here and left queued behind slow
  // calls would time out in this process, spend an attempt, and still run beside its retry, so
  // the queue holds at most about two calls' time of work. Left unread, a delivery waits in
  // the gateway, which withdraws and re-sends it without spending an attempt (docs/DELIVERY.md,
  // "Retries"); max_in_flight still bounds the gateway's side.
  const int read_ahead = 2 * o.workers;
  server->service_ = internal::DeliverService::Create(
      internal::DeliverService::Deps{router, server->pool_.get(), read_ahead});

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = ListenCredentials(o);
  if (!credentials.ok()) return credentials.status();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(o.listen, *credentials, &server->port_);
  builder.RegisterCallbackGenericService(server->service_.get());
  // The gateway pings every 30 s, also between deliveries; 1.51's defaults would answer
  // such pings with GOAWAY(too_many_pings).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // gRPC sets SO_REUSEPORT by default: a second handler started on the same fixed --listen
  // port (maybe another binary, registered for another subscription) would start and take a
  // share of the gateway's connections to this one. Refuse it instead, as the gateway does.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    server->server_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", o.listen,
                     ": the port is in use (another handler?) or the address is not a local "
                     "host:port"));
  }
  // Until registered, a failure just stops listening (no drain, no Unsubscribe). A gateway
  // that knew this address already (a restart) may have sent deliveries meanwhile: queued ones
  // are dropped, running calls are not waited for (as after a drain that timed out).
  auto abandon = [&server](absl::Status status) {
    server->server_->Shutdown(absl::ToChronoTime(absl::Now()));
    server->server_.reset();
    server->pool_->Stop(/*run_queued=*/false, absl::Now());
    return status;
  };
  absl::StatusOr<std::string> advertise = AdvertiseAddress(o.advertise, o.listen, server->port_);
  if (!advertise.ok()) return abandon(advertise.status());
  server->advertise_ = *std::move(advertise);

  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = DialGateway(o.gateway);
  if (!channel.ok()) return abandon(channel.status());
  server->gateway_channel_ = *std::move(channel);
  auto gateway = switchboard::v1::Gateway::NewStub(server->gateway_channel_);
  switchboard::v1::SubscribeRequest request;
  *request.mutable_subscription() = SubscriptionSpec(*router, o);
  request.set_member_address(server->advertise_);
  // Add this version's types to the subscription's rather than replace them: an older
  // instance restarting during a rolling deploy must not narrow the types a newer one
  // registered (the gateway would skip events of the dropped types for every member).
  // Removing a type takes an explicit update (docs/HANDLERS.md, "Scaling out").
  request.set_add_event_types(true);
  switchboard::v1::Subscription registered;
  grpc::ClientContext context;
  AuthorizeCall(o.gateway, &context);
  context.set_wait_for_ready(true);  // the gateway may still be starting
  context.set_deadline(absl::ToChronoTime(absl::Now() + o.register_timeout));
  if (absl::Status s = FromGrpc(gateway->Subscribe(&context, request, &registered),
                                absl::StrCat("registering subscription ", o.subscription,
                                             " with gateway ", o.gateway.address));
      !s.ok()) {
    return abandon(s);
  }
  if (o.reregister_interval > absl::ZeroDuration()) {
    server->reregister_ = std::thread([s = server.get()] { s->ReregisterLoop(); });
  }
  LogInfo(absl::StrCat("sdk_serving subscription=", o.subscription, " listen=", o.listen,
                       " port=", server->port_, " advertise=", server->advertise_, " gateway=",
                       o.gateway.address, " types=", absl::StrJoin(router->EventTypes(), ","),
                       " subscription_types=", absl::StrJoin(registered.event_types(), ","),
                       " workers=", o.workers));
  return server;
}

HandlerServer::~HandlerServer() {
  if (server_ != nullptr) Shutdown().IgnoreError();
}

int HandlerServer::open_streams() const { return service_->open_streams(); }

void HandlerServer::ReregisterLoop() {
  auto gateway = switchboard::v1::Gateway::NewStub(gateway_channel_);
  bool failing = false;
  for (bool first = true;; first = false) {
    {
      absl::MutexLock lock(&reregister_mu_);
      if (!first) ++reregister_rounds_;
      if (reregister_mu_.AwaitWithTimeout(absl::Condition(this, &HandlerServer::Stopping),
                                          options_.reregister_interval)) {
        return;
      }
    }
    if (service_->open_streams() > 0) continue;
    // Only the name: an update without event types changes nothing but the members, so this
    // never undoes a change made with `ctl` (and never recreates a deleted subscription).
    switchboard::v1::SubscribeRequest request;
    request.mutable_subscription()->set_name(options_.subscription);
    request.set_member_address(advertise_);
    switchboard::v1::Subscription response;
    grpc::ClientContext context;
    AuthorizeCall(options_.gateway, &context);
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    const grpc::Status status = gateway->Subscribe(&context, request, &response);
    if (!status.ok()) {
      if (!failing) {
        LogWarning(absl::StrCat("sdk_reregister_failed subscription=", options_.subscription,
                                " gateway=", options_.gateway.address,
                                " error=", Quoted(status.error_message())));
      }
      failing = true;
      continue;
    }
    failing = false;
    LogInfo(absl::StrCat("sdk_reregistered subscription=", options_.subscription,
                         " member=", advertise_, " (no open stream)"));
  }
}

absl::Status HandlerServer::Shutdown() {
  absl::MutexLock lock(&shutdown_mu_);
  if (shutdown_status_.has_value()) return *shutdown_status_;
  LogInfo(absl::StrCat("sdk_draining subscription=", options_.subscription,
                       " open_streams=", service_->open_streams()));
  {
    absl::MutexLock stop(&reregister_mu_);
    stopping_ = true;
  }
  if (reregister_.joinable()) reregister_.join();
  // Leave first: the gateway stops sending to this member and closes its stream once what is
  // in flight is acked. Draining first would answer every new delivery RETRY at once, which
  // makes this instance look idle, attract the subscription's traffic and spend attempts.
  {
    auto gateway = switchboard::v1::Gateway::NewStub(gateway_channel_);
    switchboard::v1::UnsubscribeRequest request;
    request.set_name(options_.subscription);
    request.set_member_address(advertise_);
    switchboard::v1::UnsubscribeResponse response;
    grpc::ClientContext context;
    AuthorizeCall(options_.gateway, &context);
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    const grpc::Status s = gateway->Unsubscribe(&context, request, &response);
    if (!s.ok()) {
      LogWarning(absl::StrCat("sdk_unsubscribe_failed subscription=", options_.subscription,
                              " member=", advertise_, " code=", s.error_code(),
                              " error=", Quoted(s.error_message())));
    }
  }
  const absl::Time deadline = absl::Now() + options_.drain_timeout;
  service_->StartDrain();
  const bool drained = service_->AwaitNoStreams(deadline);

  // Streams still open past the drain timeout are cancelled here.
  server_->Shutdown(absl::ToChronoTime(absl::Now()));
  server_->Wait();
  // A stream that broke finished without waiting for its calls, so calls may run even when
  // every stream drained. One that has not returned by the deadline (a hung database call)
  // is abandoned on its thread rather than waited for: it holds its stream, the stream the
  // service, so it ends on live objects; its ack goes nowhere.
  const bool calls_finished = pool_->Stop(/*run_queued=*/false, deadline);
  const internal::DeliverService::Counts counts = service_->counts();
  LogInfo(absl::StrCat("sdk_stopped subscription=", options_.subscription, " ok=", counts.ok,
                       " retry=", counts.retry, " reject=", counts.reject,
                       " drained=", drained && calls_finished ? "true" : "false"));
  if (drained && calls_finished) {
    shutdown_status_ = absl::OkStatus();
  } else {
    shutdown_status_ = absl::DeadlineExceededError(
        absl::StrCat("drain did not finish within ", absl::FormatDuration(options_.drain_timeout),
                     calls_finished ? "" : " (handler calls still running were abandoned)",
                     "; open deliveries will be retried by the gateway"));
  }
  return *shutdown_status_;
}

namespace {

int signal_pipe[2] = {-1, -1};

void OnSignal(int) {
  const int saved = errno;
  const char byte = 1;
  ssize_t unused = ::write(signal_pipe[1], &byte, 1);
  (void)unused;
  errno = saved;
}

}  // namespace

absl::Status InstallShutdownSignals() {
  static const absl::Status* const installed = [] {
    // Non-blocking: the handler must never block, even after a flood of signals fills the pipe
    // (nothing reads it: one byte already means "stop").
    if (::pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      return new absl::Status(absl::InternalError(absl::StrCat("pipe2: ", strerror(errno))));
    }
    struct sigaction action = {};
    action.sa_handler = OnSignal;
    sigemptyset(&action.sa_mask);
    // The signal may land on any thread, also a worker blocked in a system call inside a
    // handler function (a database read): restart that call rather than fail it with EINTR.
    action.sa_flags = SA_RESTART;
    ::sigaction(SIGTERM, &action, nullptr);
    ::sigaction(SIGINT, &action, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    return new absl::Status();
  }();
  return *installed;
}

bool WaitForShutdownSignal(absl::Duration timeout) {
  if (signal_pipe[0] < 0) return false;
  // The byte stays in the pipe, so every later call sees it too.
  struct pollfd pfd = {signal_pipe[0], POLLIN, 0};
  const int timeout_ms =
      timeout == absl::InfiniteDuration()
          ? -1
          : static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(timeout), 0, INT32_MAX));
  for (;;) {
    int n = ::poll(&pfd, 1, timeout_ms);
    if (n >= 0) return n > 0;
    if (errno != EINTR) return false;
  }
}

absl::Status Serve(const Router& router, ServeOptions options) {
  if (absl::Status installed = InstallShutdownSignals(); !installed.ok()) return installed;
  absl::StatusOr<std::unique_ptr<HandlerServer>> server =
      HandlerServer::Start(&router, std::move(options));
  if (!server.ok()) return server.status();
  WaitForShutdownSignal();
  return (*server)->Shutdown();
}

}  // namespace switchboard::sdk
