// Command-line flags for handler binaries, so every handler is configured the same way:
//
//   --gateway       gateway gRPC address        env SWITCHBOARD_GATEWAY    default 127.0.0.1:50051
//   --listen        where to listen             env SWITCHBOARD_LISTEN     default 127.0.0.1:0
//   --advertise     address the gateway dials   env SWITCHBOARD_ADVERTISE  default 127.0.0.1:<port>
//   --subscription  subscription name           env SWITCHBOARD_SUBSCRIPTION  default: the
//   handler's
//   --start         now | beginning | RFC 3339 time (new subscriptions only)   default now
//   --max_in_flight, --workers, --drain_timeout  see ServeOptions
//   --gateway_tls, --gateway_ca_file, --gateway_cert_file, --gateway_key_file  TLS / mTLS
//
// A gateway that requires a token gets the first of SWITCHBOARD_GATEWAY_TOKEN (comma-separated);
// there is deliberately no flag for it (command lines show in `ps`).
//
// A flag given on the command line wins over the environment variable. Linking this library
// defines these flags in the binary.
//
// Example:
//   int main(int argc, char** argv) {
//     sdk::ParseFlags(argc, argv, "records paid invoices in the billing database.");
//     sdk::Router router;
//     RegisterMyHandlers(router);
//     return sdk::ServeFromFlags(router, "my-handler");
//   }
//
// Thread-safety: call from main, ParseFlags first (or absl::ParseCommandLine, which parses the
// same flags but leaves --help without them).
#ifndef SWITCHBOARD_SDK_FLAGS_H_
#define SWITCHBOARD_SDK_FLAGS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sdk/router.h"
#include "sdk/serve.h"

namespace switchboard::sdk {

// absl::ParseCommandLine for a handler binary, with a --help that starts with `usage` (what
// this handler does, one sentence), adds what every handler shares (the environment
// variables, docs/HANDLERS.md), and lists the flags above and the binary's own, not abseil's
// (--helpfull lists every flag). Returns the positional arguments, argv[0] first. Like
// absl::ParseCommandLine, exits the process after --help or on a bad flag.
// REQUIRES: called once, before the flags are read; nothing else in the program calls
// absl::SetProgramUsageMessage or absl::SetFlagsUsageConfig.
std::vector<char*> ParseFlags(int argc, char** argv, absl::string_view usage);

// ServeOptions from the flags and environment; `default_subscription` when neither names one.
// kInvalidArgument for an unparsable --start.
absl::StatusOr<ServeOptions> OptionsFromFlags(absl::string_view default_subscription);

// OptionsFromFlags + Serve; logs any error. Returns the process exit code: 0 after a clean
// drain, 1 otherwise.
int ServeFromFlags(const Router& router, absl::string_view default_subscription);

}  // namespace switchboard::sdk

#endif  // SWITCHBOARD_SDK_FLAGS_H_
