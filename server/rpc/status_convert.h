// The one place absl::Status and grpc::Status are converted (codes map one to one).
#ifndef SWITCHBOARD_SERVER_RPC_STATUS_CONVERT_H_
#define SWITCHBOARD_SERVER_RPC_STATUS_CONVERT_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace switchboard::server::rpc {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

inline absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace switchboard::server::rpc

#endif  // SWITCHBOARD_SERVER_RPC_STATUS_CONVERT_H_
