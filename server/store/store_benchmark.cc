// store_benchmark: Append throughput and latency of SqliteEventStore with N concurrent appenders.
//
// Not a test: numbers depend on the machine's disk. Each run uses a fresh database in --dir.
//
//   bazel run -c opt //server/store:store_benchmark -- --dir=/tmp/sb_bench --appenders=1,8,50
//
// Prints one line per appender count: appends/s, latency percentiles, commits and batch size.
// With --progress_cursors > 0, a dispatcher-like thread also commits a ProgressBatch every
// --progress_interval (that many subscription cursors, plus --progress_retries retries put and
// as many deleted) and its CommitProgress latencies are printed too.
//
// Measured on the 2-core dev VM while other builds ran (load ~2, fdatasync ~0.2-0.4 ms), 3000-byte
// events, Stripe-like ids: 1 appender ~3.7k/s (p50 0.24 ms), 8 ~12k/s, 50 ~23-33k/s (p50
// ~1.2 ms, avg batch ~34); 50 with random ids ~16k/s; 50 on tmpfs (no fsync cost) ~63k/s. A
// single-threaded raw SQLite loop on the same schema, 50 inserts per commit, does ~20k/s on the
// same VM (a bare table without indexes ~38k/s): the unique id index is the main cost per event.
// With --progress_cursors=2000 (quiet VM): CommitProgress p50 ~2.5 ms (~1.2 us per cursor), and
// with --progress_retries=1000 too ~6-8 ms; 50 appenders kept ~32-36k appends/s, and 1 appender's
// p99 went from ~1.0 to ~1.2-1.4 ms (appends sharing a transaction wait for its progress rows).
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/store/sqlite_event_store.h"

ABSL_FLAG(std::string, dir, "", "Directory for the benchmark databases (default: a new /tmp dir)");
ABSL_FLAG(std::string, appenders, "1,8,50", "Comma-separated concurrent appender counts");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(5), "How long each run appends");
ABSL_FLAG(int, record_bytes, 3000, "raw_json size of each event");
ABSL_FLAG(int, max_batch, 512, "SqliteEventStore::Options::max_batch");
ABSL_FLAG(std::string, ids, "stripe",
          "Event id shape: 'stripe' (evt_1 + time-ordered prefix + account part + random tail, "
          "like real Stripe ids) or 'random' (24 random characters: worst case for the id index)");
ABSL_FLAG(bool, background_checkpoint, true, "SqliteEventStore::Options::checkpoint.background");
ABSL_FLAG(int, wal_pages,
          switchboard::server::store::SqliteEventStore::Options().checkpoint.wal_pages,
          "SqliteEventStore::Options::checkpoint.wal_pages");
ABSL_FLAG(int, restart_wal_pages,
          switchboard::server::store::SqliteEventStore::Options().checkpoint.restart_wal_pages,
          "SqliteEventStore::Options::checkpoint.restart_wal_pages");
ABSL_FLAG(int, progress_cursors, 0, "Subscriptions whose cursor each progress batch advances");
ABSL_FLAG(int, progress_retries, 0, "Retries each progress batch puts (and deletes)");
ABSL_FLAG(absl::Duration, progress_interval, absl::Milliseconds(50),
          "Pause between two progress batches");

namespace switchboard::server::store {
namespace {

constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

void AppendBase62(uint64_t value, int width, std::string* out) {
  std::string digits(width, '0');
  for (int i = width - 1; i >= 0; --i, value /= 62) digits[i] = kBase62[value % 62];
  out->append(digits);
}

// Real Stripe ids start with a version digit and a time-ordered part, so ids received close
// together sort close together and land on the same few pages of the id index.
std::string MakeId(bool stripe_like, std::mt19937_64& rng) {
  std::string id = "evt_";
  if (stripe_like) {
    id += '1';
    AppendBase62(static_cast<uint64_t>(absl::ToUnixMillis(absl::Now())), 7, &id);
    id += "Qx4mT9aZrE";
    AppendBase62(rng(), 8, &id);
  } else {
    AppendBase62(rng(), 12, &id);
    AppendBase62(rng(), 12, &id);
  }
  return id;
}

int64_t Percentile(std::vector<int64_t>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

// Commits a ProgressBatch every --progress_interval until `stop`; latencies in microseconds.
void CommitProgressLoop(SqliteEventStore& store, const std::atomic<bool>& stop,
                        std::vector<int64_t>* latencies_us, std::atomic<int64_t>* errors) {
  const int cursors = absl::GetFlag(FLAGS_progress_cursors);
  const int retries = absl::GetFlag(FLAGS_progress_retries);
  int64_t round = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    ++round;
    ProgressBatch batch;
    for (int i = 0; i < cursors; ++i) batch.cursors[absl::StrCat("sub_", i)] = round;
    for (int i = 0; i < retries; ++i) {
      const std::string name = absl::StrCat("sub_", i % cursors);
      RetryRecord retry;
      retry.subscription = name;
      retry.sequence = round * retries + i;
      retry.event_id = absl::StrCat("evt_", retry.sequence);
      retry.attempts = 1;
      retry.next_at = absl::Now() + absl::Seconds(1);
      retry.last_error = "RETRY: handler busy";
      retry.first_attempt_at = absl::Now();
      batch.retries_to_put.push_back(retry);
      // The previous round's retries were acked.
      batch.retries_to_delete.emplace_back(name, (round - 1) * retries + i);
    }
    absl::Time before = absl::Now();
    if (!store.CommitProgress(batch).ok()) ++*errors;
    latencies_us->push_back(absl::ToInt64Microseconds(absl::Now() - before));
    absl::SleepFor(absl::GetFlag(FLAGS_progress_interval));
  }
}

int Run(const std::string& dir, int appenders) {
  SqliteEventStore::Options options;
  options.path =
      absl::StrCat(dir, "/bench_", appenders, "_", absl::ToUnixNanos(absl::Now()), ".db");
  options.max_batch = absl::GetFlag(FLAGS_max_batch);
  options.checkpoint.wal_pages = absl::GetFlag(FLAGS_wal_pages);
  options.checkpoint.restart_wal_pages = absl::GetFlag(FLAGS_restart_wal_pages);
  options.checkpoint.background = absl::GetFlag(FLAGS_background_checkpoint);
  absl::StatusOr<std::unique_ptr<SqliteEventStore>> opened = SqliteEventStore::Open(options);
  if (!opened.ok()) {
    std::cerr << "open: " << opened.status() << "\n";
    return 1;
  }
  SqliteEventStore& store = **opened;
  const std::string body(absl::GetFlag(FLAGS_record_bytes), 'x');
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);

  std::vector<std::vector<int64_t>> latencies_us(appenders);
  std::atomic<int64_t> errors{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  std::vector<int64_t> progress_us;
  std::atomic<int64_t> progress_errors{0};
  if (absl::GetFlag(FLAGS_progress_cursors) > 0) {
    // Created before the clock starts: each is a transaction of its own.
    for (int i = 0; i < absl::GetFlag(FLAGS_progress_cursors); ++i) {
      SubscriptionRecord subscription;
      subscription.name = absl::StrCat("sub_", i);
      subscription.created_at = absl::Now();
      if (!store.PutSubscription(subscription).ok()) ++progress_errors;
    }
    threads.emplace_back([&] { CommitProgressLoop(store, stop, &progress_us, &progress_errors); });
  }
  const absl::Time start = absl::Now();
  for (int t = 0; t < appenders; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t * 7919 + absl::ToUnixNanos(absl::Now()));
      const bool stripe_like = absl::GetFlag(FLAGS_ids) != "random";
      EventRecord record;
      record.type = "payment_intent.succeeded";
      record.object_id = "pi_123";
      record.endpoint = "/webhook";
      record.raw_json = body;
      while (!stop.load(std::memory_order_relaxed)) {
        record.id = MakeId(stripe_like, rng);
        record.created = absl::Now();
        record.received_at = record.created;
        absl::Time before = absl::Now();
        absl::StatusOr<AppendResult> result = store.Append(record);
        latencies_us[t].push_back(absl::ToInt64Microseconds(absl::Now() - before));
        if (!result.ok()) errors++;
      }
    });
  }
  absl::SleepFor(duration);
  stop = true;
  for (std::thread& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);

  std::vector<int64_t> all;
  for (const auto& v : latencies_us) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());  // before all.back() below
  auto pct = [&](double p) { return Percentile(all, p); };
  SqliteEventStore::WriterStats stats = store.GetWriterStats();
  std::cout
      << absl::StrFormat(
             "appenders=%-3d appends/s=%-7.0f p50=%.2fms p99=%.2fms max=%.2fms "
             "commits=%d avg_batch=%.1f largest_batch=%d checkpoints=%d wal_restarts=%d errors=%d",
             appenders, all.size() / seconds, pct(0.50) / 1000.0, pct(0.99) / 1000.0,
             (all.empty() ? 0 : all.back()) / 1000.0, stats.commits,
             stats.commits ? static_cast<double>(stats.stored) / stats.commits : 0.0,
             stats.largest_batch, stats.checkpoints, stats.wal_restarts, errors.load())
      << std::endl;
  if (!progress_us.empty()) {
    std::cout << absl::StrFormat(
                     "  progress: batches=%d cursors=%d retries=%d p50=%.2fms p99=%.2fms "
                     "max=%.2fms delivery_writes=%d errors=%d",
                     progress_us.size(), absl::GetFlag(FLAGS_progress_cursors),
                     absl::GetFlag(FLAGS_progress_retries), Percentile(progress_us, 0.5) / 1000.0,
                     Percentile(progress_us, 0.99) / 1000.0, Percentile(progress_us, 1.0) / 1000.0,
                     stats.delivery_writes, progress_errors.load())
              << std::endl;
  }
  store.Close();
  return errors.load() == 0 && progress_errors.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace switchboard::server::store

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::string dir = absl::GetFlag(FLAGS_dir);
  if (dir.empty()) {
    std::string pattern = "/tmp/store_benchmark_XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      std::cerr << "mkdtemp failed\n";
      return 1;
    }
    dir = pattern;
  }
  std::cout << "dir=" << dir << " ids=" << absl::GetFlag(FLAGS_ids)
            << " record_bytes=" << absl::GetFlag(FLAGS_record_bytes)
            << " max_batch=" << absl::GetFlag(FLAGS_max_batch) << std::endl;
  int rc = 0;
  for (absl::string_view count : absl::StrSplit(absl::GetFlag(FLAGS_appenders), ',')) {
    int appenders = 0;
    if (!absl::SimpleAtoi(count, &appenders) || appenders < 1) {
      std::cerr << "bad --appenders entry: " << count << "\n";
      return 2;
    }
    rc |= switchboard::server::store::Run(dir, appenders);
  }
  return rc;
}
