// fill_store: appends N realistic events to a gateway data dir straight through the store API,
// for delivery, memory and start-up benchmarks with a large backlog (docs/BENCHMARKS.md).
//
//   bazel run -c opt //tools/bench:fill_store -- --data_dir=/tmp/sb1m --events=1000000
//
// Bodies are built like tools/loadgen's (the trigger tool's example events of every known type,
// four sizes each spread over 1-6 KB, padded with an extra envelope key, unique ids); each is
// converted once to fill the indexed columns exactly as the ingress does. Many threads append at
// once so the store's group commit makes big batches. The gateway must not be running on the same
// data dir.
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/arena.h"
#include "protos/switchboard/v1/event.pb.h"
#include "server/convert/event_converter.h"
#include "server/store/sqlite_event_store.h"
#include "tools/trigger/trigger_lib.h"

ABSL_FLAG(std::string, data_dir, "", "Gateway data dir (events.db is created or appended to).");
ABSL_FLAG(int64_t, events, 1000000, "How many events to append.");
ABSL_FLAG(int, threads, 128, "Concurrent appenders (group commit batches up to this many).");
ABSL_FLAG(int, min_bytes, 1024, "Smallest body.");
ABSL_FLAG(int, max_bytes, 6144, "Largest body.");
ABSL_FLAG(uint64_t, seed, 0, "Id seed; 0 = from the clock (so runs never collide).");

namespace switchboard::tools::bench {
namespace {

constexpr char kPlaceholderId[] = "evt_FILLSTORExxxxxxxxxxxxxxx";  // "evt_" + 24 characters
constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";

struct Template {
  std::string body;
  size_t id_offset;  // where the 24 characters after "evt_" start
};

absl::StatusOr<std::vector<Template>> MakeTemplates(int min_bytes, int max_bytes) {
  absl::BitGen gen;
  std::vector<Template> out;
  for (int variant = 0; variant < 4; ++variant) {
    for (const std::string& type : trigger::KnownEventTypes()) {
      absl::StatusOr<std::string> body =
          trigger::BuildExampleEvent(type, kPlaceholderId, absl::FromUnixSeconds(1700000000), gen);
      if (!body.ok()) return body.status();
      const int target = min_bytes + (max_bytes - min_bytes) * variant / 3;
      const int pad = target - static_cast<int>(body->size()) - 20;
      if (pad > 0) {
        body->insert(1, absl::StrCat("\"fill_pad\":\"", std::string(pad, 'p'), "\","));
      }
      const size_t at = body->find(kPlaceholderId);
      if (at == std::string::npos) return absl::InternalError("example without its id");
      out.push_back({*std::move(body), at + 4});
    }
  }
  return out;
}

// Body number n of a run with this seed: 24 id characters, 8 from the seed, 16 from n.
std::string MakeBody(const std::vector<Template>& templates, uint64_t seed, int64_t n) {
  const Template& t = templates[static_cast<size_t>(n) % templates.size()];
  std::string body = t.body;
  char* id = body.data() + t.id_offset;
  uint64_t s = seed;
  for (int i = 7; i >= 0; --i, s /= 36) id[i] = kAlphabet[s % 36];
  uint64_t v = static_cast<uint64_t>(n);
  for (int i = 23; i >= 8; --i, v /= 36) id[i] = kAlphabet[v % 36];
  return body;
}

int Main() {
  const std::string dir = absl::GetFlag(FLAGS_data_dir);
  if (dir.empty()) {
    std::fprintf(stderr, "--data_dir is required\n");
    return 2;
  }
  uint64_t seed = absl::GetFlag(FLAGS_seed);
  if (seed == 0) seed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  absl::StatusOr<std::vector<Template>> templates =
      MakeTemplates(absl::GetFlag(FLAGS_min_bytes), absl::GetFlag(FLAGS_max_bytes));
  if (!templates.ok()) {
    std::fprintf(stderr, "%s\n", templates.status().ToString().c_str());
    return 2;
  }
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
        std::string body = MakeBody(*templates, seed, n);
        google::protobuf::Arena arena;
        auto* event = google::protobuf::Arena::CreateMessage<switchboard::v1::Event>(&arena);
        if (!converter.Convert(body, event).ok()) {
          failed.fetch_add(1);
          continue;
        }
        server::store::EventRecord record;
        record.id = event->id();
        record.type = event->type();
        record.object_id =
            event->has_thin() ? event->thin().related_object().id() : event->data().object_id();
        record.created = absl::FromUnixSeconds(event->created().seconds());
        record.received_at = absl::Now();
        record.endpoint = "/webhook";
        record.livemode = event->livemode();
        record.account = event->has_account() ? event->account() : event->context();
        record.raw_json = std::move(body);
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
