// How a handler (and tools/ctl) reaches the gateway's gRPC API: address, bearer token, TLS.
//
// The gateway's API is plaintext on loopback by default. A gateway configured with tokens
// (gateway_token_file / SWITCHBOARD_GATEWAY_TOKEN) wants `authorization: Bearer <token>` on
// every call; one configured with grpc_tls wants TLS, and with a client CA, a client
// certificate (mTLS). See docs/CONFIGURATION.md and docs/HANDLERS.md.
//
// Example:
//   GatewayClientOptions gateway{.address = "gw.internal:50051", .token = GatewayTokenFromEnv(),
//                                .tls = true, .ca_file = "/etc/switchboard/ca.pem"};
//   ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel, DialGateway(gateway));
//   auto stub = switchboard::v1::Gateway::NewStub(channel);
//   grpc::ClientContext context;
//   AuthorizeCall(gateway, &context);
//
// Thread-safety: pure functions (DialGateway reads files).
#ifndef SWITCHBOARD_SDK_GATEWAY_CLIENT_H_
#define SWITCHBOARD_SDK_GATEWAY_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"

namespace switchboard::sdk {

struct GatewayClientOptions {
  // host:port of the gateway's gRPC listener.
  std::string address = "127.0.0.1:50051";
  // Sent as `authorization: Bearer <token>` on every call when not empty. Keep it out of
  // command lines (they show in `ps`): GatewayTokenFromEnv() reads SWITCHBOARD_GATEWAY_TOKEN.
  std::string token;
  // TLS to the gateway: on when `tls` is true or any file below is set.
  bool tls = false;
  // PEM roots that sign the gateway's certificate; empty: the system's roots.
  std::string ca_file;
  // mTLS: this client's PEM certificate chain and private key (both or neither).
  std::string cert_file;
  std::string key_file;
};

// A channel to the gateway. kInvalidArgument when only one of cert_file/key_file is set;
// kNotFound when a file cannot be read. Connecting happens lazily, on the first call.
absl::StatusOr<std::shared_ptr<grpc::Channel>> DialGateway(const GatewayClientOptions& options);

// Adds the bearer token (if any) to a call's metadata. Call before starting the call.
void AuthorizeCall(const GatewayClientOptions& options, grpc::ClientContext* context);

// The first token of the comma-separated SWITCHBOARD_GATEWAY_TOKEN, or "" when unset.
std::string GatewayTokenFromEnv();

// The address to dial, by the rule handlers and tools/ctl share: `flag` (--gateway) when given,
// else `env` (the value of SWITCHBOARD_GATEWAY; may be null) when set and non-empty, else
// GatewayClientOptions' default, 127.0.0.1:50051.
std::string GatewayAddress(absl::string_view flag, const char* env);

}  // namespace switchboard::sdk

#endif  // SWITCHBOARD_SDK_GATEWAY_CLIENT_H_
