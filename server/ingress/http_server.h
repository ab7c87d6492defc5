// HttpServer: a cpp-httplib listener hardened for untrusted senders, driving a pure handler.
//
// cpp-httplib 0.11.4 serves each keep-alive connection on one pool thread and its timeouts are
// per read, so a slow or idle client could hold a worker forever. This adapter replaces the
// per-connection loop (httplib's `process_and_close_socket` hook) with one that enforces:
//   - a whole-request deadline (request line, headers and body must arrive within it);
//   - an idle timeout between keep-alive requests;
//   - a cap on concurrent connections with a worker pool sized above it, so every admitted
//     connection has a thread; when the cap is reached, one newcomer at a time waits up to 1 s
//     for a slot and has one idle keep-alive connection closed to make room; one that still
//     finds no slot, and any that come while it waits, get 503 (so a flood parks no workers);
//   - header bytes and header count limits (431: a header section over max_header_bytes, or a
//     header line over 8 KiB, which httplib would refuse with a bare 400), TCP_NODELAY, a
//     keep-alive request limit;
//   - CheckHeaders() before the body is read (411/413/415 cost no body read) and also on
//     `Expect: 100-continue`; after such a refusal the connection closes only once the client
//     stops sending (at most 2 s, 16 MiB discarded), so it reads the refusal, not a reset;
//   - optional TLS (OpenSSL) under the same deadlines: a slow handshake or a partial TLS record
//     cannot hold a worker longer than a slow plain-text request, nor can a client that stops
//     reading (a response not taken within write_timeout is abandoned with the connection).
// Routing, status codes and bodies are decided by the handler (see WebhookHandler, OpsHandler).
// What the server refuses itself, before or instead of the handler (the connection cap's 503, the
// 431s, a body on GET, what httplib cannot parse, a missed deadline, a failed TLS handshake) goes
// to Options::on_refused with a stable reason, so it can be counted and logged (RefusalLog).
//
// Example:
//   ASSIGN_OR_RETURN(auto server, HttpServer::Start(options, check_headers, handle));
//   SB_LOG(INFO) << "http on port " << server->port();
//   server->Stop();  // stop accepting, finish in-flight requests, close idle connections
//
// Thread-safety: port()/address() any time; Stop() from one thread (idempotent).
#ifndef SWITCHBOARD_SERVER_INGRESS_HTTP_SERVER_H_
#define SWITCHBOARD_SERVER_INGRESS_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/ingress/http_types.h"

namespace switchboard::server::ingress {

namespace internal {
class GuardedServer;
}  // namespace internal

class HttpServer {
 public:
  // The reasons Options::on_refused reports (stable: metric labels and log fields):
  //   too_many_connections  503: every connection slot taken (see the header comment)
  //   header_too_large      431: header section over max_header_bytes, or a header line over
  //                         8 KiB (request line included in the section)
  //   too_many_headers      431: more than max_headers
  //   body_not_allowed      400: a body on a method that reads none (GET, HEAD, ...)
  //   uri_too_long          414: a request line over 8 KiB (httplib's limit)
  //   malformed_request     400: anything else httplib cannot parse (request line, header, a
  //                         body shorter than announced)
  //   deadline              the request was not in within request_deadline: 400 once its
  //                         request line was in, else nothing is sent
  //   tls_handshake         no TLS session from a client that sent something (a bad or plain
  //                         text handshake, or one not done within request_deadline); nothing
  //                         is sent. A connection closed or idle before its first byte is not
  //                         a refusal, as on a plain listener.
  static constexpr absl::string_view kRefusalReasons[] = {
      "too_many_connections", "header_too_large",  "too_many_headers", "body_not_allowed",
      "uri_too_long",         "malformed_request", "deadline",         "tls_handshake"};
  // `reason` is one of kRefusalReasons; `status` is the status sent, 0 when nothing was sent.
  using RefusedFn = std::function<void(absl::string_view reason, int status)>;

  struct Options {
    std::string host = "127.0.0.1";
    int port = 0;  // 0: pick a free port
    int max_connections = 256;
    absl::Duration request_deadline = absl::Seconds(10);
    absl::Duration idle_timeout = absl::Seconds(5);
    absl::Duration write_timeout = absl::Seconds(5);
    int max_requests_per_connection = 10000;
    int max_header_bytes = 16 * 1024;
    int max_headers = 64;
    int64_t max_body_bytes = 1 << 20;
    // HTTPS: PEM certificate chain and private key (both or neither). TLS 1.2 or newer; the
    // handshake counts against the request deadline of the first request.
    std::string tls_cert_file;
    std::string tls_key_file;
    // Names the threads (`top -H`, perf): "<name>" for the workers, "<name>-accept" for the
    // listener; at most 8 bytes keep both whole (Linux keeps 15).
    std::string thread_name = "http";
    // Called once for each request or connection the server refuses itself (never for the
    // handler's answers), on the worker thread, before the refusal is sent or the connection
    // closed. Must be thread-safe and cheap (it runs on every refusal of a flood too), must not
    // block, and must outlive the server; may be empty.
    RefusedFn on_refused;
  };
  using CheckHeadersFn = std::function<std::optional<HttpResponse>(const HttpRequest&)>;
  using HandleFn = std::function<HttpResponse(const HttpRequest&)>;

  // Binds and starts serving. kInvalidArgument for bad options, kUnavailable when the address
  // cannot be bound. Both functions must be thread-safe and outlive the server.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const Options& options,
                                                           CheckHeadersFn check_headers,
                                                           HandleFn handle);
  ~HttpServer();

  int port() const { return port_; }
  // "host:port" as bound.
  std::string address() const;
  // Connections being served now.
  int active_connections() const;

  // Stops accepting, lets in-flight requests finish, closes idle keep-alive connections and
  // joins the workers. Idempotent.
  void Stop();

 private:
  HttpServer() = default;
  std::unique_ptr<internal::GuardedServer> server_;
  std::thread listen_thread_;
  std::string host_;
  int port_ = 0;
  std::atomic<bool> stopped_{false};
};

}  // namespace switchboard::server::ingress

#endif  // SWITCHBOARD_SERVER_INGRESS_HTTP_SERVER_H_
