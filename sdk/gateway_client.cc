#include "sdk/gateway_client.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace switchboard::sdk {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", what, " ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> DialGateway(const GatewayClientOptions& options) {
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs both the certificate and the key file");
  }
  const bool tls = options.tls || !options.ca_file.empty() || !options.cert_file.empty();
  if (!tls) return grpc::CreateChannel(options.address, grpc::InsecureChannelCredentials());
  grpc::SslCredentialsOptions ssl;
  if (!options.ca_file.empty()) {
    absl::StatusOr<std::string> roots = ReadFile(options.ca_file, "gateway CA file");
    if (!roots.ok()) return roots.status();
    ssl.pem_root_certs = *std::move(roots);
  }
  if (!options.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadFile(options.cert_file, "client certificate");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile(options.key_file, "client key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::CreateChannel(options.address, grpc::SslCredentials(ssl));
}

void AuthorizeCall(const GatewayClientOptions& options, grpc::ClientContext* context) {
  if (!options.token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options.token));
  }
}

std::string GatewayTokenFromEnv() {
  const char* env = std::getenv("SWITCHBOARD_GATEWAY_TOKEN");
  if (env == nullptr) return "";
  for (absl::string_view token : absl::StrSplit(env, ',')) {
    token = absl::StripAsciiWhitespace(token);
    if (!token.empty()) return std::string(token);
  }
  return "";
}

std::string GatewayAddress(absl::string_view flag, const char* env) {
  if (!flag.empty()) return std::string(flag);
  if (env != nullptr && *env != '\0') return env;
  return GatewayClientOptions().address;
}

}  // namespace switchboard::sdk
