// tools/loadgen: drives a Switchboard webhook endpoint with unique, correctly signed events.
//
//   bazel run -c opt //tools/loadgen -- --connections=50 --duration=10          # closed loop
//   bazel run -c opt //tools/loadgen -- --connections=50 --rate=2000 --duration=10  # open loop
//
// Closed loop: each connection sends its next request as soon as the previous one is answered
// (maximum throughput). Open loop: requests are sent on a fixed schedule whatever the server
// does, and latency is measured from the scheduled time, so a stalled server shows up in the
// percentiles instead of hiding behind fewer requests (coordinated omission).
// Prints one line: RESULT mode=... requests=... rps=... p50_ms=... non2xx=... errors=...
// The secret is resolved like tools/trigger does (file, STRIPE_WEBHOOK_SECRET, dev secret).
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <map>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "httplib.h"
#include "tools/loadgen/loadgen_lib.h"
#include "tools/trigger/trigger_lib.h"

ABSL_FLAG(std::string, url, "http://127.0.0.1:4242/webhook", "Webhook URL (http only).");
ABSL_FLAG(int, connections, 50, "Keep-alive connections, one thread each.");
ABSL_FLAG(double, duration, 10, "Seconds of measured load.");
ABSL_FLAG(double, warmup, 1, "Seconds of unmeasured load first.");
ABSL_FLAG(double, rate, 0, "Requests/s over all connections (open loop); 0 = closed loop.");
ABSL_FLAG(int, min_bytes, 1024, "Smallest body.");
ABSL_FLAG(int, max_bytes, 6144, "Largest body.");
ABSL_FLAG(std::string, secret_file, "", "File holding the endpoint secret.");
ABSL_FLAG(std::string, data_dir, "", "Gateway data dir (for its development secret).");

namespace {

using switchboard::tools::loadgen::LatencyStats;
using switchboard::tools::loadgen::RequestFactory;

struct Worker {
  LatencyStats stats;
  int64_t ok = 0;
  int64_t errors = 0;
  std::map<int, int64_t> non2xx;
};

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
  if (!url.ok()) {
    std::cerr << "loadgen: " << url.status().message() << "\n";
    return 2;
  }
  auto factory = RequestFactory::Create(secret->value, absl::GetFlag(FLAGS_min_bytes),
                                        absl::GetFlag(FLAGS_max_bytes), /*seed=*/42);
  if (!factory.ok()) {
    std::cerr << "loadgen: " << factory.status().message() << "\n";
    return 2;
  }

  const int connections = absl::GetFlag(FLAGS_connections);
  const double rate = absl::GetFlag(FLAGS_rate);
  const absl::Duration warmup = absl::Seconds(absl::GetFlag(FLAGS_warmup));
  const absl::Duration duration = absl::Seconds(absl::GetFlag(FLAGS_duration));
  // Per-connection spacing of scheduled sends in open-loop mode.
  const absl::Duration interval =
      rate > 0 ? absl::Seconds(static_cast<double>(connections) / rate) : absl::ZeroDuration();
  const absl::Time start = absl::Now() + absl::Milliseconds(100);
  const absl::Time measure_from = start + warmup;
  const absl::Time end = measure_from + duration;
  const int64_t run_tag = absl::ToUnixMillis(absl::Now()) % 1000000;

  std::vector<Worker> workers(static_cast<size_t>(connections));
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      Worker& w = workers[static_cast<size_t>(c)];
      httplib::Client client(url->scheme_host_port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(30, 0);
      // Stagger open-loop connections across one interval.
      absl::Time next = start + interval * c / std::max(1, connections);
      absl::SleepFor(next - absl::Now());
      for (int64_t n = 0;; ++n) {
        absl::Time scheduled = absl::Now();
        if (rate > 0) {
          scheduled = next;
          next += interval;
          const absl::Duration wait = scheduled - absl::Now();
          if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
        }
        if (scheduled >= end) break;
        RequestFactory::Request r = factory->Make(c, run_tag * 100000000 + n, absl::Now());
        httplib::Headers headers = {{"Stripe-Signature", r.signature_header}};
        auto res = client.Post(url->path, headers, r.body, "application/json; charset=utf-8");
        const absl::Time done = absl::Now();
        if (scheduled < measure_from) continue;
        if (!res) {
          ++w.errors;
          continue;
        }
        w.stats.Add(done - scheduled);
        if (res->status / 100 == 2) {
          ++w.ok;
        } else {
          ++w.non2xx[res->status];
        }
      }
    });
  }
  for (auto& t : threads) t.join();

  LatencyStats all;
  int64_t ok = 0, errors = 0;
  std::map<int, int64_t> non2xx;
  for (Worker& w : workers) {
    all.Merge(w.stats);
    ok += w.ok;
    errors += w.errors;
    for (const auto& [status, n] : w.non2xx) non2xx[status] += n;
  }
  int64_t bad = 0;
  std::string statuses;
  for (const auto& [status, n] : non2xx) {
    bad += n;
    absl::StrAppend(&statuses, statuses.empty() ? "" : ",", status, ":", n);
  }
  const double seconds = absl::ToDoubleSeconds(duration);
  std::cout << absl::StrFormat(
                   "RESULT mode=%s connections=%d rate=%.0f duration_s=%.1f requests=%d rps=%.0f "
                   "%s non2xx=%d%s errors=%d",
                   rate > 0 ? "open" : "closed", connections, rate, seconds, all.count(),
                   static_cast<double>(ok) / seconds, all.Summary(), bad,
                   statuses.empty() ? "" : absl::StrCat("(", statuses, ")"), errors)
            << std::endl;
  return errors == 0 && bad == 0 ? 0 : 1;
}
