// Server: the gateway process wired together — store, webhook ingress, event delivery, ops
// listener and the gRPC API — with start-up and graceful shutdown. main.cc only parses flags.
//
// Start order: resolve endpoint secrets, open the store (SQLite under data_dir), start the
// dispatcher (loads subscriptions, creates the static ones from the config, dials members), the
// gRPC server (Gateway, health checking, reflection), the ops listener, then the webhook listener
// last, so nothing is accepted before everything behind it is up. Each stored event pokes the
// dispatcher (WebhookHandler's on_stored). Shutdown reverses it: readiness goes false, the
// webhook listener stops accepting and finishes in-flight requests (each one's Append
// completes), gRPC shuts down with a deadline, the dispatcher commits delivery progress and
// closes the handler streams (bounded), the store commits and closes.
//
// Example:
//   ASSIGN_OR_RETURN(std::unique_ptr<Server> server, Server::Start(options));
//   SB_LOG(INFO) << server->ListeningLine();
//   ...wait for SIGTERM...
//   server->Shutdown(absl::Seconds(10));
//
// Thread-safety: Start/Shutdown from one thread; accessors from any.
#ifndef SWITCHBOARD_SERVER_SERVER_H_
#define SWITCHBOARD_SERVER_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "protos/switchboard/v1/config.pb.h"

namespace switchboard::server {

class Server {
 public:
  struct Options {
    std::string http_addr = "127.0.0.1:4242";
    std::string grpc_addr = "127.0.0.1:50051";
    std::string ops_addr = "127.0.0.1:9090";
    std::string data_dir;  // REQUIRES: non-empty; created (0700) if missing
    switchboard::v1::Config config;
    // Overrides config.tolerance_seconds when set.
    std::optional<absl::Duration> tolerance;
    // --secrets_file for the default endpoint.
    std::string secrets_file;
    // Environment lookup (injectable for tests); defaults to getenv.
    std::function<std::optional<std::string>(const std::string&)> getenv;
  };

  // Starts every listener. kInvalidArgument for bad options or config, kFailedPrecondition when
  // no secret is available, kUnavailable when an address cannot be bound or the store cannot be
  // opened.
  static absl::StatusOr<std::unique_ptr<Server>> Start(Options options);
  ~Server();

  // "listening http=HOST:PORT grpc=HOST:PORT ops=HOST:PORT" with the bound ports.
  std::string ListeningLine() const;
  int http_port() const;
  int grpc_port() const;
  int ops_port() const;

  // Graceful stop (see the file comment). Idempotent.
  void Shutdown(absl::Duration deadline);

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Splits "host:port" or "[v6]:port". kInvalidArgument when malformed.
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address);

}  // namespace switchboard::server

#endif  // SWITCHBOARD_SERVER_SERVER_H_
