#include "sdk/flags.h"

#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "sdk/log.h"

ABSL_FLAG(std::string, gateway, "",
          "Gateway gRPC address (env SWITCHBOARD_GATEWAY; default 127.0.0.1:50051).");
ABSL_FLAG(bool, gateway_tls, false,
          "Use TLS to the gateway (implied by the file flags below); roots: the system's unless "
          "--gateway_ca_file.");
ABSL_FLAG(std::string, gateway_ca_file, "", "PEM roots that sign the gateway's certificate.");
ABSL_FLAG(std::string, gateway_cert_file, "", "mTLS: this handler's PEM certificate chain.");
ABSL_FLAG(std::string, gateway_key_file, "", "mTLS: this handler's PEM private key.");
ABSL_FLAG(std::string, listen, "",
          "host:port this handler listens on for the gateway; port 0 picks a free one (env "
          "SWITCHBOARD_LISTEN; default 127.0.0.1:0).");
ABSL_FLAG(std::string, advertise, "",
          "host[:port] the gateway dials, never 0.0.0.0 (env SWITCHBOARD_ADVERTISE; default the "
          "listen host, or 127.0.0.1, with the bound port).");
ABSL_FLAG(std::string, tls_cert_file, "",
          "TLS for the gateway's connections to this handler: PEM certificate chain.");
ABSL_FLAG(std::string, tls_key_file, "", "TLS: this handler's PEM private key.");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "mTLS: PEM CA that signs the gateway's client certificate (required when set).");
ABSL_FLAG(std::string, subscription, "",
          "Subscription name; instances with the same name share deliveries (env "
          "SWITCHBOARD_SUBSCRIPTION; default: the handler's own name).");
ABSL_FLAG(std::string, start, "now",
          "Where a new subscription starts: now, beginning, or an RFC 3339 time.");
ABSL_FLAG(int, max_in_flight, 0,
          "Unacknowledged deliveries at once over all instances (0: gateway default, 32).");
ABSL_FLAG(int, workers, 8, "Handler functions running at once in this instance.");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(30),
          "On SIGTERM, how long to wait for running handler calls.");

namespace switchboard::sdk {
namespace {

std::string FlagOrEnv(const std::string& flag, const char* env, absl::string_view fallback) {
  if (!flag.empty()) return flag;
  if (const char* value = std::getenv(env); value != nullptr && *value != '\0') return value;
  return std::string(fallback);
}

// abseil's own flags (--flagfile, --fromenv, ...) are declared in its sources ("absl/flags/
// parse.cc", with a leading "./" in Debian's build). Its default --help shows only flags of a
// file named after the binary (payments.cc), which in a handler matches none: the flags are
// declared here and main is main.cc.
bool DeclaredByAbseil(absl::string_view file) {
  absl::ConsumePrefix(&file, "./");
  return absl::StartsWith(file, "absl/");
}

}  // namespace

std::vector<char*> ParseFlags(int argc, char** argv, absl::string_view usage) {
  absl::FlagsUsageConfig config;
  config.contains_help_flags = [](absl::string_view file) { return !DeclaredByAbseil(file); };
  config.contains_helpshort_flags = config.contains_help_flags;
  absl::SetFlagsUsageConfig(config);
  // Wrapped by hand: abseil prints the message as it is, before the flags.
  absl::SetProgramUsageMessage(absl::StrCat(
      usage,
      "\n\nA Switchboard handler: registers its subscription with the gateway and handles the\n"
      "events the gateway delivers (docs/HANDLERS.md). SWITCHBOARD_GATEWAY, _LISTEN,\n"
      "_ADVERTISE and _SUBSCRIPTION in the environment stand in for their flags; a gateway\n"
      "with API tokens takes the first of SWITCHBOARD_GATEWAY_TOKEN (comma-separated).\n"
      "SIGTERM or SIGINT stops it after the running calls finish (--drain_timeout)."));
  return absl::ParseCommandLine(argc, argv);
}

absl::StatusOr<ServeOptions> OptionsFromFlags(absl::string_view default_subscription) {
  ServeOptions options;
  options.gateway.address =
      GatewayAddress(absl::GetFlag(FLAGS_gateway), std::getenv("SWITCHBOARD_GATEWAY"));
  options.gateway.token = GatewayTokenFromEnv();
  options.gateway.tls = absl::GetFlag(FLAGS_gateway_tls);
  options.gateway.ca_file = absl::GetFlag(FLAGS_gateway_ca_file);
  options.gateway.cert_file = absl::GetFlag(FLAGS_gateway_cert_file);
  options.gateway.key_file = absl::GetFlag(FLAGS_gateway_key_file);
  options.listen = FlagOrEnv(absl::GetFlag(FLAGS_listen), "SWITCHBOARD_LISTEN", options.listen);
  options.advertise = FlagOrEnv(absl::GetFlag(FLAGS_advertise), "SWITCHBOARD_ADVERTISE", "");
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  options.subscription = FlagOrEnv(absl::GetFlag(FLAGS_subscription), "SWITCHBOARD_SUBSCRIPTION",
                                   default_subscription);
  absl::StatusOr<StartPosition> start = ParseStartPosition(absl::GetFlag(FLAGS_start));
  if (!start.ok()) return start.status();
  options.start = *start;
  options.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  options.workers = absl::GetFlag(FLAGS_workers);
  options.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  return options;
}

int ServeFromFlags(const Router& router, absl::string_view default_subscription) {
  absl::StatusOr<ServeOptions> options = OptionsFromFlags(default_subscription);
  absl::Status status = options.ok() ? Serve(router, *std::move(options)) : options.status();
  if (!status.ok()) {
    LogWarning(absl::StrCat("sdk_exit error=", Quoted(status.ToString())));
    return 1;
  }
  return 0;
}

}  // namespace switchboard::sdk
