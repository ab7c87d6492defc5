// fill_store: appends N realistic events to a gateway data dir straight through the store API,
// for delivery, memory and start-up benchmarks with a large backlog (docs/BENCHMARKS.md).
//
//   bazel run -c opt //tools/bench:fill_store -- --data_dir=/tmp/sb1m --events=1000000
//
// Bodies are tools/loadgen's (RequestFactory: the trigger tool's example events of every known
// type, four sizes each spread over 1-6 KB, unique ids); each is checked with
// EventConverter::Inspect to fill the indexed columns exactly as the ingress does. Many threads
// append at once so the store's group commit makes big batches. The gateway must not be running on
// the same data dir.
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/convert/event_converter.h"
#include "server/store/sqlite_event_store.h"
#include "tools/loadgen/loadgen_lib.h"

ABSL_FLAG(std::string, data_dir, "", "Gateway data dir (events.db is created or appended to).");
ABSL_FLAG(int64_t, events, 1000000, "How many events to append.");
ABSL_FLAG(int, threads, 128, "Concurrent appenders (group commit batches up to this many).");
ABSL_FLAG(int, min_bytes, 1024, "Smallest body.");
ABSL_FLAG(int, max_bytes, 6144, "Largest body.");
ABSL_FLAG(uint64_t, seed, 0, "Id seed; 0 = from the clock (so runs never collide).");

namespace switchboard::tools::bench {
namespace {

int Main() {
  const std::string dir = absl::GetFlag(FLAGS_data_dir);
  if (dir.empty()) {
    std::fprintf(stderr, "--data_dir is required\n");
    return 2;
  }
  uint64_t seed = absl::GetFlag(FLAGS_seed);
  if (seed == 0) seed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  // The factory signs too (unused here): it is the one place that builds realistic bodies.
  absl::StatusOr<loadgen::RequestFactory> factory =
      loadgen::RequestFactory::Create("whsec_fill_store_unused", absl::GetFlag(FLAGS_min_bytes),
                                      absl::GetFlag(FLAGS_max_bytes), seed);
  if (!factory.ok()) {
    std::fprintf(stderr, "%s\n", factory.status().ToString().c_str());
    return 2;
  }
  // Ids are unique per (connection, n): the seed picks the "connection" so runs never collide.
  const int run = static_cast<int>(seed % 1679616);  // 36^4: the id's connection characters
  server::store::SqliteEventStore::Options options;
  options.path = dir + "/events.db";
  options.max_batch = 1024;
  absl::StatusOr<std::unique_ptr<server::store::SqliteEventStore>> store =
      server::store::SqliteEventStore::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  const server::convert::EventConverter converter;
  const int64_t total = absl::GetFlag(FLAGS_events);
  const int threads = std::max(1, absl::GetFlag(FLAGS_threads));
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> stored{0};
  std::atomic<int64_t> failed{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      while (true) {
        const int64_t n = next.fetch_add(1);
        if (n >= total) return;
        loadgen::RequestFactory::Request request = factory->Make(run, n, absl::Now());
        server::convert::EventEnvelope envelope;
        if (!converter.Inspect(request.body, &envelope).ok()) {
          failed.fetch_add(1);
          continue;
        }
        server::store::EventRecord record;
        record.id = std::move(envelope.id);
        record.type = std::move(envelope.type);
        record.object_id = std::move(envelope.object_id);
        record.created = envelope.created;
        record.received_at = absl::Now();
        record.endpoint = "/webhook";
        record.livemode = envelope.livemode;
        record.account = std::move(envelope.account);
        record.raw_json = std::move(request.body);
        if ((*store)->Append(record).ok()) {
          const int64_t s = stored.fetch_add(1) + 1;
          if (s % 100000 == 0) {
            std::fprintf(stderr, "stored=%lld rate=%.0f/s\n", static_cast<long long>(s),
                         s / absl::ToDoubleSeconds(absl::Now() - start));
          }
        } else {
          failed.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  (*store)->Close();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf("RESULT stored=%lld failed=%lld seconds=%.1f rate=%.0f/s\n",
              static_cast<long long>(stored.load()), static_cast<long long>(failed.load()), seconds,
              stored.load() / seconds);
  return failed.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace switchboard::tools::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return switchboard::tools::bench::Main();
}
