#include "server/config/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "openssl/rand.h"
#include "server/base/files.h"
#include "server/base/secret_list.h"

namespace switchboard::server::config {
namespace {

// Keeps where the first error is and drops protobuf's message: it quotes the offending token
// ("Expected string, got: whsec_...", "no field named \"whsec_...\""), and an unquoted inline
// secret is exactly such a token. The message goes to the start-up log.
class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& /*message*/) override {
    if (first_.empty()) {
      first_ = absl::StrCat("line ", line + 1, ":", column + 1,
                            ": not valid switchboard.v1.Config text (an unknown field, an unquoted "
                            "string or an unbalanced brace?); the text there is not shown since it "
                            "may be a secret");
    }
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

// The host of "host:port" or "[v6]:port" (malformed addresses are Server::Start's to refuse).
absl::string_view HostOf(absl::string_view address) {
  if (absl::ConsumePrefix(&address, "[")) return address.substr(0, address.find(']'));
  return address.substr(0, address.rfind(':'));
}

absl::StatusOr<std::vector<std::string>> SecretsFromFile(const std::string& path,
                                                         std::vector<std::string>* warnings) {
  absl::StatusOr<std::string> text = base::ReadFileToString(path);
  if (!text.ok()) return text.status();
  std::vector<std::string> secrets = base::SplitSecrets(*text);
  if (secrets.empty()) return absl::FailedPreconditionError(absl::StrCat("no secret in ", path));
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    warnings->push_back(absl::StrCat(path, " is readable by group or others (chmod 600 it)"));
  }
  return secrets;
}

// Stripe's signing secrets all start with whsec_: anything else is most likely a pasted
// `NAME=value` line or the wrong value, and would make every signature check fail (or pass for
// whoever can guess it). Named by position, never by value.
void WarnAboutUnlikelySecrets(ResolvedEndpoint* endpoint) {
  for (size_t i = 0; i < endpoint->secrets.size(); ++i) {
    if (!absl::StartsWith(endpoint->secrets[i], "whsec_")) {
      endpoint->warnings.push_back(absl::StrCat(
          "secret ", i + 1, " of ", endpoint->secrets.size(), " from ", endpoint->source,
          " does not start with whsec_ (Stripe's signing secrets do)"));
    }
  }
}

}  // namespace

absl::StatusOr<switchboard::v1::Config> LoadConfigFile(const std::string& path) {
  absl::StatusOr<std::string> text = base::ReadFileToString(path);
  if (!text.ok()) return text.status();
  switchboard::v1::Config config;
  google::protobuf::TextFormat::Parser parser;
  CollectErrors errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(*text, &config)) {
    return absl::InvalidArgumentError(absl::StrCat("config ", path, ": ", errors.first()));
  }
  return config;
}

std::string DevSecretPath(const std::string& data_dir) {
  return absl::StrCat(data_dir, "/dev_webhook_secret");
}

absl::StatusOr<std::string> LoadOrCreateDevSecret(const std::string& data_dir) {
  const std::string path = DevSecretPath(data_dir);
  if (absl::StatusOr<std::string> existing = base::ReadFileToString(path); existing.ok()) {
    std::vector<std::string> secrets = base::SplitSecrets(*existing);
    if (!secrets.empty()) return secrets.front();
  }
  unsigned char random[24];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return absl::InternalError("RAND_bytes failed");
  }
  const std::string secret = absl::StrCat(
      "whsec_dev_",
      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(random), sizeof(random))));
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  }
  const std::string line = secret + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  return secret;
}

absl::StatusOr<std::vector<std::string>> GatewayTokens(
    const std::string& token_file,
    const std::function<std::optional<std::string>(const std::string&)>& getenv) {
  std::vector<std::string> tokens;
  if (!token_file.empty()) {
    absl::StatusOr<std::string> text = base::ReadFileToString(token_file);
    if (!text.ok()) return text.status();
    tokens = base::SplitSecrets(*text);
  }
  if (getenv) {
    if (std::optional<std::string> env = getenv("SWITCHBOARD_GATEWAY_TOKEN")) {
      for (std::string& t : base::SplitSecrets(*env)) tokens.push_back(std::move(t));
    }
  }
  return tokens;
}

bool IsLoopbackHost(absl::string_view host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  return absl::StartsWith(host, "127.") &&
         host.find_first_not_of("0123456789.") == absl::string_view::npos;
}

absl::Status CheckGrpcAuthentication(const switchboard::v1::Config& config,
                                     absl::string_view grpc_addr,
                                     const std::vector<std::string>& tokens) {
  const switchboard::v1::Tls& tls = config.grpc_tls();
  // The listener asks for client certificates only with a server certificate and a client CA.
  const bool client_certificates =
      !tls.cert_file().empty() && !tls.key_file().empty() && !tls.ca_file().empty();
  if (IsLoopbackHost(HostOf(grpc_addr)) || !tokens.empty() || client_certificates ||
      config.allow_unauthenticated_grpc()) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "gRPC listener ", grpc_addr,
      " is not on loopback and the Gateway API has no authentication: set "
      "SWITCHBOARD_GATEWAY_TOKEN or gateway_token_file (bearer tokens), or grpc_tls with "
      "cert_file, key_file and ca_file (client certificates); or, if the network itself keeps "
      "others out, allow_unauthenticated_grpc: true in --config or --allow_unauthenticated_grpc"));
}

absl::StatusOr<std::vector<ResolvedEndpoint>> ResolveEndpoints(
    const switchboard::v1::Config& config, const SecretSources& sources) {
  std::vector<ResolvedEndpoint> out;
  if (!config.endpoints().empty() && !sources.default_secrets_file.empty()) {
    return absl::InvalidArgumentError(
        "--secrets_file sets the default /webhook endpoint's secrets, but --config lists "
        "endpoints: give each endpoint its own secrets_file (or secret_env) in the config instead");
  }
  if (config.endpoints().empty()) {
    ResolvedEndpoint endpoint{"/webhook", {}, ""};
    std::optional<std::string> env =
        sources.getenv ? sources.getenv("STRIPE_WEBHOOK_SECRET") : std::nullopt;
    if (!sources.default_secrets_file.empty()) {
      absl::StatusOr<std::vector<std::string>> secrets =
          SecretsFromFile(sources.default_secrets_file, &endpoint.warnings);
      if (!secrets.ok()) return secrets.status();
      endpoint.secrets = *std::move(secrets);
      endpoint.source = absl::StrCat("file ", sources.default_secrets_file);
    } else if (env && !base::SplitSecrets(*env).empty()) {
      endpoint.secrets = base::SplitSecrets(*env);
      endpoint.source = "env STRIPE_WEBHOOK_SECRET";
    } else if (sources.loopback_only) {
      absl::StatusOr<std::string> dev = LoadOrCreateDevSecret(sources.data_dir);
      if (!dev.ok()) return dev.status();
      endpoint.secrets = {*dev};
      endpoint.source = absl::StrCat("development secret in ", DevSecretPath(sources.data_dir));
    } else {
      return absl::FailedPreconditionError(
          "no webhook secret: set STRIPE_WEBHOOK_SECRET (or --secrets_file, or endpoints in "
          "--config); a generated development secret is only used on a loopback address");
    }
    WarnAboutUnlikelySecrets(&endpoint);
    out.push_back(std::move(endpoint));
    return out;
  }
  for (const switchboard::v1::Endpoint& e : config.endpoints()) {
    ResolvedEndpoint endpoint{e.path(), {}, ""};
    if (!e.secrets_file().empty()) {
      absl::StatusOr<std::vector<std::string>> secrets =
          SecretsFromFile(e.secrets_file(), &endpoint.warnings);
      if (!secrets.ok()) return secrets.status();
      endpoint.secrets = *std::move(secrets);
      endpoint.source = absl::StrCat("file ", e.secrets_file());
    } else if (!e.secret_env().empty()) {
      std::optional<std::string> env =
          sources.getenv ? sources.getenv(e.secret_env()) : std::nullopt;
      if (!env || base::SplitSecrets(*env).empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "endpoint ", e.path(), ": environment variable ", e.secret_env(), " is not set"));
      }
      endpoint.secrets = base::SplitSecrets(*env);
      endpoint.source = absl::StrCat("env ", e.secret_env());
    } else if (!e.secrets().empty()) {
      for (const std::string& s : e.secrets()) {
        for (std::string& part : base::SplitSecrets(s)) endpoint.secrets.push_back(std::move(part));
      }
      endpoint.source = "config file";
    }
    if (endpoint.secrets.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "endpoint ", e.path(), ": no secret (set secret_env, secrets_file or secrets)"));
    }
    WarnAboutUnlikelySecrets(&endpoint);
    out.push_back(std::move(endpoint));
  }
  return out;
}

}  // namespace switchboard::server::config
