#include "server/server.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/base/clock.h"
#include "server/base/files.h"
#include "server/base/log.h"
#include "server/base/status_macros.h"
#include "server/base/thread_name.h"
#include "server/config/config.h"
#include "server/convert/event_converter.h"
#include "server/dispatch/dispatcher.h"
#include "server/dispatch/retry_policy.h"
#include "server/ingress/http_server.h"
#include "server/ingress/network_allowlist.h"
#include "server/ingress/ops_handler.h"
#include "server/ingress/refusal_log.h"
#include "server/ingress/webhook_handler.h"
#include "server/metrics/metrics.h"
#include "server/rpc/gateway_service.h"
#include "server/rpc/grpc_handler_connection.h"
#include "server/store/sqlite_event_store.h"
#include "server/verify/signature_verifier.h"

namespace switchboard::server {
namespace {

constexpr int kDefaultRetentionDays = 30;
constexpr absl::Duration kRetentionInterval = absl::Hours(1);

// Credentials for dialing handlers: plaintext unless handler_tls names a CA or a client cert.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> HandlerCredentials(
    const switchboard::v1::Tls& tls) {
  if (tls.ca_file().empty() && tls.cert_file().empty() && tls.key_file().empty()) return nullptr;
  if (tls.cert_file().empty() != tls.key_file().empty()) {
    return absl::InvalidArgumentError("handler_tls: cert_file and key_file go together");
  }
  grpc::SslCredentialsOptions options;
  if (!tls.ca_file().empty()) {
    ASSIGN_OR_RETURN(options.pem_root_certs, base::ReadFileToString(tls.ca_file()));
  }
  if (!tls.cert_file().empty()) {
    ASSIGN_OR_RETURN(options.pem_cert_chain, base::ReadFileToString(tls.cert_file()));
    ASSIGN_OR_RETURN(options.pem_private_key, base::ReadFileToString(tls.key_file()));
  }
  return grpc::SslCredentials(options);
}

// The gRPC listener's credentials: plain, TLS, or mTLS when a client CA is given.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    const switchboard::v1::Tls& tls) {
  if (tls.cert_file().empty() && tls.key_file().empty()) {
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions options(
      tls.ca_file().empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.private_key, base::ReadFileToString(tls.key_file()));
  ASSIGN_OR_RETURN(pair.cert_chain, base::ReadFileToString(tls.cert_file()));
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!tls.ca_file().empty()) {
    ASSIGN_OR_RETURN(options.pem_root_certs, base::ReadFileToString(tls.ca_file()));
  }
  return grpc::SslServerCredentials(options);
}

// A listener's options; what it refuses by itself goes to `refusals` (counted and logged).
ingress::HttpServer::Options HttpOptions(const std::string& host, int port,
                                         const switchboard::v1::Limits& limits,
                                         ingress::RefusalLog* refusals) {
  ingress::HttpServer::Options o;
  o.host = host;
  o.port = port;
  o.on_refused = refusals->Callback();
  if (limits.has_max_connections()) o.max_connections = limits.max_connections();
  if (limits.has_request_deadline_ms()) {
    o.request_deadline = absl::Milliseconds(limits.request_deadline_ms());
  }
  if (limits.has_idle_timeout_ms()) o.idle_timeout = absl::Milliseconds(limits.idle_timeout_ms());
  if (limits.has_max_requests_per_connection()) {
    o.max_requests_per_connection = limits.max_requests_per_connection();
  }
  if (limits.has_max_header_bytes()) o.max_header_bytes = limits.max_header_bytes();
  if (limits.has_max_headers()) o.max_headers = limits.max_headers();
  if (limits.has_max_body_bytes()) o.max_body_bytes = limits.max_body_bytes();
  return o;
}

// Config.delivery and Config.subscriptions as the dispatcher's and the handler connections'
// options. kInvalidArgument for values out of range (static subscriptions are checked by the
// Dispatcher itself).
absl::Status DeliveryOptions(const switchboard::v1::Config& config,
                             dispatch::Dispatcher::Options* dispatch,
                             rpc::GrpcHandlerConnectionOptions* connections) {
  const switchboard::v1::DeliveryConfig& d = config.delivery();
  if (d.has_member_grace_ms()) {
    if (d.member_grace_ms() < 1000) {
      return absl::InvalidArgumentError("delivery.member_grace_ms must be at least 1000");
    }
    dispatch->member_grace = absl::Milliseconds(d.member_grace_ms());
  }
  if (d.has_keepalive_ms()) {
    // The handler's server must permit pings this often (the SDK permits every 10 s).
    if (d.keepalive_ms() < 1000) {
      return absl::InvalidArgumentError("delivery.keepalive_ms must be at least 1000");
    }
    connections->keepalive = absl::Milliseconds(d.keepalive_ms());
    if (d.keepalive_ms() < 10000) {
      SB_LOG(WARNING) << "delivery_keepalive_below_sdk_permit keepalive_ms=" << d.keepalive_ms()
                      << " (handlers built with the SDK permit pings every 10000 ms; faster "
                         "pings make them close the connection)";
    }
  }
  if (d.has_progress_flush_ms()) {
    if (d.progress_flush_ms() < 1 || d.progress_flush_ms() > 10000) {
      return absl::InvalidArgumentError("delivery.progress_flush_ms must be 1..10000");
    }
    dispatch->progress_flush_interval = absl::Milliseconds(d.progress_flush_ms());
  }
  dispatch->static_subscriptions.assign(config.subscriptions().begin(),
                                        config.subscriptions().end());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address) {
  std::string host;
  std::string port_text;
  if (!address.empty() && address[0] == '[') {
    const size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("bad address \"", address, "\""));
    }
    host = address.substr(1, close - 1);
    port_text = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address \"", address, "\": want host:port"));
    }
    host = address.substr(0, colon);
    port_text = address.substr(colon + 1);
  }
  int port = -1;
  if (!absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port in \"", address, "\""));
  }
  return std::make_pair(host, port);
}

struct Server::Impl {
  // Held for the process's life (destroyed last): one gateway per data dir.
  std::optional<base::FileLock> data_dir_lock;
  base::RealClock* clock = base::RealClock::Get();
  metrics::Registry metrics;
  std::unique_ptr<store::SqliteEventStore> store;
  std::unique_ptr<convert::EventConverter> converter;
  // Delivery: destroyed (after Shutdown) before the store it reads and writes.
  dispatch::BitGenRandomSource random;
  std::unique_ptr<rpc::GrpcHandlerConnectionFactory> handler_connections;
  std::unique_ptr<dispatch::Dispatcher> dispatcher;
  std::unique_ptr<ingress::WebhookHandler> webhook;
  std::unique_ptr<ingress::OpsHandler> ops;
  std::unique_ptr<rpc::GatewayService> gateway;
  std::unique_ptr<grpc::Server> grpc_server;
  // Before the listeners that report to them, so they outlive those.
  std::unique_ptr<ingress::RefusalLog> http_refusals;
  std::unique_ptr<ingress::RefusalLog> ops_refusals;
  std::unique_ptr<ingress::HttpServer> http;
  std::unique_ptr<ingress::HttpServer> ops_http;
  std::string http_host, grpc_host, ops_host;
  int grpc_port = 0;
  std::atomic<bool> draining{false};
  absl::Duration retention = absl::Hours(24 * kDefaultRetentionDays);
  absl::Notification stop_retention;
  std::thread retention_thread;
  bool shut_down = false;

  absl::Status Readiness() {
    if (draining.load()) return absl::UnavailableError("shutting down");
    return store->CheckWritable();
  }

  void RetentionLoop() {
    metrics::Counter* removed = metrics.AddCounter("switchboard_retention_removed_total",
                                                   "Events removed by the retention job.");
    do {
      const absl::Time cutoff = clock->Now() - retention;
      // Loud, never silent: what the cut removes before some subscription finished it.
      if (absl::StatusOr<int64_t> u = dispatcher->CountUnfinishedBefore(cutoff); !u.ok()) {
        SB_LOG(WARNING) << "retention_check_failed error=" << base::Quoted(u.status().message());
      }
      absl::StatusOr<int64_t> n = store->DeleteReceivedBefore(cutoff);
      if (!n.ok()) {
        SB_LOG(WARNING) << "retention_failed error=" << base::Quoted(n.status().message());
      } else if (*n > 0) {
        removed->Increment(*n);
        SB_LOG(INFO) << "retention_removed events=" << *n;
      }
      // Dead letters whose event is gone (this cut or an earlier one) can never be redriven.
      // Every run, so one after a failure catches up.
      if (absl::StatusOr<int64_t> d = dispatcher->RemoveDeadLettersOfRemovedEvents(); !d.ok()) {
        SB_LOG(WARNING) << "retention_dead_letters_failed error="
                        << base::Quoted(d.status().message());
      }
    } while (!stop_retention.WaitForNotificationWithTimeout(kRetentionInterval));
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Shutdown(absl::Seconds(5)); }

absl::StatusOr<std::unique_ptr<Server>> Server::Start(Options options) {
  auto impl = std::make_unique<Impl>();
  const switchboard::v1::Config& config = options.config;
  ASSIGN_OR_RETURN(auto http_hp, SplitHostPort(options.http_addr));
  ASSIGN_OR_RETURN(auto grpc_hp, SplitHostPort(options.grpc_addr));
  ASSIGN_OR_RETURN(auto ops_hp, SplitHostPort(options.ops_addr));
  impl->http_host = http_hp.first;
  impl->grpc_host = grpc_hp.first;
  impl->ops_host = ops_hp.first;
  if (options.data_dir.empty()) return absl::InvalidArgumentError("--data_dir must not be empty");
  RETURN_IF_ERROR(base::MakeDirectories(options.data_dir));
  // Two gateways on one store would both deliver every event (and race its checkpoints).
  absl::StatusOr<base::FileLock> lock = base::FileLock::Acquire(options.data_dir + "/LOCK");
  if (!lock.ok()) {
    return absl::Status(
        lock.status().code(),
        absl::StrCat("another gateway uses --data_dir=", options.data_dir, " (",
                     lock.status().message(), "): stop it, or give this one its own data dir"));
  }
  impl->data_dir_lock = *std::move(lock);
  if (config.store().has_retention_days()) {
    if (config.store().retention_days() < 1) {
      return absl::InvalidArgumentError("store.retention_days must be at least 1");
    }
    impl->retention = absl::Hours(24) * config.store().retention_days();
  }

  // Secrets first: a misconfiguration should fail before anything opens.
  config::SecretSources sources;
  sources.getenv =
      options.getenv ? options.getenv : [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  sources.default_secrets_file = options.secrets_file;
  sources.data_dir = options.data_dir;
  sources.loopback_only = config::IsLoopbackHost(http_hp.first);
  ASSIGN_OR_RETURN(std::vector<config::ResolvedEndpoint> resolved,
                   config::ResolveEndpoints(config, sources));
  // An open Gateway API off loopback is refused before anything opens.
  ASSIGN_OR_RETURN(std::vector<std::string> gateway_tokens,
                   config::GatewayTokens(config.gateway_token_file(), sources.getenv));
  RETURN_IF_ERROR(config::CheckGrpcAuthentication(config, options.grpc_addr, gateway_tokens));

  absl::Duration tolerance = verify::SignatureVerifier::kDefaultTolerance;
  if (config.has_tolerance_seconds()) tolerance = absl::Seconds(config.tolerance_seconds());
  if (options.tolerance) tolerance = *options.tolerance;
  if (tolerance < absl::ZeroDuration()) {
    // A negative one would turn the replay check off without a word.
    return absl::InvalidArgumentError(
        "the signature tolerance (--tolerance, tolerance_seconds) must not be negative; 0 turns "
        "the timestamp check off");
  }

  store::SqliteEventStore::Options store_options;
  store_options.path = options.data_dir + "/events.db";
  if (config.store().has_max_batch()) store_options.max_batch = config.store().max_batch();
  if (config.store().max_size_bytes() < 0) {
    return absl::InvalidArgumentError("store.max_size_bytes must not be negative");
  }
  store_options.max_size_bytes = config.store().max_size_bytes();
  ASSIGN_OR_RETURN(impl->store, store::SqliteEventStore::Open(store_options));
  impl->converter = std::make_unique<convert::EventConverter>();

  // Delivery starts right after the store, before anything can append or call the Gateway.
  dispatch::Dispatcher::Options dispatch_options;
  rpc::GrpcHandlerConnectionOptions connection_options;
  RETURN_IF_ERROR(DeliveryOptions(config, &dispatch_options, &connection_options));
  ASSIGN_OR_RETURN(connection_options.credentials, HandlerCredentials(config.handler_tls()));
  impl->handler_connections =
      std::make_unique<rpc::GrpcHandlerConnectionFactory>(connection_options);
  dispatch::Dispatcher::Deps dispatch_deps;
  dispatch_deps.events = impl->store.get();
  dispatch_deps.delivery = impl->store.get();
  dispatch_deps.converter = impl->converter.get();
  dispatch_deps.connections = impl->handler_connections.get();
  dispatch_deps.clock = impl->clock;
  dispatch_deps.random = &impl->random;
  dispatch_deps.metrics = &impl->metrics;
  ASSIGN_OR_RETURN(impl->dispatcher,
                   dispatch::Dispatcher::Create(std::move(dispatch_options), dispatch_deps));
  impl->dispatcher->Start();

  ingress::WebhookHandler::Options webhook_options;
  for (config::ResolvedEndpoint& e : resolved) {
    verify::SignatureVerifier::Options vo;
    vo.secrets = std::move(e.secrets);
    vo.tolerance = tolerance;
    ASSIGN_OR_RETURN(auto verifier, verify::SignatureVerifier::Create(vo));
    webhook_options.endpoints.push_back({e.path, std::move(verifier)});
    SB_LOG(INFO) << "endpoint path=" << e.path << " secrets=" << vo.secrets.size()
                 << " source=" << base::Quoted(e.source)
                 << " tolerance_seconds=" << absl::ToInt64Seconds(tolerance);
    for (const std::string& warning : e.warnings) {
      SB_LOG(WARNING) << "endpoint_secret_warning path=" << e.path
                      << " warning=" << base::Quoted(warning);
    }
  }
  if (config.limits().has_max_body_bytes()) {
    webhook_options.max_body_bytes = config.limits().max_body_bytes();
  }
  if (!config.access().allow_networks().empty()) {
    ASSIGN_OR_RETURN(webhook_options.allowlist,
                     ingress::NetworkAllowlist::Create({config.access().allow_networks().begin(),
                                                        config.access().allow_networks().end()}));
  }
  webhook_options.trust_forwarded_for = config.access().trust_forwarded_for();
  Impl* raw = impl.get();
  auto readiness = [raw] { return raw->Readiness(); };
  ingress::WebhookHandler::Deps deps;
  deps.store = impl->store.get();
  deps.converter = impl->converter.get();
  deps.clock = impl->clock;
  deps.metrics = &impl->metrics;
  deps.readiness = readiness;
  deps.on_stored = [d = impl->dispatcher.get()] { d->Notify(); };
  ASSIGN_OR_RETURN(impl->webhook,
                   ingress::WebhookHandler::Create(std::move(webhook_options), std::move(deps)));
  impl->ops = std::make_unique<ingress::OpsHandler>(&impl->metrics, readiness);

  // gRPC: Gateway + health checking + reflection.
  rpc::GatewayService::Deps gateway_deps;
  gateway_deps.store = impl->store.get();
  gateway_deps.converter = impl->converter.get();
  gateway_deps.started_at = impl->clock->Now();
  gateway_deps.dispatcher = impl->dispatcher.get();
  gateway_deps.tokens = std::move(gateway_tokens);
  SB_LOG(INFO) << "gateway_auth tokens=" << gateway_deps.tokens.size();
  gateway_deps.request_counts = [raw] {
    std::map<std::string, int64_t> out;
    for (const auto& [labels, value] :
         raw->metrics.CounterValues("switchboard_webhook_requests_total")) {
      for (const auto& [k, v] : labels) {
        if (k == "outcome") out[v] += value;
      }
    }
    return out;
  };
  impl->gateway = std::make_unique<rpc::GatewayService>(std::move(gateway_deps));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> grpc_credentials,
                   GrpcServerCredentials(config.grpc_tls()));
  builder.AddListeningPort(options.grpc_addr, grpc_credentials, &impl->grpc_port);
  // gRPC sets SO_REUSEPORT by default: a second gateway on the same port would start and take a
  // share of the calls. Refuse it instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(impl->gateway.get());
  impl->grpc_server = builder.BuildAndStart();
  if (impl->grpc_server == nullptr || impl->grpc_port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot bind gRPC ", options.grpc_addr));
  }

  ASSIGN_OR_RETURN(impl->ops_refusals,
                   ingress::RefusalLog::Create({"ops"}, {&impl->metrics, impl->clock}));
  ASSIGN_OR_RETURN(impl->http_refusals,
                   ingress::RefusalLog::Create({"webhook"}, {&impl->metrics, impl->clock}));
  ASSIGN_OR_RETURN(impl->ops_http,
                   ingress::HttpServer::Start(
                       [&] {
                         ingress::HttpServer::Options o =
                             HttpOptions(ops_hp.first, ops_hp.second, switchboard::v1::Limits(),
                                         impl->ops_refusals.get());
                         o.thread_name = "sb-ops";
                         return o;
                       }(),
                       [raw](const ingress::HttpRequest& r) { return raw->ops->CheckHeaders(r); },
                       [raw](const ingress::HttpRequest& r) { return raw->ops->Handle(r); }));
  ingress::HttpServer::Options http_options =
      HttpOptions(http_hp.first, http_hp.second, config.limits(), impl->http_refusals.get());
  http_options.thread_name = "sb-http";
  http_options.tls_cert_file = config.http_tls().cert_file();
  http_options.tls_key_file = config.http_tls().key_file();
  ASSIGN_OR_RETURN(
      impl->http,
      ingress::HttpServer::Start(
          http_options,
          [raw](const ingress::HttpRequest& r) { return raw->webhook->CheckHeaders(r); },
          [raw](const ingress::HttpRequest& r) { return raw->webhook->Handle(r); }));

  impl->metrics.AddGauge("switchboard_http_connections", "Open webhook connections.",
                         [raw] { return static_cast<double>(raw->http->active_connections()); });
  // Read at each scrape: a stat per file and one statvfs.
  for (const char* file : {"events.db", "events.db-wal"}) {
    impl->metrics.AddGauge("switchboard_store_file_bytes", "Size of the store's files.",
                           [path = absl::StrCat(options.data_dir, "/", file)] {
                             return static_cast<double>(base::FileSizeOrZero(path));
                           },
                           {{"file", file}});
  }
  impl->metrics.AddGauge("switchboard_store_disk_free_bytes",
                         "Bytes left on the data directory's filesystem (-1 when unreadable).",
                         [dir = options.data_dir] {
                           absl::StatusOr<int64_t> free = base::FreeDiskBytes(dir);
                           return free.ok() ? static_cast<double>(*free) : -1.0;
                         });
  impl->metrics.AddGauge("switchboard_store_max_bytes",
                         "store.max_size_bytes (0: no cap but the disk).",
                         [cap = store_options.max_size_bytes] { return static_cast<double>(cap); });
  impl->retention_thread = std::thread([raw] {
    base::SetThreadName("sb-retention");
    raw->RetentionLoop();
  });
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

std::string Server::ListeningLine() const {
  return absl::StrCat("listening http=", impl_->http->address(), " grpc=",
                      impl_->grpc_host.find(':') != std::string::npos
                          ? absl::StrCat("[", impl_->grpc_host, "]")
                          : impl_->grpc_host,
                      ":", impl_->grpc_port, " ops=", impl_->ops_http->address());
}

int Server::http_port() const { return impl_->http->port(); }
int Server::grpc_port() const { return impl_->grpc_port; }
int Server::ops_port() const { return impl_->ops_http->port(); }

void Server::Shutdown(absl::Duration deadline) {
  if (impl_ == nullptr || impl_->shut_down) return;
  impl_->shut_down = true;
  impl_->draining.store(true);
  if (auto* health = impl_->grpc_server->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  // In-flight webhook requests finish here, each after its Append has returned.
  impl_->http->Stop();
  impl_->grpc_server->Shutdown(absl::ToChronoTime(absl::Now() + deadline));
  impl_->stop_retention.Notify();
  if (impl_->retention_thread.joinable()) impl_->retention_thread.join();
  // No Append or Gateway call runs any more: commit delivery progress and close the handler
  // streams (each close is bounded, so this cannot hang), while the store is still open.
  impl_->dispatcher->Shutdown();
  impl_->ops_http->Stop();
  impl_->store->Close();
  SB_LOG(INFO) << "stopped";
}

}  // namespace switchboard::server
