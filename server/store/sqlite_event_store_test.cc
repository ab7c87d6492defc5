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
#include "server/store/delivery_store_conformance.h"
#include "server/store/event_store_conformance.h"

namespace switchboard::server::store {
namespace {

using ::switchboard::base::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

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

INSTANTIATE_TEST_SUITE_P(Sqlite, DeliveryStoreConformanceTest,
                         testing::Values(DeliveryStoreFactory{
                             "sqlite",
                             []() -> absl::StatusOr<DeliveryStoreUnderTest> {
                               auto store = SqliteEventStore::Open(OptionsIn(NewTempDir()));
                               if (!store.ok()) return store.status();
                               return DeliveryStoreUnderTest::Of(std::move(store).value());
                             }}),
                         DeliveryStoreFactoryName);

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

// PRAGMA user_version of the database at `path`, or -1.
int UserVersion(const std::string& path) {
  sqlite3* db = nullptr;
  int version = -1;
  if (sqlite3_open(path.c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      version = sqlite3_column_int(stmt, 0);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return version;
}

// Runs `sql` on a fresh connection to `path`; false (and a test failure) on error.
bool ExecSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  bool ok = sqlite3_open(path.c_str(), &db) == SQLITE_OK;
  char* error = nullptr;
  if (ok && sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    ADD_FAILURE() << sql << ": " << (error != nullptr ? error : "?");
    ok = false;
  }
  sqlite3_free(error);
  sqlite3_close(db);
  return ok;
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
  options = OptionsIn(NewTempDir());
  options.checkpoint.wal_pages = 100;
  options.checkpoint.restart_wal_pages = 99;
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
  sqlite3_close(db);
  EXPECT_EQ(UserVersion(options.path), 2);
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

TEST(SqliteEventStore, AnAppendTheWriterNeverTookIsTakenBackAfterItsTimeout) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  options.append_timeout = absl::Milliseconds(20);
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  {
    // A writer that takes nothing (as on a hung disk): the append gives up, whatever the wait.
    ASSERT_OK_AND_ASSIGN(auto pause, store->PauseWriterForTesting());
    EXPECT_THAT(store->Append(TestEvent("evt_1")), StatusIs(absl::StatusCode::kUnavailable));
  }
  // Taken back, so never stored: the 503 it caused makes Stripe send it again.
  EXPECT_THAT(store->Get("evt_1"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(store->GetWriterStats().timed_out_appends, 1);
  ASSERT_OK_AND_ASSIGN(AppendResult again, store->Append(TestEvent("evt_1")));
  EXPECT_EQ(again, AppendResult::kStored);
}

TEST(SqliteEventStore, CheckWritableFailsWhileWorkWaitsLongerThanStallAfter) {
  base::FakeClock clock(absl::FromUnixSeconds(1700000000));
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  options.clock = &clock;
  options.append_timeout = absl::ZeroDuration();  // wait as long as the test holds the writer
  options.stall_after = absl::Seconds(5);
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  ASSERT_OK_AND_ASSIGN(auto pause, store->PauseWriterForTesting());
  ConcurrentAppends appends(store.get(), {TestEvent("evt_1")});
  store->AwaitQueuedForTesting(1);
  EXPECT_OK(store->CheckWritable());
  // The wall clock stepped an hour ahead (an NTP correction) is no time waited.
  clock.Set(clock.Now() + absl::Hours(1));
  EXPECT_OK(store->CheckWritable());
  clock.Advance(absl::Seconds(6));
  absl::Status stalled = store->CheckWritable();
  EXPECT_THAT(stalled, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(stalled.message(), HasSubstr("stalled"));
  pause->Resume();
  const auto& results = appends.Join();
  EXPECT_EQ(Count(results, AppendResult::kStored), 1);
  EXPECT_OK(store->CheckWritable());
}

TEST(SqliteEventStore, CheckWritableFailsWhileOneCommitRunsLongerThanStallAfter) {
  base::FakeClock clock(absl::FromUnixSeconds(1700000000));
  const std::string dir = NewTempDir();
  SqliteEventStore::Options options = OptionsIn(dir);
  options.clock = &clock;
  options.append_timeout = absl::ZeroDuration();
  options.stall_after = absl::Seconds(5);
  options.busy_timeout = absl::Minutes(10);  // the writer waits for the lock below, not fails
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  // Another process holds the write lock: the writer takes the batch and hangs in it, as on a
  // disk that does not answer. Nothing is left queued.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(options.path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  ConcurrentAppends appends(store.get(), {TestEvent("evt_1")});
  store->AwaitWriterBusyForTesting();
  EXPECT_OK(store->CheckWritable());
  clock.Advance(absl::Seconds(6));
  EXPECT_THAT(store->CheckWritable(), StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_EQ(Count(appends.Join(), AppendResult::kStored), 1);
  EXPECT_OK(store->CheckWritable());
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

TEST(SqliteEventStore, BackgroundCheckpointsRestartTheWal) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  options.checkpoint.wal_pages = 8;
  options.checkpoint.restart_wal_pages = 64;
  options.checkpoint.idle_truncate_after = absl::InfiniteDuration();  // only the busy path
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  // Each append commits a few pages; the checkpointer copies every 8 and, past 64, hands the
  // tail to the writer, whose copy restarts the WAL. Stops as soon as that happened three times
  // (no clock involved); a store that never restarts runs out of appends.
  int appended = 0;
  while (store->GetWriterStats().wal_restarts < 3 && appended < 5000) {
    ASSERT_OK(store->Append(BigEvent(absl::StrCat("evt_", appended))).status());
    ++appended;
  }
  SqliteEventStore::WriterStats stats = store->GetWriterStats();
  EXPECT_GE(stats.wal_restarts, 3);
  // Every restart follows at least one checkpointer pass and the writer's own.
  EXPECT_GE(stats.checkpoints, 2 * stats.wal_restarts);
  store.reset();
  ASSERT_OK_AND_ASSIGN(auto reopened, SqliteEventStore::Open(options));
  ASSERT_OK_AND_ASSIGN(StoreStats stored, reopened->Stats());
  EXPECT_EQ(stored.events, appended);
  for (int i = 0; i < appended; ++i) EXPECT_OK(reopened->Get(absl::StrCat("evt_", i)));
}

TEST(SqliteEventStore, BackgroundCheckpointsLoseNothingUnderConcurrentLoad) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  options.checkpoint.wal_pages = 8;  // checkpoint handshakes all the time
  options.checkpoint.restart_wal_pages = 32;
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

// ---------------------------------------------------------------------------------------------
// DeliveryStore specifics: durability, shared commits, full disks, migration.

SubscriptionRecord NamedSubscription(absl::string_view name, int64_t cursor = 0) {
  SubscriptionRecord record;
  record.name = std::string(name);
  record.spec = absl::StrCat("spec of ", name);
  record.cursor = cursor;
  record.created_at = absl::FromUnixSeconds(1700000000);
  return record;
}

RetryRecord RetryOf(absl::string_view subscription, int64_t sequence, size_t error_bytes = 10) {
  RetryRecord record;
  record.subscription = std::string(subscription);
  record.sequence = sequence;
  record.event_id = absl::StrCat("evt_", sequence);
  record.attempts = 1;
  record.next_at = absl::FromUnixSeconds(1700000000 + sequence);
  record.last_error = std::string(error_bytes, 'e');
  record.first_attempt_at = absl::FromUnixSeconds(1700000000);
  return record;
}

int64_t CursorOf(SqliteEventStore& store, absl::string_view name) {
  absl::StatusOr<std::vector<SubscriptionRecord>> all = store.ListSubscriptions();
  EXPECT_TRUE(all.ok()) << all.status();
  if (all.ok()) {
    for (const SubscriptionRecord& r : *all) {
      if (r.name == name) return r.cursor;
    }
  }
  ADD_FAILURE() << "no subscription " << name;
  return -1;
}

std::vector<int64_t> RetrySequences(SqliteEventStore& store, absl::string_view subscription) {
  absl::StatusOr<std::vector<RetryRecord>> retries =
      store.ListRetries(subscription, absl::InfiniteFuture(), 100000);
  EXPECT_TRUE(retries.ok()) << retries.status();
  std::vector<int64_t> out;
  if (retries.ok()) {
    for (const RetryRecord& r : *retries) out.push_back(r.sequence);
  }
  return out;
}

TEST(SqliteDeliveryStore, DeliveryStateSurvivesReopen) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  int64_t last_sequence = 0;
  {
    ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
    ASSERT_OK(store->PutSubscription(NamedSubscription("billing", 3)));
    ASSERT_OK(store->PutSubscription(NamedSubscription("shipping")));
    ASSERT_OK(store->PutSubscription(NamedSubscription("gone")));
    for (int i = 0; i < 5; ++i) ASSERT_OK(store->Append(TestEvent(absl::StrCat("evt_", i))));
    ProgressBatch batch;
    batch.cursors = {{"billing", 4}, {"shipping", 2}};
    batch.retries_to_put = {RetryOf("billing", 2), RetryOf("billing", 3), RetryOf("gone", 1)};
    DeadLetterRecord dead;
    dead.subscription = "shipping";
    dead.sequence = 1;
    dead.event_id = "evt_0";
    dead.event_type = "payment_intent.succeeded";
    dead.attempts = 9;
    dead.last_error = "REJECT";
    dead.dead_at = absl::FromUnixMicros(1700000000000001);
    batch.dead_letters_to_put = {dead};
    ASSERT_OK(store->CommitProgress(batch));
    ASSERT_OK(store->DeleteSubscription("gone"));
    ASSERT_OK_AND_ASSIGN(last_sequence, store->LastSequence());
    EXPECT_GT(last_sequence, 0);
  }
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  ASSERT_OK_AND_ASSIGN(std::vector<SubscriptionRecord> all, store->ListSubscriptions());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "billing");
  EXPECT_EQ(all[0].spec, "spec of billing");
  EXPECT_EQ(all[0].cursor, 4);
  EXPECT_EQ(all[0].created_at, absl::FromUnixSeconds(1700000000));
  EXPECT_EQ(all[1].name, "shipping");
  EXPECT_EQ(all[1].cursor, 2);
  EXPECT_THAT(RetrySequences(*store, "billing"), ElementsAre(2, 3));
  EXPECT_THAT(RetrySequences(*store, "gone"), IsEmpty());
  ASSERT_OK_AND_ASSIGN(std::vector<DeadLetterRecord> dead,
                       store->ListDeadLetters("shipping", 0, 10));
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].attempts, 9);
  EXPECT_EQ(dead[0].dead_at, absl::FromUnixMicros(1700000000000001));
  ASSERT_OK_AND_ASSIGN(int64_t reopened_last, store->LastSequence());
  EXPECT_EQ(reopened_last, last_sequence);
}

// The version-1 schema exactly as released builds wrote it.
constexpr char kVersion1Schema[] = R"sql(
PRAGMA journal_mode = WAL;
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  object_id TEXT NOT NULL,
  created INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  endpoint TEXT NOT NULL,
  livemode INTEGER NOT NULL,
  account TEXT NOT NULL,
  raw_json BLOB NOT NULL
);
CREATE INDEX events_type_seq ON events(type, seq);
CREATE INDEX events_created ON events(created);
CREATE INDEX events_received_at ON events(received_at);
PRAGMA user_version = 1;
INSERT INTO events (id, type, object_id, created, received_at, endpoint, livemode, account,
                    raw_json)
VALUES ('evt_a', 'charge.succeeded', 'ch_1', 1700000000000000, 1700000001000000, '/webhook', 0,
        '', CAST('{"id":"evt_a"}' AS BLOB)),
       ('evt_b', 'invoice.paid', 'in_1', 1700000002000000, 1700000003000000, '/webhook', 1,
        'acct_1', CAST('{"id":"evt_b"}' AS BLOB)),
       ('evt_c', 'invoice.paid', 'in_2', 1700000004000000, 1700000005000000, '/webhook', 0,
        '', CAST('{"id":"evt_c"}' AS BLOB));
DELETE FROM events WHERE id = 'evt_c';
)sql";

TEST(SqliteDeliveryStore, OpenMigratesAVersion1DatabaseInPlace) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  ASSERT_TRUE(ExecSql(options.path, kVersion1Schema));
  ASSERT_EQ(UserVersion(options.path), 1);
  {
    ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
    ASSERT_OK_AND_ASSIGN(EventRecord a, store->Get("evt_a"));
    EXPECT_EQ(a.sequence, 1);
    EXPECT_EQ(a.raw_json, R"({"id":"evt_a"})");
    ASSERT_OK_AND_ASSIGN(EventRecord b, store->Get("evt_b"));
    EXPECT_EQ(b.sequence, 2);
    EXPECT_TRUE(b.livemode);
    EXPECT_EQ(b.account, "acct_1");
    // evt_c's sequence was handed out before the upgrade and stays used.
    ASSERT_OK_AND_ASSIGN(int64_t last, store->LastSequence());
    EXPECT_EQ(last, 3);
    ASSERT_OK_AND_ASSIGN(int64_t invoices, store->CountAfter({"invoice.paid"}, 0, 10));
    EXPECT_EQ(invoices, 1);
    ASSERT_OK(store->Append(TestEvent("evt_d")));
    ASSERT_OK_AND_ASSIGN(EventRecord d, store->Get("evt_d"));
    EXPECT_EQ(d.sequence, 4);
    // The new tables work.
    ASSERT_OK(store->PutSubscription(NamedSubscription("billing")));
    ProgressBatch batch;
    batch.cursors["billing"] = 2;
    batch.retries_to_put = {RetryOf("billing", 1)};
    ASSERT_OK(store->CommitProgress(batch));
  }
  EXPECT_EQ(UserVersion(options.path), 2);
  // Opening a version-2 file migrates nothing and loses nothing.
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store->Stats());
  EXPECT_EQ(stats.events, 3);
  EXPECT_EQ(CursorOf(*store, "billing"), 2);
  EXPECT_THAT(RetrySequences(*store, "billing"), ElementsAre(1));
}

TEST(SqliteDeliveryStore, AFailedMigrationLeavesTheFileAsItWas) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  ASSERT_TRUE(ExecSql(options.path, kVersion1Schema));
  // A table in the way makes the version 2 step fail halfway (after `subscriptions`).
  ASSERT_TRUE(ExecSql(options.path, "CREATE TABLE dead_letters (x)"));
  EXPECT_FALSE(SqliteEventStore::Open(options).ok());
  EXPECT_EQ(UserVersion(options.path), 1);
  ASSERT_TRUE(ExecSql(options.path, "DROP TABLE dead_letters"));
  // Nothing of the failed step stayed behind, so it now runs whole.
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  EXPECT_OK(store->Get("evt_a"));
  EXPECT_OK(store->PutSubscription(NamedSubscription("billing")));
}

TEST(SqliteDeliveryStore, ProgressCommitsShareATransactionWithQueuedAppends) {
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(OptionsIn(NewTempDir())));
  ASSERT_OK(store->PutSubscription(NamedSubscription("billing")));
  std::vector<EventRecord> records;
  for (int i = 0; i < 5; ++i) records.push_back(TestEvent(absl::StrCat("evt_", i)));
  ProgressBatch batch;
  batch.cursors["billing"] = 7;
  batch.retries_to_put = {RetryOf("billing", 3)};

  ASSERT_OK_AND_ASSIGN(auto pause, store->PauseWriterForTesting());
  SqliteEventStore::WriterStats before = store->GetWriterStats();
  ConcurrentAppends appends(store.get(), records);
  absl::Status progress = absl::UnknownError("not run");
  absl::Status put = absl::UnknownError("not run");
  std::thread committer([&] { progress = store->CommitProgress(batch); });
  std::thread putter([&] { put = store->PutSubscription(NamedSubscription("shipping")); });
  store->AwaitQueuedForTesting(7);
  pause->Resume();
  EXPECT_EQ(Count(appends.Join(), AppendResult::kStored), 5);
  committer.join();
  putter.join();
  EXPECT_OK(progress);
  EXPECT_OK(put);

  SqliteEventStore::WriterStats after = store->GetWriterStats();
  EXPECT_EQ(after.commits, before.commits + 1);  // one transaction, one fsync for all seven
  EXPECT_EQ(after.delivery_writes, before.delivery_writes + 2);
  EXPECT_EQ(CursorOf(*store, "billing"), 7);
  EXPECT_EQ(CursorOf(*store, "shipping"), 0);
  EXPECT_THAT(RetrySequences(*store, "billing"), ElementsAre(3));
}

TEST(SqliteDeliveryStore, FullDatabaseFailsAProgressCommitWholeAndRecovers) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  options.max_size_bytes = 128 * 1024;
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  ASSERT_OK(store->PutSubscription(NamedSubscription("billing", 1)));
  absl::Status full;
  for (int i = 0; i < 1000 && full.ok(); ++i) {
    full = store->Append(BigEvent(absl::StrCat("evt_fill_", i))).status();
  }
  ASSERT_THAT(full, StatusIs(absl::StatusCode::kResourceExhausted));

  // A cursor alone rewrites a page in place; the retries need new pages the cap refuses.
  ProgressBatch batch;
  batch.cursors["billing"] = 50;
  for (int64_t seq = 1; seq <= 200; ++seq)
    batch.retries_to_put.push_back(RetryOf("billing", seq, 500));
  EXPECT_THAT(store->CommitProgress(batch), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(CursorOf(*store, "billing"), 1);
  EXPECT_THAT(RetrySequences(*store, "billing"), IsEmpty());
  SubscriptionRecord big = NamedSubscription("shipping");
  big.spec = std::string(64 * 1024, 's');
  EXPECT_THAT(store->PutSubscription(big), StatusIs(absl::StatusCode::kResourceExhausted));
  ASSERT_OK_AND_ASSIGN(std::vector<SubscriptionRecord> all, store->ListSubscriptions());
  EXPECT_EQ(all.size(), 1u);
  EXPECT_GE(store->GetWriterStats().failed_delivery_writes, 2);

  ASSERT_OK(store->SetMaxSizeBytesForTesting(0));
  ASSERT_OK(store->CommitProgress(batch));
  EXPECT_EQ(CursorOf(*store, "billing"), 50);
  EXPECT_EQ(RetrySequences(*store, "billing").size(), 200u);
  EXPECT_OK(store->PutSubscription(big));
}

TEST(SqliteDeliveryStore, CloseCommitsQueuedProgress) {
  SqliteEventStore::Options options = OptionsIn(NewTempDir());
  ASSERT_OK_AND_ASSIGN(auto store, SqliteEventStore::Open(options));
  ASSERT_OK(store->PutSubscription(NamedSubscription("billing")));
  ProgressBatch batch;
  batch.cursors["billing"] = 9;
  ASSERT_OK_AND_ASSIGN(auto pause, store->PauseWriterForTesting());
  absl::Status progress = absl::UnknownError("not run");
  std::thread committer([&] { progress = store->CommitProgress(batch); });
  store->AwaitQueuedForTesting(1);
  std::thread closer([&] { store->Close(); });
  while (store->CheckWritable().ok()) std::this_thread::yield();
  pause->Resume();
  closer.join();
  committer.join();
  EXPECT_OK(progress);

  ASSERT_OK_AND_ASSIGN(auto reopened, SqliteEventStore::Open(options));
  EXPECT_EQ(CursorOf(*reopened, "billing"), 9);
}

}  // namespace
}  // namespace switchboard::server::store
