// The ctl tool's logic: parse a command, call the gateway, print a human-readable answer.
//
// `bazel run //tools/ctl -- subs list` is the command-line face (main.cc); everything is here,
// against Gateway::StubInterface, so the tests run it against a mock stub without sockets.
//
// Commands (see kUsage in ctl_lib.cc for the flags each takes):
//   subs list | subs create NAME --types=... | subs delete NAME [--member=ADDR]
//   events list [--types=...] [--after=T] [--before=T] [--limit=N] | events show ID [--proto]
//   replay SUB (--ids=... | at least one of --types=... --after=T --before=T)
//   dead list SUB | dead redrive SUB [--ids=...] | dead discard SUB --ids=... | --all
//   stats
//
// Text that comes from outside (event ids and types from Stripe's bodies, a handler's LAST_ERROR,
// the gateway's error messages) is printed with control characters escaped, so it can neither
// forge output lines nor send the terminal escape sequences (the rule is in kUsage).
//
// Example:
//   auto stub = switchboard::v1::Gateway::NewStub(channel);
//   CtlOptions options;
//   int exit_code = RunCtl({"subs", "list"}, options, *stub, std::cout, std::cerr);
//
// Thread-safety: thread-compatible (no shared state).
#ifndef SWITCHBOARD_TOOLS_CTL_CTL_LIB_H_
#define SWITCHBOARD_TOOLS_CTL_CTL_LIB_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "protos/switchboard/v1/gateway.grpc.pb.h"
#include "sdk/gateway_client.h"

namespace switchboard::tools::ctl {

extern const char kUsage[];

// Per-command options (the tool's flags).
struct CtlOptions {
  // The gateway's address (see GatewayAddress), token (sent on every call) and TLS settings.
  sdk::GatewayClientOptions gateway;
  std::vector<std::string> types;  // subs create, events list, replay
  std::vector<std::string> ids;    // replay, dead redrive, dead discard
  std::string member;              // subs create / delete: a member address
  std::string after;               // RFC 3339, events list / replay: created >= after
  std::string before;              // RFC 3339, events list / replay: created < before
  std::string start = "now";       // subs create: now | beginning | RFC 3339
  int max_in_flight = 0;           // subs create
  int limit = 100;                 // events list, dead list: at most this many rows
  bool proto = false;              // events show: the protobuf (text format) instead of JSON
  bool all = false;                // dead discard: every dead letter (instead of --ids)
  absl::Duration timeout = absl::Seconds(10);  // per call
};

// Runs `args` (the command words without the program name and flags). Writes results to
// `out`, problems to `err`. Returns the exit code: 0 on success, 1 for a failed call, 2 for a
// usage error.
int RunCtl(const std::vector<std::string>& args, const CtlOptions& options,
           switchboard::v1::Gateway::StubInterface& gateway, std::ostream& out, std::ostream& err);

}  // namespace switchboard::tools::ctl

#endif  // SWITCHBOARD_TOOLS_CTL_CTL_LIB_H_
