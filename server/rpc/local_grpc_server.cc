#include "server/rpc/local_grpc_server.h"

#include "absl/strings/str_cat.h"

namespace switchboard::server::rpc {
namespace {

std::unique_ptr<grpc::Server> Start(grpc::Service* service, grpc::CallbackGenericService* generic,
                                    int* port, const std::map<std::string, int>& args) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  for (const auto& [name, value] : args) builder.AddChannelArgument(name, value);
  if (service != nullptr) builder.RegisterService(service);
  if (generic != nullptr) builder.RegisterCallbackGenericService(generic);
  return builder.BuildAndStart();
}

}  // namespace

std::unique_ptr<grpc::Server> StartLocalServer(grpc::Service* service, int* port,
                                               const std::map<std::string, int>& args) {
  return Start(service, nullptr, port, args);
}

std::unique_ptr<grpc::Server> StartLocalServer(grpc::CallbackGenericService* service, int* port,
                                               const std::map<std::string, int>& args) {
  return Start(nullptr, service, port, args);
}

std::shared_ptr<grpc::Channel> LocalChannel(int port) {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
}

}  // namespace switchboard::server::rpc
