// ctl: a thin command-line client of the gateway's gRPC API. Flags only; the logic is in
// ctl_lib.

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "grpcpp/grpcpp.h"
#include "sdk/gateway_client.h"
#include "server/base/files.h"
#include "tools/ctl/ctl_lib.h"

ABSL_FLAG(std::string, gateway, "",
          "The gateway's gRPC address (env SWITCHBOARD_GATEWAY; default 127.0.0.1:50051).");
ABSL_FLAG(bool, tls, false, "Use TLS (implied by the file flags); system roots unless --ca_file.");
ABSL_FLAG(std::string, ca_file, "", "PEM roots that sign the gateway's certificate.");
ABSL_FLAG(std::string, cert_file, "", "mTLS: client PEM certificate chain.");
ABSL_FLAG(std::string, key_file, "", "mTLS: client PEM private key.");
ABSL_FLAG(std::vector<std::string>, types, {},
          "Event types: exact, prefix.* or * (subs create, events list, replay).");
ABSL_FLAG(std::vector<std::string>, ids, {}, "Event ids (replay, dead redrive, dead discard).");
ABSL_FLAG(std::string, member, "", "A member's host:port (subs create, subs delete).");
ABSL_FLAG(std::string, after, "", "RFC 3339: events created at or after (events list, replay).");
ABSL_FLAG(std::string, before, "", "RFC 3339: events created before (events list, replay).");
ABSL_FLAG(std::string, start, "now", "subs create: now, beginning or an RFC 3339 time.");
ABSL_FLAG(int, max_in_flight, 0,
          "subs create: unacknowledged deliveries at once (0: the gateway's default).");
ABSL_FLAG(int, limit, 100, "events list, dead list: show at most this many (at least 1).");
ABSL_FLAG(bool, proto, false, "events show: print the protobuf form instead of the raw JSON.");
ABSL_FLAG(bool, all, false, "dead discard: every dead letter of the subscription (no --ids).");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "Deadline of each call (positive).");

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "tools/ctl/");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(switchboard::tools::ctl::kUsage);
  // Relative paths in flags (and a --flagfile) mean the user's directory under `bazel run`.
  if (absl::Status entered = switchboard::base::EnterBuildWorkingDirectory(); !entered.ok()) {
    std::cerr << "ctl: " << entered.message() << "\n";
    return 1;
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);

  switchboard::tools::ctl::CtlOptions options;
  options.gateway.address = switchboard::sdk::GatewayAddress(absl::GetFlag(FLAGS_gateway),
                                                             std::getenv("SWITCHBOARD_GATEWAY"));
  options.gateway.token = switchboard::sdk::GatewayTokenFromEnv();
  options.gateway.tls = absl::GetFlag(FLAGS_tls);
  options.gateway.ca_file = absl::GetFlag(FLAGS_ca_file);
  options.gateway.cert_file = absl::GetFlag(FLAGS_cert_file);
  options.gateway.key_file = absl::GetFlag(FLAGS_key_file);
  options.types = absl::GetFlag(FLAGS_types);
  options.ids = absl::GetFlag(FLAGS_ids);
  options.member = absl::GetFlag(FLAGS_member);
  options.after = absl::GetFlag(FLAGS_after);
  options.before = absl::GetFlag(FLAGS_before);
  options.start = absl::GetFlag(FLAGS_start);
  options.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  options.limit = absl::GetFlag(FLAGS_limit);
  options.proto = absl::GetFlag(FLAGS_proto);
  options.all = absl::GetFlag(FLAGS_all);
  options.timeout = absl::GetFlag(FLAGS_timeout);

  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      switchboard::sdk::DialGateway(options.gateway);
  if (!channel.ok()) {
    std::cerr << "ctl: " << channel.status().message() << "\n";
    return 2;
  }
  auto gateway = switchboard::v1::Gateway::NewStub(*channel);
  return switchboard::tools::ctl::RunCtl(
      std::vector<std::string>(positional.begin() + 1, positional.end()), options, *gateway,
      std::cout, std::cerr);
}
