// tools/loadgen: drives a Switchboard webhook endpoint with unique, correctly signed events.
//
//   bazel run -c opt //tools/loadgen -- --connections=50 --duration=10          # closed loop
//   bazel run -c opt //tools/loadgen -- --connections=50 --rate=2000 --duration=10  # open loop
//
// Closed loop: each connection sends its next request as soon as the previous one is answered
// (maximum throughput). Open loop: requests are sent on a fixed schedule whatever the server
// does, and latency is measured from the scheduled time, so a stalled server shows up in the
// percentiles instead of hiding behind fewer requests (coordinated omission).
// The transport is a small epoll HTTP/1.1 keep-alive client (tools/loadgen/http_load.h): one
// thread by default (--threads), about 10 us of CPU per request, so the load generator leaves
// the cores to the server it measures.
// Prints one line: RESULT mode=... requests=... rps=... p50_ms=... non2xx=... errors=... cpu_s=...
// (cpu_s: this process's user + system CPU over the whole run, warm-up included).
// The secret is resolved like tools/trigger does (file, STRIPE_WEBHOOK_SECRET, dev secret).
//
// End-to-end latency (received by the gateway -> handled by a subscriber) is measured by
// tools/loadgen:sink, a handler that subscribes to `*` and reports now - Event.received_at;
// tools/bench/e2e.sh runs the gateway, three sinks and this load generator together.
#include <sys/resource.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tools/loadgen/http_load.h"
#include "tools/loadgen/loadgen_lib.h"
#include "tools/trigger/trigger_lib.h"

ABSL_FLAG(std::string, url, "http://127.0.0.1:4242/webhook", "Webhook URL (http only).");
ABSL_FLAG(int, connections, 50, "Keep-alive connections.");
ABSL_FLAG(int, threads, 1, "Event-loop threads the connections are spread over.");
ABSL_FLAG(double, duration, 10, "Seconds of measured load.");
ABSL_FLAG(double, warmup, 1, "Seconds of unmeasured load first.");
ABSL_FLAG(double, rate, 0, "Requests/s over all connections (open loop); 0 = closed loop.");
ABSL_FLAG(double, timeout, 30, "Seconds to wait for a response (or a free connection).");
ABSL_FLAG(int, min_bytes, 1024, "Smallest body.");
ABSL_FLAG(int, max_bytes, 6144, "Largest body.");
ABSL_FLAG(std::string, secret_file, "", "File holding the endpoint secret.");
ABSL_FLAG(std::string, data_dir, "", "Gateway data dir (for its development secret).");

namespace {

namespace loadgen = switchboard::tools::loadgen;

// "http://host:port" -> host and port (80 without one); https is refused (no TLS here).
bool SplitHostPort(absl::string_view scheme_host_port, std::string* host, int* port) {
  if (!absl::ConsumePrefix(&scheme_host_port, "http://")) return false;
  *port = 80;
  absl::string_view h = scheme_host_port;
  if (absl::ConsumePrefix(&h, "[")) {  // [::1]:port
    const size_t close = h.find(']');
    if (close == absl::string_view::npos) return false;
    *host = std::string(h.substr(0, close));
    h.remove_prefix(close + 1);
    if (h.empty()) return true;
    return absl::ConsumePrefix(&h, ":") && absl::SimpleAtoi(h, port);
  }
  const size_t colon = h.rfind(':');
  *host = std::string(h.substr(0, colon));
  return colon == absl::string_view::npos || absl::SimpleAtoi(h.substr(colon + 1), port);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  namespace trigger = switchboard::tools::trigger;
  trigger::SecretSources sources;
  if (const char* env = std::getenv(trigger::kSecretEnvVar)) sources.env = std::string(env);
  sources.secret_file = absl::GetFlag(FLAGS_secret_file);
  sources.data_dir = absl::GetFlag(FLAGS_data_dir).empty()
                         ? trigger::DefaultDataDir(std::getenv("BUILD_WORKSPACE_DIRECTORY"))
                         : absl::GetFlag(FLAGS_data_dir);
  auto secret = trigger::ResolveSecret(sources);
  if (!secret.ok()) {
    std::cerr << "loadgen: " << secret.status().message() << "\n";
    return 2;
  }
  auto url = trigger::ParseUrl(absl::GetFlag(FLAGS_url));
  loadgen::LoadOptions options;
  if (!url.ok() || !SplitHostPort(url->scheme_host_port, &options.host, &options.port)) {
    std::cerr << "loadgen: need an http://host[:port]/path URL\n";
    return 2;
  }
  options.path = url->path;
  auto factory = loadgen::RequestFactory::Create(secret->value, absl::GetFlag(FLAGS_min_bytes),
                                                 absl::GetFlag(FLAGS_max_bytes), /*seed=*/42);
  if (!factory.ok()) {
    std::cerr << "loadgen: " << factory.status().message() << "\n";
    return 2;
  }

  options.connections = absl::GetFlag(FLAGS_connections);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.rate = absl::GetFlag(FLAGS_rate);
  options.warmup = absl::Seconds(absl::GetFlag(FLAGS_warmup));
  options.duration = absl::Seconds(absl::GetFlag(FLAGS_duration));
  options.timeout = absl::Seconds(absl::GetFlag(FLAGS_timeout));
  // Event ids: unique per (connection, n) within a run, and across runs by the run tag.
  const int64_t run_tag = absl::ToUnixMillis(absl::Now()) % 1000000;
  options.make_request = [&factory, run_tag](int connection, int64_t n, absl::Time now) {
    loadgen::RequestFactory::Request r = factory->Make(connection, run_tag * 100000000 + n, now);
    return loadgen::HttpRequest{std::move(r.body), {{"Stripe-Signature", r.signature_header}}};
  };
  absl::StatusOr<loadgen::LoadResult> result = loadgen::RunLoad(options);
  if (!result.ok()) {
    std::cerr << "loadgen: " << result.status().message() << "\n";
    return 2;
  }

  int64_t bad = 0;
  std::string statuses;
  for (const auto& [status, n] : result->non2xx) {
    bad += n;
    absl::StrAppend(&statuses, statuses.empty() ? "" : ",", status, ":", n);
  }
  const double seconds = absl::ToDoubleSeconds(options.duration);
  rusage usage = {};
  getrusage(RUSAGE_SELF, &usage);
  const double cpu_s = absl::ToDoubleSeconds(absl::DurationFromTimeval(usage.ru_utime) +
                                             absl::DurationFromTimeval(usage.ru_stime));
  std::cout << absl::StrFormat(
                   "RESULT mode=%s connections=%d rate=%.0f duration_s=%.1f requests=%d rps=%.0f "
                   "%s non2xx=%d%s errors=%d cpu_s=%.2f",
                   options.rate > 0 ? "open" : "closed", options.connections, options.rate, seconds,
                   result->latency.count(), static_cast<double>(result->ok) / seconds,
                   result->latency.Summary(), bad,
                   statuses.empty() ? "" : absl::StrCat("(", statuses, ")"), result->errors, cpu_s)
            << std::endl;
  return result->errors == 0 && bad == 0 ? 0 : 1;
}
