// Test helpers: a plaintext gRPC server on a free loopback port, and a stub that talks to it.
// For tests of the gateway's services and of its delivery client; never for production
// listeners (no TLS, no limits).
//
// Example:
//   int port = 0;
//   std::unique_ptr<grpc::Server> server = StartLocalServer(&service, &port);
//   ASSERT_NE(server, nullptr);
//   auto stub = switchboard::v1::Gateway::NewStub(LocalChannel(port));
#ifndef SWITCHBOARD_SERVER_RPC_LOCAL_GRPC_SERVER_H_
#define SWITCHBOARD_SERVER_RPC_LOCAL_GRPC_SERVER_H_

#include <map>
#include <memory>
#include <string>

#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"

namespace switchboard::server::rpc {

// Serves `service` on 127.0.0.1 at a free port (stored in *port) with the integer channel
// arguments `args`. nullptr when the server cannot start.
std::unique_ptr<grpc::Server> StartLocalServer(grpc::Service* service, int* port,
                                               const std::map<std::string, int>& args = {});
// The same for a generic service, which answers every method.
std::unique_ptr<grpc::Server> StartLocalServer(grpc::CallbackGenericService* service, int* port,
                                               const std::map<std::string, int>& args = {});

// An insecure channel to 127.0.0.1:port.
std::shared_ptr<grpc::Channel> LocalChannel(int port);

}  // namespace switchboard::server::rpc

#endif  // SWITCHBOARD_SERVER_RPC_LOCAL_GRPC_SERVER_H_
