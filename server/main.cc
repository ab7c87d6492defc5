// The Switchboard gateway: `bazel run //server`. Flags only; the wiring is in server.{h,cc}.
// See docs/CONFIGURATION.md for every flag and config field.
#include <signal.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/base/files.h"
#include "server/base/log.h"
#include "server/config/config.h"
#include "server/server.h"

// The flags a config file can also set are optional: given (in any spelling abseil accepts,
// --flagfile included) they win over the config; absent, the config's value or the default holds.
ABSL_FLAG(std::optional<std::string>, http_addr, std::nullopt,
          "Webhook listener (POST /webhook, /healthz, /readyz); default 127.0.0.1:4242. Port 0 "
          "picks a free port.");
ABSL_FLAG(std::optional<std::string>, grpc_addr, std::nullopt,
          "gRPC listener: switchboard.v1.Gateway, grpc.health.v1.Health, reflection; default "
          "127.0.0.1:50051.");
ABSL_FLAG(std::optional<std::string>, ops_addr, std::nullopt,
          "Operations listener: /metrics, /healthz, /readyz; default 127.0.0.1:9090. Keep it off "
          "the public network.");
ABSL_FLAG(std::optional<std::string>, data_dir, std::nullopt,
          "Where the event database lives. Default: $BUILD_WORKSPACE_DIRECTORY/.switchboard under "
          "`bazel run`, else ./.switchboard.");
ABSL_FLAG(std::string, config, "", "A text-format switchboard.v1.Config file.");
ABSL_FLAG(std::string, secrets_file, "",
          "A file with the default /webhook endpoint's secrets (comma- or line-separated); refused "
          "when --config lists endpoints. Secrets are never taken from a flag value.");
ABSL_FLAG(bool, allow_unauthenticated_grpc, false,
          "Serve the Gateway API without authentication on a non-loopback --grpc_addr (otherwise "
          "refused: set SWITCHBOARD_GATEWAY_TOKEN or grpc_tls client certificates instead). Only "
          "for a network that keeps others out. Also allow_unauthenticated_grpc in --config: "
          "either turns it on.");
ABSL_FLAG(std::optional<int>, tolerance, std::nullopt,
          "Signature timestamp tolerance in seconds (else the config's tolerance_seconds, else "
          "300). 0 disables the time check; negative is refused.");
ABSL_FLAG(int, shutdown_grace_seconds, 10, "How long shutdown waits for open gRPC calls.");

namespace {

std::string DefaultDataDir() {
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY"); ws != nullptr && *ws != '\0') {
    return absl::StrCat(ws, "/.switchboard");
  }
  return "./.switchboard";
}

int StartFailed(const absl::Status& status) {
  SB_LOG(ERROR) << "start_failed code=" << absl::StatusCodeToString(status.code())
                << " error=" << switchboard::base::Quoted(status.message());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "server/main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "Switchboard: receives Stripe webhooks, stores them durably and serves them over gRPC.\n"
      "Usage: server [--http_addr=127.0.0.1:4242] [--data_dir=DIR] [--config=FILE]\n"
      "Secrets: STRIPE_WEBHOOK_SECRET (comma-separated for rotation) or --secrets_file.\n"
      "Gateway API off loopback: SWITCHBOARD_GATEWAY_TOKEN, grpc_tls client certificates or "
      "--allow_unauthenticated_grpc.");
  // Relative paths (flags, a --flagfile, the config file) mean the user's directory under
  // `bazel run`.
  if (absl::Status entered = switchboard::base::EnterBuildWorkingDirectory(); !entered.ok()) {
    return StartFailed(entered);
  }
  absl::ParseCommandLine(argc, argv);
  // Debian's abseil is built with deadlock detection on: it records every lock order in a
  // global graph (a few percent of the CPU under load, measured). Tests keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Signals are taken synchronously by this thread; every thread started later inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  switchboard::server::Server::Options options;
  if (!absl::GetFlag(FLAGS_config).empty()) {
    auto config = switchboard::server::config::LoadConfigFile(absl::GetFlag(FLAGS_config));
    if (!config.ok()) {
      SB_LOG(ERROR) << "config_error error="
                    << switchboard::base::Quoted(config.status().message());
      return 2;
    }
    options.config = *std::move(config);
  }
  const switchboard::v1::Config& c = options.config;
  // A flag given wins; else the config's value; else the default.
  auto pick = [](const std::optional<std::string>& flag, const std::string& from_config,
                 std::string fallback) {
    if (flag.has_value()) return *flag;
    return from_config.empty() ? fallback : from_config;
  };
  options.http_addr = pick(absl::GetFlag(FLAGS_http_addr), c.http_addr(), "127.0.0.1:4242");
  options.grpc_addr = pick(absl::GetFlag(FLAGS_grpc_addr), c.grpc_addr(), "127.0.0.1:50051");
  options.ops_addr = pick(absl::GetFlag(FLAGS_ops_addr), c.ops_addr(), "127.0.0.1:9090");
  options.data_dir = pick(absl::GetFlag(FLAGS_data_dir), c.data_dir(), DefaultDataDir());
  options.secrets_file = absl::GetFlag(FLAGS_secrets_file);
  if (std::optional<int> tolerance = absl::GetFlag(FLAGS_tolerance)) {
    options.tolerance = absl::Seconds(*tolerance);
  }
  if (absl::GetFlag(FLAGS_allow_unauthenticated_grpc)) {
    options.config.set_allow_unauthenticated_grpc(true);
  }

  auto server = switchboard::server::Server::Start(std::move(options));
  if (!server.ok()) return StartFailed(server.status());
  SB_LOG(INFO) << (*server)->ListeningLine();

  int received = 0;
  sigwait(&signals, &received);
  SB_LOG(INFO) << "shutdown signal=" << (received == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Shutdown(absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_seconds)));
  return 0;
}
