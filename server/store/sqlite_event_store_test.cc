#include "server/store/sqlite_event_store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/clock.h"
#include "server/base/status_matchers.h"
#include "server/store/event_store_conformance.h"

namespace switchboard::server::store {
namespace {

using ::switchboard::base::StatusIs;

// A fresh directory under TEST_TMPDIR (bazel) or /tmp.
std::string NewTempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(base != nullptr ? base : "/tmp", "/sqlite_store_XXXXXX");
  char* dir = mkdtemp(pattern.data());
  EXPECT_NE(dir, nullptr);
  return pattern;
}

SqliteEventStore::Options OptionsIn(const std::string& dir) {
  SqliteEventStore::Options options;
  options.path = absl::StrCat(dir, "/events.db");
  return options;
}

INSTANTIATE_TEST_SUITE_P(Sqlite, EventStoreConformanceTest,
                         testing::Values(EventStoreFactory{
                             "sqlite",
                             []() -> absl::StatusOr<std::unique_ptr<EventStore>> {
                               auto store = SqliteEventStore::Open(OptionsIn(NewTempDir()));
                               if (!store.ok()) return store.status();
                               return std::unique_ptr<EventStore>(std::move(store).value());
                             }}),
                         EventStoreFactoryName);

EventRecord BigEvent(absl::string_view id, size_t bytes = 3000) {
  EventRecord record = TestEvent(id);
  record.raw_json = std::string(bytes, 'x');
  return record;
}

// Runs Append(records[i]) on one thread each; results in order.
class ConcurrentAppends {
 public:
  ConcurrentAppends(EventStore* store, std::vector<EventRecord> records)
      : records_(std::move(records)), results_(records_.size(), absl::UnknownError("unset")) {
    for (size_t i = 0; i < records_.size(); ++i) {
      threads_.emplace_back([this, store, i] { results_[i] = store->Append(records_[i]); });
    }
  }
  const std::vector<absl::StatusOr<AppendResult>>& Join() {
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    return results_;
  }
  ~ConcurrentAppends() { Join(); }

 private:
  std::vector<EventRecord> records_;
  std::vector<absl::StatusOr<AppendResult>> results_;
  std::vector<std::thread> threads_;
};

int Count(const std::vector<absl::StatusOr<AppendResult>>& results, AppendResult want) {
  int n = 0;
  for (const auto& r : results) n += r.ok() && *r == want;
  return n;
}

TEST(SqliteEventStore, OpenCreatesMissingDirectoriesPrivately) {
  std::string dir = absl::StrCat(NewTempDir(), "/a/b");
  SqliteEventStore::Options options = OptionsIn(dir);
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  struct stat st;
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(SqliteEventStore, OpenRejectsBadOptions) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  options.path = "";
  EXPECT_THAT(SqliteEventStore::Open(options), StatusIs(absl::StatusCode::kInvalidArgument));
  options = OptionsIn(NewTempDir());
  options.max_batch = 0;
  EXPECT_THAT(SqliteEventStore::Open(options), StatusIs(absl::StatusCode::kInvalidArgument));
  options = OptionsIn(NewTempDir());
  options.read_connections = 0;
  EXPECT_THAT(SqliteEventStore::Open(options), StatusIs(absl::StatusCode::kInvalidArgument));
  options = OptionsIn(NewTempDir());
  options.max_size_bytes = -1;
  EXPECT_THAT(SqliteEventStore::Open(options), StatusIs(absl::StatusCode::kInvalidArgument));
  options.path = ":memory:";
  options.max_size_bytes = 0;
  EXPECT_THAT(SqliteEventStore::Open(options), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SqliteEventStore, OpenRefusesANewerSchemaVersion) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(options.path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_THAT(SqliteEventStore::Open(options), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(SqliteEventStore, OpenRefusesAFileThatIsNotADatabase) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  FILE* f = fopen(options.path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("this is not a database, just some text that is long enough to have a header....", f);
  fclose(f);
  EXPECT_THAT(SqliteEventStore::Open(options), StatusIs(absl::StatusCode::kDataLoss));
}

TEST(SqliteEventStore, WriteConnectionSynchronousIsFull) {
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(OptionsIn(NewTempDir())));
  ASSERT_OK_AND_ASSIGN(int synchronous, store->SynchronousForTesting());
  EXPECT_EQ(synchronous, 2);  // FULL: every commit is fsynced
  store->Close();
  EXPECT_THAT(store->SynchronousForTesting(), StatusIs(absl::StatusCode::kUnavailable));
}

TEST(SqliteEventStore, FileIsInWalModeWithSchemaVersion) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  ASSERT_OK_AND_ASSIGN(AppendResult result, store->Append(TestEvent("evt_1")));
  EXPECT_EQ(result, AppendResult::kStored);
  store->Close();

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(options.path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 1);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST(SqliteEventStore, ConcurrentAppendsAreAllDurableAcrossReopen) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 200;
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  {
    ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          absl::StatusOr<AppendResult> r = store->Append(BigEvent(absl::StrCat("evt_", t, "_", i)));
          ASSERT_TRUE(r.ok()) << r.status();
          EXPECT_EQ(*r, AppendResult::kStored);
        }
      });
    }
    for (std::thread& t : threads) t.join();
    SqliteEventStore::WriterStats stats = store->GetWriterStats();
    EXPECT_EQ(stats.stored, kThreads * kPerThread);
    EXPECT_LE(stats.commits, kThreads * kPerThread);
  }
  ASSERT_OK_AND_ASSIGN(auto reopened, SqliteEventStore::Open(options));
  ASSERT_OK_AND_ASSIGN(StoreStats stats, reopened->Stats());
  EXPECT_EQ(stats.events, kThreads * kPerThread);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      std::string id = absl::StrCat("evt_", t, "_", i);
      ASSERT_OK_AND_ASSIGN(EventRecord r, reopened->Get(id));
      EXPECT_EQ(r.raw_json, std::string(3000, 'x'));
    }
  }
}

TEST(SqliteEventStore, QueuedAppendsShareOneCommit) {
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(OptionsIn(NewTempDir())));
  std::vector<EventRecord> records;
  for (int i = 0; i < 10; ++i) records.push_back(TestEvent(absl::StrCat("evt_", i)));
  ASSERT_OK_AND_ASSIGN(auto pause, store->PauseWriterForTesting());
  int64_t commits_before = store->GetWriterStats().commits;
  ConcurrentAppends appends(store.get(), records);
  store->AwaitQueuedForTesting(10);
  pause->Resume();
  const auto& results = appends.Join();
  EXPECT_EQ(Count(results, AppendResult::kStored), 10);
  SqliteEventStore::WriterStats stats = store->GetWriterStats();
  EXPECT_EQ(stats.commits, commits_before + 1);
  EXPECT_EQ(stats.largest_batch, 10);
}

TEST(SqliteEventStore, MaxBatchSplitsALongQueue) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  options.max_batch = 4;
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  std::vector<EventRecord> records;
  for (int i = 0; i < 10; ++i) records.push_back(TestEvent(absl::StrCat("evt_", i)));
  ASSERT_OK_AND_ASSIGN(auto pause, store->PauseWriterForTesting());
  ConcurrentAppends appends(store.get(), records);
  store->AwaitQueuedForTesting(10);
  pause->Resume();
  EXPECT_EQ(Count(appends.Join(), AppendResult::kStored), 10);
  SqliteEventStore::WriterStats stats = store->GetWriterStats();
  EXPECT_EQ(stats.commits, 3);  // 4 + 4 + 2
  EXPECT_EQ(stats.largest_batch, 4);
}

TEST(SqliteEventStore, DuplicatesInOneBatchAreStoredOnce) {
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(OptionsIn(NewTempDir())));
  ASSERT_OK_AND_ASSIGN(auto pause, store->PauseWriterForTesting());
  ConcurrentAppends appends(store.get(), std::vector<EventRecord>(10, TestEvent("evt_same")));
  store->AwaitQueuedForTesting(10);
  pause->Resume();
  const auto& results = appends.Join();
  EXPECT_EQ(Count(results, AppendResult::kStored), 1);
  EXPECT_EQ(Count(results, AppendResult::kDuplicate), 9);
  EXPECT_EQ(store->GetWriterStats().commits, 1);
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store->Stats());
  EXPECT_EQ(stats.events, 1);
}

TEST(SqliteEventStore, DuplicateQueuedBehindItsOriginalsBatchIsADuplicate) {
  // With one append per batch, every copy after the first waits for an earlier batch to commit.
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  options.max_batch = 1;
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  ASSERT_OK_AND_ASSIGN(auto pause, store->PauseWriterForTesting());
  ConcurrentAppends appends(store.get(), std::vector<EventRecord>(5, TestEvent("evt_same")));
  store->AwaitQueuedForTesting(5);
  pause->Resume();
  const auto& results = appends.Join();
  EXPECT_EQ(Count(results, AppendResult::kStored), 1);
  EXPECT_EQ(Count(results, AppendResult::kDuplicate), 4);
  EXPECT_EQ(store->GetWriterStats().commits, 5);
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store->Stats());
  EXPECT_EQ(stats.events, 1);
}

TEST(SqliteEventStore, ManyThreadsRacingOneIdStoreItOnce) {
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(OptionsIn(NewTempDir())));
  for (int round = 0; round < 20; ++round) {
    ConcurrentAppends appends(store.get(),
                              std::vector<EventRecord>(16, TestEvent(absl::StrCat("evt_", round))));
    const auto& results = appends.Join();
    EXPECT_EQ(Count(results, AppendResult::kStored), 1) << round;
    EXPECT_EQ(Count(results, AppendResult::kDuplicate), 15) << round;
  }
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store->Stats());
  EXPECT_EQ(stats.events, 20);
}

TEST(SqliteEventStore, ReadsDoNotWaitForThePausedWriter) {
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(OptionsIn(NewTempDir())));
  ASSERT_OK_AND_ASSIGN(AppendResult result, store->Append(TestEvent("evt_1")));
  EXPECT_EQ(result, AppendResult::kStored);
  ASSERT_OK_AND_ASSIGN(auto pause, store->PauseWriterForTesting());
  ConcurrentAppends appends(store.get(), {TestEvent("evt_2")});
  store->AwaitQueuedForTesting(1);
  EXPECT_OK(store->Get("evt_1"));
  EXPECT_THAT(store->Get("evt_2"), StatusIs(absl::StatusCode::kNotFound));  // not committed yet
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store->Stats());
  EXPECT_EQ(stats.events, 1);
  pause->Resume();
  EXPECT_EQ(Count(appends.Join(), AppendResult::kStored), 1);
  EXPECT_OK(store->Get("evt_2"));
}

TEST(SqliteEventStore, FullDatabaseFailsWholeBatchesAndRecovers) {
  base::FakeClock clock(absl::FromUnixSeconds(1700000000));
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  options.max_size_bytes = 128 * 1024;
  options.clock = &clock;
  options.probe_interval = absl::Seconds(10);
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));

  // Fill it up.
  std::vector<std::string> acknowledged;
  absl::Status full;
  for (int i = 0; i < 1000 && full.ok(); ++i) {
    std::string id = absl::StrCat("evt_fill_", i);
    absl::StatusOr<AppendResult> r = store->Append(BigEvent(id));
    if (r.ok()) {
      acknowledged.push_back(id);
    } else {
      full = r.status();
      EXPECT_THAT(store->Get(id), StatusIs(absl::StatusCode::kNotFound));
    }
  }
  ASSERT_THAT(full, StatusIs(absl::StatusCode::kResourceExhausted));
  ASSERT_FALSE(acknowledged.empty());
  EXPECT_THAT(store->CheckWritable(), StatusIs(absl::StatusCode::kResourceExhausted));

  // A batch of several fails as a whole: none of it is stored.
  std::vector<EventRecord> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(BigEvent(absl::StrCat("evt_batch_", i)));
  {
    ASSERT_OK_AND_ASSIGN(auto pause, store->PauseWriterForTesting());
    ConcurrentAppends appends(store.get(), batch);
    store->AwaitQueuedForTesting(5);
    pause->Resume();
    for (const auto& r : appends.Join()) {
      EXPECT_THAT(r, StatusIs(absl::StatusCode::kResourceExhausted));
    }
  }
  for (const EventRecord& r : batch) {
    EXPECT_THAT(store->Get(r.id), StatusIs(absl::StatusCode::kNotFound));
  }
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store->Stats());
  EXPECT_EQ(stats.events, static_cast<int64_t>(acknowledged.size()));
  EXPECT_GE(store->GetWriterStats().failed_batches, 2);

  // Space returns. The probe is rate-limited on the injected clock, then sees it.
  ASSERT_OK(store->SetMaxSizeBytesForTesting(0));
  EXPECT_THAT(store->CheckWritable(), StatusIs(absl::StatusCode::kResourceExhausted));
  clock.Advance(absl::Seconds(10));
  EXPECT_OK(store->CheckWritable());
  for (const EventRecord& r : batch) {
    ASSERT_OK_AND_ASSIGN(AppendResult result, store->Append(r));
    EXPECT_EQ(result, AppendResult::kStored);
  }
  for (const std::string& id : acknowledged) EXPECT_OK(store->Get(id)) << id;
  ASSERT_OK_AND_ASSIGN(stats, store->Stats());
  EXPECT_EQ(stats.events, static_cast<int64_t>(acknowledged.size() + batch.size()));
}

TEST(SqliteEventStore, ASuccessfulBatchClearsTheFullState) {
  base::FakeClock clock(absl::FromUnixSeconds(1700000000));
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  options.max_size_bytes = 64 * 1024;
  options.clock = &clock;
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  absl::Status status;
  for (int i = 0; i < 1000 && status.ok(); ++i) {
    status = store->Append(BigEvent(absl::StrCat("evt_", i))).status();
  }
  ASSERT_THAT(status, StatusIs(absl::StatusCode::kResourceExhausted));
  ASSERT_OK(store->SetMaxSizeBytesForTesting(1 << 20));
  ASSERT_OK_AND_ASSIGN(AppendResult result, store->Append(BigEvent("evt_after")));
  EXPECT_EQ(result, AppendResult::kStored);
  EXPECT_OK(store->CheckWritable());  // no probe needed: the clock never moved
}

TEST(SqliteEventStore, ReopeningKeepsSequencesIncreasing) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  int64_t last_sequence = 0;
  {
    ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
    for (int i = 0; i < 3; ++i) {
      ASSERT_OK(store->Append(TestEvent(absl::StrCat("evt_", i))).status());
    }
    ASSERT_OK_AND_ASSIGN(EventRecord last, store->Get("evt_2"));
    last_sequence = last.sequence;
    // Retention empties the table: the next sequence must still not go back.
    ASSERT_OK_AND_ASSIGN(int64_t deleted, store->DeleteReceivedBefore(absl::InfiniteFuture()));
    EXPECT_EQ(deleted, 3);
  }
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  ASSERT_OK(store->Append(TestEvent("evt_new")).status());
  ASSERT_OK_AND_ASSIGN(EventRecord fresh, store->Get("evt_new"));
  EXPECT_GT(fresh.sequence, last_sequence);
  // Dedupe works against what the earlier process stored.
  ASSERT_OK(store->Append(TestEvent("evt_dupe")).status());
  store->Close();
  ASSERT_OK_AND_ASSIGN(store, SqliteEventStore::Open(options));
  ASSERT_OK_AND_ASSIGN(AppendResult again, store->Append(TestEvent("evt_dupe")));
  EXPECT_EQ(again, AppendResult::kDuplicate);
}

TEST(SqliteEventStore, RetentionDeletesInBoundedChunks) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  options.delete_chunk_rows = 2;
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  for (int i = 0; i < 9; ++i) {
    EventRecord record = TestEvent(absl::StrCat("evt_", i));
    record.received_at = absl::FromUnixSeconds(i < 7 ? 100 : 900);
    ASSERT_OK(store->Append(record).status());
  }
  ASSERT_OK_AND_ASSIGN(int64_t deleted, store->DeleteReceivedBefore(absl::FromUnixSeconds(500)));
  EXPECT_EQ(deleted, 7);
  EXPECT_EQ(store->GetWriterStats().delete_chunks, 4);  // 2 + 2 + 2 + 1
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store->Stats());
  EXPECT_EQ(stats.events, 2);
}

TEST(SqliteEventStore, CloseCommitsWhatIsQueued) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  std::vector<EventRecord> records;
  for (int i = 0; i < 5; ++i) records.push_back(TestEvent(absl::StrCat("evt_", i)));
  ASSERT_OK_AND_ASSIGN(auto pause, store->PauseWriterForTesting());
  ConcurrentAppends appends(store.get(), records);
  store->AwaitQueuedForTesting(5);
  std::thread closer([&] { store->Close(); });
  // Close marks the store closed at once, then waits for the writer to drain.
  while (store->CheckWritable().ok()) std::this_thread::yield();
  EXPECT_THAT(store->Append(TestEvent("evt_late")), StatusIs(absl::StatusCode::kUnavailable));
  pause->Resume();
  closer.join();
  EXPECT_EQ(Count(appends.Join(), AppendResult::kStored), 5);

  ASSERT_OK_AND_ASSIGN(auto reopened, SqliteEventStore::Open(options));
  for (const EventRecord& r : records) EXPECT_OK(reopened->Get(r.id));
  EXPECT_THAT(reopened->Get("evt_late"), StatusIs(absl::StatusCode::kNotFound));
}

TEST(SqliteEventStore, WriterCheckpointsKeepTheWalBounded) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  options.checkpoint.wal_pages = 20;
  options.checkpoint.background = false;  // deterministic: the writer checkpoints inline
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  for (int i = 0; i < 100; ++i) {
    ASSERT_OK(store->Append(BigEvent(absl::StrCat("evt_", i))).status());
  }
  EXPECT_GT(store->GetWriterStats().checkpoints, 0);
  struct stat st;
  ASSERT_EQ(stat(absl::StrCat(options.path, "-wal").c_str(), &st), 0);
  // Without checkpoints the WAL would hold ~100 pages by now.
  EXPECT_LT(st.st_size, 40 * 4096 + 4096);
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store->Stats());
  EXPECT_EQ(stats.events, 100);
}

TEST(SqliteEventStore, BackgroundCheckpointsLoseNothingUnderConcurrentLoad) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  options.checkpoint.wal_pages = 8;  // checkpoint handshakes all the time
  options.checkpoint.idle_truncate_after = absl::Milliseconds(1);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 150;
  {
    ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
    std::atomic<bool> done{false};
    std::thread reader([&] {
      while (!done.load()) {
        EventQuery query;
        query.limit = 50;
        query.omit_raw_json = true;
        EXPECT_OK(store->List(query));
        EXPECT_OK(store->Stats());
      }
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          EXPECT_OK(store->Append(BigEvent(absl::StrCat("evt_", t, "_", i))).status());
        }
      });
    }
    for (std::thread& t : threads) t.join();
    done = true;
    reader.join();
  }
  ASSERT_OK_AND_ASSIGN(auto reopened, SqliteEventStore::Open(options));
  ASSERT_OK_AND_ASSIGN(StoreStats stats, reopened->Stats());
  EXPECT_EQ(stats.events, kThreads * kPerThread);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      EXPECT_OK(reopened->Get(absl::StrCat("evt_", t, "_", i)));
    }
  }
}

}  // namespace
}  // namespace switchboard::server::store
