// tools/loadgen:sink: a handler built on the SDK that measures end-to-end latency.
//
// For every event it handles, the sink computes now - Event.received_at (the gateway stamps
// received_at, in microseconds, when the webhook request arrived; the sink runs on the same
// machine, so the same realtime clock) and keeps the sample. The handler function does nothing
// else, so the figure is the gateway's path: ingress -> store (durable) -> dispatch -> gRPC
// stream -> SDK decode -> handler call. The ack goes back right after the function returns
// (its trip back to the gateway is not in the figure).
//
//   sink --gateway=127.0.0.1:50051 --subscription=e2e-1 --idle_exit=3s --warmup=2s
//
// It subscribes to `*` under its own subscription name (SDK flags: --gateway, --subscription,
// --max_in_flight, --workers, ...; see sdk/flags.h), writes "sink ready subscription=..." to
// stderr once the gateway has the subscription (events accepted from then on reach it), and
// prints one line on stdout when it stops:
//
//   RESULT sink=e2e-1 events=12000 measured=10000 redelivered=0 unstamped=0 span_s=10.00
//     rate=1000 min_ms=... p50_ms=... p90_ms=... p99_ms=... p999_ms=... max_ms=...
//
// events counts every handled delivery; measured the samples kept (events received by the
// gateway at least --warmup after the first one the sink saw, to match tools/loadgen's
// --warmup); redelivered those with attempt > 1 (a redelivery's latency includes the retry
// delay); unstamped those without received_at (not measured); span_s the time between the first and
// last measured received_at, rate the measured events per second of that span. It stops on
// SIGTERM/SIGINT, after --expect events, or after
// --idle_exit without an event (once one arrived), then drains through the SDK and prints.
//
// Why a separate process and not a mode of tools/loadgen: a subscriber is a separate process in
// production (a gRPC server the gateway dials), so the sink is one too, built on the SDK like
// any handler and measuring what a user's handler would see; the load generator stays a cheap
// single-threaded HTTP client. tools/bench/e2e.sh runs the gateway, three sinks (three
// subscriptions to `*`) and tools/loadgen in open loop together and prints every RESULT line.
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sdk/flags.h"
#include "sdk/router.h"
#include "sdk/serve.h"
#include "tools/loadgen/e2e_recorder.h"

ABSL_FLAG(int64_t, expect, 0, "Stop after this many events (0: no limit).");
ABSL_FLAG(absl::Duration, idle_exit, absl::ZeroDuration(),
          "Stop when no event arrived for this long, once one did (0: never).");
ABSL_FLAG(absl::Duration, warmup, absl::ZeroDuration(),
          "Do not measure events received within this long of the first one seen.");

namespace switchboard::tools::loadgen {
namespace {

int Main() {
  absl::StatusOr<sdk::ServeOptions> options = sdk::OptionsFromFlags("loadgen-sink");
  if (!options.ok()) {
    std::cerr << "sink: " << options.status() << "\n";
    return 2;
  }
  const std::string name = options->subscription;
  const int64_t expect = absl::GetFlag(FLAGS_expect);
  const absl::Duration idle_exit = absl::GetFlag(FLAGS_idle_exit);

  if (absl::Status installed = sdk::InstallShutdownSignals(); !installed.ok()) {
    std::cerr << "sink: " << installed << "\n";
    return 2;
  }

  EndToEndRecorder recorder(absl::GetFlag(FLAGS_warmup));
  sdk::Router router;
  router.OnEvent("*", [&recorder](const sdk::EventContext& ctx) {
    recorder.Record(ctx.event(), ctx.attempt(), absl::Now());
    return absl::OkStatus();
  });
  absl::StatusOr<std::unique_ptr<sdk::HandlerServer>> server =
      sdk::HandlerServer::Start(&router, *std::move(options));
  if (!server.ok()) {
    std::cerr << "sink: " << server.status() << "\n";
    return 1;
  }
  std::cerr << "sink ready subscription=" << name << " port=" << (*server)->port() << std::endl;

  // Wake up every 50 ms to check the stop conditions; a signal wakes up at once.
  for (;;) {
    if (sdk::WaitForShutdownSignal(absl::Milliseconds(50))) break;
    if (expect > 0 && recorder.events() >= expect) break;
    if (idle_exit > absl::ZeroDuration() && recorder.events() > 0 &&
        absl::Now() - recorder.last_event() >= idle_exit) {
      break;
    }
  }
  const absl::Status status = (*server)->Shutdown();
  std::cout << recorder.Result(name) << std::endl;
  if (!status.ok()) {
    std::cerr << "sink: " << status << "\n";
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace switchboard::tools::loadgen

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return switchboard::tools::loadgen::Main();
}
