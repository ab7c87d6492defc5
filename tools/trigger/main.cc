// trigger: sign and POST example Stripe events to a Switchboard (or any Stripe webhook) endpoint.
// Flags only; the logic is in trigger_lib.

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/base/files.h"
#include "tools/trigger/trigger_lib.h"

ABSL_FLAG(std::string, url, "http://127.0.0.1:4242/webhook", "Webhook endpoint to POST to.");
ABSL_FLAG(std::string, file, "",
          "Send this JSON file as-is (byte for byte) instead of a built-in example event.");
ABSL_FLAG(std::string, secret_file, "",
          "File holding the webhook secret (its first entry); when given it wins over "
          "STRIPE_WEBHOOK_SECRET.");
ABSL_FLAG(std::string, data_dir, "",
          "Gateway data dir holding dev_webhook_secret, tried last. Default: "
          "$BUILD_WORKSPACE_DIRECTORY/.switchboard under `bazel run`, else ./.switchboard.");
ABSL_FLAG(int, count, 1,
          "Send this many distinct events (fresh ids) of the event type, one after another "
          "(not with --file, whose id is fixed).");
ABSL_FLAG(bool, print, false, "Print the signed header and body instead of sending them.");
ABSL_FLAG(bool, list, false, "List the event types with a built-in example and exit.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10),
          "Connect and per-read/write timeout of each POST.");

namespace switchboard::tools::trigger {
namespace {

constexpr char kUsage[] =
    R"(signs Stripe webhook events locally and POSTs them to an endpoint.

Usage:
  bazel run //tools/trigger -- EVENT_TYPE [--url=URL] [--count=N] [--print]
  bazel run //tools/trigger -- --file=event.json [--url=URL]
  bazel run //tools/trigger -- --list

The secret comes from --secret_file when given (an explicit file wins, as in the server), else
STRIPE_WEBHOOK_SECRET, else the local development secret the gateway writes to
<data_dir>/dev_webhook_secret when started without one; of a list (comma- or line-separated) the
first entry signs. It is never taken from a flag value. Under `bazel run`, relative paths
(--file, --secret_file, --data_dir) are taken from the directory the command was typed in.
Prints each response's HTTP status and body. Exit status: 0 if every response was 2xx, 1 if one
was not (or the secret, file or URL could not be used), 2 usage error.)";

struct Job {
  std::string label;  // what is being sent, for the output
  std::string body;
};

int Run(const std::vector<char*>& args) {
  if (absl::GetFlag(FLAGS_list)) {
    for (const std::string& type : KnownEventTypes()) std::cout << type << "\n";
    return 0;
  }
  const std::string file = absl::GetFlag(FLAGS_file);
  const int count = absl::GetFlag(FLAGS_count);
  // args[0] is the program name.
  if (absl::Status usage = CheckInvocation({{args.begin() + 1, args.end()}, file, count});
      !usage.ok()) {
    std::cerr << "trigger: " << usage.message() << "\n";
    return 2;
  }
  std::string file_body;
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "trigger: cannot read " << file << "\n";
      return 1;
    }
    std::ostringstream contents;
    contents << in.rdbuf();
    file_body = contents.str();
  }

  SecretSources sources;
  if (const char* env = std::getenv(kSecretEnvVar); env != nullptr) {
    sources.env = env;
  }
  sources.secret_file = absl::GetFlag(FLAGS_secret_file);
  sources.data_dir = absl::GetFlag(FLAGS_data_dir);
  if (sources.data_dir.empty()) {
    sources.data_dir = DefaultDataDir(std::getenv("BUILD_WORKSPACE_DIRECTORY"));
  }
  absl::StatusOr<Secret> secret = ResolveSecret(sources);
  if (!secret.ok()) {
    std::cerr << "trigger: " << secret.status().message() << "\n";
    return 1;
  }
  std::cerr << "trigger: signing with the secret from " << secret->source << "\n";

  const bool print_only = absl::GetFlag(FLAGS_print);
  absl::StatusOr<Url> url = ParseUrl(absl::GetFlag(FLAGS_url));
  if (!print_only && !url.ok()) {
    std::cerr << "trigger: " << url.status().message() << "\n";
    return 1;
  }

  absl::BitGen gen;
  bool all_ok = true;
  for (int i = 1; i <= count; ++i) {
    const absl::Time now = absl::Now();
    Job job;
    if (file.empty()) {
      const std::string event_id = NewEventId(gen);
      absl::StatusOr<std::string> body = BuildExampleEvent(args[1], event_id, now, gen);
      if (!body.ok()) {
        std::cerr << "trigger: " << body.status().message() << "\n";
        return 1;
      }
      job = {absl::StrCat(args[1], " ", event_id), *std::move(body)};
    } else {
      job = {file, file_body};
    }
    const SignedRequest request = SignRequest(secret->value, std::move(job.body), now);
    if (print_only) {
      std::cout << "Stripe-Signature: " << request.signature_header << "\n\n"
                << request.body << "\n";
      continue;
    }
    const std::string prefix = count > 1 ? absl::StrCat("[", i, "/", count, "] ") : "";
    absl::StatusOr<HttpResponse> response =
        PostWebhook(*url, request, absl::GetFlag(FLAGS_timeout));
    if (!response.ok()) {
      std::cout << prefix << job.label << " -> " << response.status().message() << std::endl;
      all_ok = false;
      continue;
    }
    std::cout << prefix << job.label << " -> HTTP " << response->status << "\n"
              << response->body << (absl::EndsWith(response->body, "\n") ? "" : "\n") << std::flush;
    all_ok &= response->status >= 200 && response->status < 300;
  }
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace switchboard::tools::trigger

int main(int argc, char** argv) {
  // The binary is `trigger` but its flags live in main.cc: tell abseil which files' flags --help
  // should list (by default it matches the file name against the program name).
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "tools/trigger/");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(switchboard::tools::trigger::kUsage);
  // Relative paths in flags (and a --flagfile) mean the user's directory under `bazel run`.
  if (absl::Status entered = switchboard::base::EnterBuildWorkingDirectory(); !entered.ok()) {
    std::cerr << "trigger: " << entered.message() << "\n";
    return 1;
  }
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  return switchboard::tools::trigger::Run(args);
}
