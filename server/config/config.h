// Gateway configuration: the text-format switchboard.v1.Config file and the secrets of each
// webhook endpoint.
//
// Secrets never come from a flag value. For each endpoint they are read, in this order, from:
// its `secrets_file`, its `secret_env` variable, its inline `secrets`. With no endpoint
// configured there is one, `/webhook`, whose secrets come from STRIPE_WEBHOOK_SECRET (comma-
// separated for rotation) or `--secrets_file`; when neither is set and the webhook listener is on
// a loopback address, a local development secret is generated once and kept in
// `<data_dir>/dev_webhook_secret` (mode 0600) for tools/trigger. On a non-loopback address the
// gateway refuses to start without a secret rather than accept unsigned events. `--secrets_file`
// only names the default endpoint's secrets: with endpoints in the config it is refused, not
// ignored.
//
// The Gateway API (events with their raw bodies, subscribe, replay, redrive) is likewise not left
// open off loopback: CheckGrpcAuthentication wants gateway API tokens, client certificates or an
// explicit `allow_unauthenticated_grpc`.
//
// A syntax error in the config file is reported by line and column only: the parser's own
// message quotes the offending text, which may be a secret.
//
// Thread-safety: free functions without shared state.
#ifndef SWITCHBOARD_SERVER_CONFIG_CONFIG_H_
#define SWITCHBOARD_SERVER_CONFIG_CONFIG_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "protos/switchboard/v1/config.pb.h"

namespace switchboard::server::config {

// Reads a text-format switchboard.v1.Config. kNotFound (or the errno's code) when unreadable;
// kInvalidArgument with the line and column of the first syntax error, never its text.
absl::StatusOr<switchboard::v1::Config> LoadConfigFile(const std::string& path);

struct ResolvedEndpoint {
  std::string path;
  std::vector<std::string> secrets;
  // Where the secrets came from, for the start-up log (never the secrets themselves).
  std::string source;
  // For the start-up log: a secret that does not look like Stripe's, a secrets file others can
  // read. Never contain a secret.
  std::vector<std::string> warnings;
};

struct SecretSources {
  // Reads an environment variable (injectable for tests).
  std::function<std::optional<std::string>(const std::string&)> getenv;
  // --secrets_file for the default endpoint; may be empty. Refused when the config lists
  // endpoints.
  std::string default_secrets_file;
  // Where the development secret lives: <data_dir>/dev_webhook_secret.
  std::string data_dir;
  // Whether the webhook listener binds a loopback address (development secret allowed).
  bool loopback_only = true;
};

// The endpoints of `config` with their secrets. kInvalidArgument when `default_secrets_file` is
// set and the config lists endpoints; kFailedPrecondition with a message saying what to set when
// an endpoint has no secret; the file's error when a secrets file cannot be read.
absl::StatusOr<std::vector<ResolvedEndpoint>> ResolveEndpoints(
    const switchboard::v1::Config& config, const SecretSources& sources);

// The development secret file under `data_dir` (created with a fresh random secret when absent).
absl::StatusOr<std::string> LoadOrCreateDevSecret(const std::string& data_dir);

// "<data_dir>/dev_webhook_secret".
std::string DevSecretPath(const std::string& data_dir);

// Gateway API tokens from `token_file` (if set) plus SWITCHBOARD_GATEWAY_TOKEN (comma-separated).
// Empty when neither is set (no authentication). kNotFound when the file cannot be read.
absl::StatusOr<std::vector<std::string>> GatewayTokens(
    const std::string& token_file,
    const std::function<std::optional<std::string>(const std::string&)>& getenv);

// OK when the Gateway API on `grpc_addr` ("host:port") does not answer just anyone who can reach
// it: the host is loopback, `tokens` (from GatewayTokens) is not empty, `config.grpc_tls` requires
// client certificates (cert_file, key_file and ca_file all set), or
// `config.allow_unauthenticated_grpc`. kFailedPrecondition otherwise, saying what to set.
absl::Status CheckGrpcAuthentication(const switchboard::v1::Config& config,
                                     absl::string_view grpc_addr,
                                     const std::vector<std::string>& tokens);

// True when `host` (from an address like "127.0.0.1:4242") is localhost, ::1 or a 127.x.y.z
// address (not a name that merely starts with "127.").
bool IsLoopbackHost(absl::string_view host);

}  // namespace switchboard::server::config

#endif  // SWITCHBOARD_SERVER_CONFIG_CONFIG_H_
