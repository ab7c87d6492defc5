// SqliteEventStore: the embedded EventStore and DeliveryStore, one SQLite file in WAL mode with
// group commit.
//
// Writes: one writer thread owns the write connection. Append queues its record and blocks; the
// writer takes everything queued (up to Options::max_batch), runs BEGIN IMMEDIATE, one prepared
// `INSERT ... ON CONFLICT(id) DO NOTHING` per record (sqlite3_changes() tells stored from
// duplicate), and COMMIT, which is the one fsync the whole batch shares (`synchronous=FULL`). Then
// every waiter of the batch gets its result. If any step fails the batch is rolled back and every
// waiter gets that error (SQLITE_FULL -> kResourceExhausted, I/O errors -> kUnavailable,
// corruption -> kDataLoss): nothing of a failed batch is stored, and the next batch simply tries
// again, so the store recovers by itself when space returns. A duplicate of an id whose batch is
// committing is queued behind it and meets the committed row in the next batch.
//
// Delivery state (DeliveryStore: PutSubscription, DeleteSubscription, CommitProgress) is written
// by the same writer thread on the same connection: each such call is queued like an append and
// runs, with prepared statements, inside the next batch's transaction, so acks share the append
// batches' fsyncs (and vice versa) and each call is durable when it returns OK. A transaction
// holds at most Options::max_batch appends and max_batch delivery writes, and fails or commits as
// a whole: a failed CommitProgress applies nothing. Cursor updates are
// `UPDATE ... SET cursor = ?2 WHERE name = ?1 AND cursor < ?2` (only ever up, and unchanged rows
// are not rewritten); retries and dead letters are upserts guarded by `WHERE EXISTS` on their
// subscription, so entries of unknown subscriptions are ignored. Measured with store_benchmark: a
// batch of 2000 cursors costs the writer ~2.5 ms, plus ~2 us per retry put or deleted.
//
// Reads (Get, List, Stats and DeliveryStore's reads) use a pool of Options::read_connections
// separate connections; each read is one statement (one read transaction), reset as soon as it is
// done, so readers never hold the WAL back for long and never wait for the writer. SQL is built
// from fixed fragments only; every value is a bound parameter. List walks the log in `seq` order
// from after_sequence (a single exact type uses the (type, seq) index instead): paging through the
// whole log costs one pass over it, although one page of a rare type may scan far. CountAfter
// counts the rows of the same query shape (`LIMIT cap` in a subquery bounds the work the same way);
// CountBetween adds `seq <= ?`: an exact type's (type, seq) index range, and `*`'s rows, are then
// bounded by the sequences at both ends, but a `prefix.*` pattern is searched by its type range
// alone (the sequences only filter it), so it costs the index entries of the matching types.
// LastSequence reads sqlite_sequence (the highest seq ever handed out, so it never goes down after
// retention; a duplicate append uses one up too, leaving a gap); LastSequenceReceivedBefore takes
// MAX(seq) over the covering received_at index (cost: one index entry per event received before t;
// meant for creating subscriptions).
//
// Schema (PRAGMA user_version = 2):
//   events(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
//          object_id TEXT NOT NULL, created INTEGER NOT NULL, received_at INTEGER NOT NULL,
//          endpoint TEXT NOT NULL, livemode INTEGER NOT NULL, account TEXT NOT NULL,
//          raw_json BLOB NOT NULL)
//   indexes: events(type, seq), events(created), events(received_at)
//   subscriptions(name TEXT PRIMARY KEY, spec BLOB NOT NULL, cursor INTEGER NOT NULL,
//                 created_at INTEGER NOT NULL)
//   retries(subscription TEXT, seq INTEGER, event_id TEXT, attempts INTEGER, next_at INTEGER,
//           last_error TEXT, first_attempt_at INTEGER, PRIMARY KEY(subscription, seq))
//           WITHOUT ROWID; index retries(subscription, next_at)
//   dead_letters(subscription TEXT, seq INTEGER, event_id TEXT, event_type TEXT,
//                attempts INTEGER, last_error TEXT, dead_at INTEGER,
//                PRIMARY KEY(subscription, seq)) WITHOUT ROWID
// (every column NOT NULL). Times are unix microseconds. `seq` is the EventRecord::sequence:
// AUTOINCREMENT never reuses a value, even after the newest rows were deleted or the file was
// reopened, and since one writer commits batches in order, sequences ascend in commit order.
// Open migrates older files in place, one version at a time inside one transaction: version 1
// (events only) gains the three delivery tables and keeps its events. A database with a newer
// user_version is refused (kFailedPrecondition) rather than misread.
//
// Checkpoints: SQLite's auto-checkpoint is replaced (a WAL hook counts pages) by this policy.
// Whenever CheckpointPolicy::wal_pages frames are in the WAL that no checkpoint copied yet, a
// checkpointer thread with its own connection copies them into the database file (PASSIVE) and
// syncs that file, while batches keep committing. Once the WAL is also
// CheckpointPolicy::restart_wal_pages long, the checkpointer repeats its pass until one finds
// only a few new frames, and then the writer, between two batches, copies that short tail itself.
// That leaves the WAL fully copied, so the next write restarts it from the beginning and the file
// stays about restart_wal_pages long (an ever-growing WAL makes every commit's fsync dearer).
// Copying in small pieces spreads the disk writes; restarting rarely keeps the commit pauses
// rare; syncing on the checkpointer keeps the tail's sync short (docs/BENCHMARKS.md has the
// figures). CheckpointPolicy::background = false keeps it all on the writer, which copies and
// restarts every wal_pages. PRAGMA journal_size_limit trims the WAL file after bursts, and once
// the writer has been idle for CheckpointPolicy::idle_truncate_after a TRUNCATE checkpoint (never
// waiting for readers) empties it at rest.
//
// Retention (DeleteReceivedBefore) runs on the writer thread in chunks of
// Options::delete_chunk_rows rows, one transaction each, interleaved with append batches, so it
// never holds the write lock for long.
//
// CheckWritable costs nothing while the last write succeeded. After a failed batch it reports the
// failure, and at most once per Options::probe_interval (on Options::clock) it probes for real:
// on the writer, a transaction inserting and deleting a page-sized row is committed (which needs
// free pages and a WAL write, the two things a full disk or max_page_count take away). A probe or
// batch that succeeds clears the failure.
//
// Example:
//   SqliteEventStore::Options options;
//   options.path = "/var/lib/switchboard/events.db";
//   ASSIGN_OR_RETURN(std::unique_ptr<SqliteEventStore> store, SqliteEventStore::Open(options));
//   ASSIGN_OR_RETURN(AppendResult result, store->Append(record));  // durable now
//   ProgressBatch progress;
//   progress.cursors["billing"] = 1042;
//   RETURN_IF_ERROR(store->CommitProgress(progress));  // shares a commit with queued appends
//
// Thread-safety: every method may be called from any thread concurrently, except that no method
// may be called once the destructor has started.
#ifndef SWITCHBOARD_SERVER_STORE_SQLITE_EVENT_STORE_H_
#define SWITCHBOARD_SERVER_STORE_SQLITE_EVENT_STORE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/base/clock.h"
#include "server/store/delivery_store.h"
#include "server/store/event_store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace switchboard::server::store {

class SqliteEventStore final : public EventStore, public DeliveryStore {
 public:
  // When the writer copies the WAL back into the database file.
  struct CheckpointPolicy {
    // Copy the WAL into the database file whenever this many of its pages (16 MiB of 4 KiB
    // pages) are not copied yet. Must be >= 1.
    int wal_pages = 4000;
    // Restart the WAL (copy it all, then write from its beginning again) once it is this long
    // (64 MiB); background mode only. Must be >= wal_pages. Every restart pauses commits for the
    // tail copy and one sync of the database file: rare restarts keep the ack latency's tail
    // short, and a longer WAL lets one copy serve a hot page (index leaves, the table's last
    // page) for many commits. Gateway at saturation, 50 connections, 2 cores (p99 / p99.9 of the
    // ack): copy and restart every 8000 pages 15 / 19 ms; 8000 / 32000 9 / 14 ms; 4000 / 16000
    // 8 / 12 ms.
    int restart_wal_pages = 16000;
    // Copy the bulk on a checkpointer thread with its own connection while batches keep
    // committing; the writer then copies only the short tail. false = the writer does it all.
    bool background = true;
    // TRUNCATE checkpoint once the writer has been idle this long with a non-empty WAL. Must be
    // > 0; absl::InfiniteDuration() = never.
    absl::Duration idle_truncate_after = absl::Seconds(1);
    // PRAGMA journal_size_limit: the WAL file is trimmed to this size when it restarts. Keep it
    // above restart_wal_pages pages plus a tail: trimming and regrowing the file every cycle
    // costs a pause of 5-40 ms each time.
    int64_t journal_size_limit_bytes = int64_t{128} << 20;
  };

  struct Options {
    // The database file. Missing parent directories are created with mode 0700.
    std::string path;
    // Most appends committed in one transaction. Must be >= 1.
    int max_batch = 512;
    // Database size cap in bytes (PRAGMA max_page_count, rounded down to whole pages, at least
    // one page; never below the current size); 0 = unlimited. Appends that would exceed it fail
    // kResourceExhausted. The WAL is not counted.
    int64_t max_size_bytes = 0;
    // Read connections (concurrent Get/List/Stats). Must be >= 1.
    int read_connections = 2;
    // How long a connection waits for a lock held by another process (busy_timeout).
    absl::Duration busy_timeout = absl::Seconds(5);
    // Rows deleted per retention transaction. Must be >= 1.
    int delete_chunk_rows = 1000;
    // Least time between two real probes of CheckWritable while writes are failing.
    absl::Duration probe_interval = absl::Seconds(1);
    // How long Append waits for the writer to take its record. One still queued after that is
    // taken back and answered kUnavailable (the webhook answers 503 and Stripe sends it again),
    // so a writer stuck on a hung disk does not hold every request forever. One the writer has
    // taken waits for its transaction's outcome, however long. A real-time wait; 0 = forever.
    absl::Duration append_timeout = absl::Seconds(5);
    // CheckWritable fails (kUnavailable) while the oldest queued append or delivery write has
    // waited longer than this, or the writer has been on one batch or task that long with
    // nothing committed: `/readyz` then takes the instance out. Measured on the clock's
    // monotonic reading.
    absl::Duration stall_after = absl::Seconds(5);
    CheckpointPolicy checkpoint;
    // Time source for probe_interval and stall_after (its monotonic reading). Not owned; must
    // outlive the store. nullptr = RealClock.
    base::Clock* clock = nullptr;
  };

  // Counters of the writer thread since Open (for metrics and tests).
  struct WriterStats {
    int64_t commits = 0;            // batches committed
    int64_t stored = 0;             // appends answered kStored
    int64_t duplicates = 0;         // appends answered kDuplicate
    int64_t failed_batches = 0;     // batches rolled back
    int64_t failed_appends = 0;     // appends answered with an error by the writer
    int64_t timed_out_appends = 0;  // appends taken back after Options::append_timeout
    int64_t largest_batch = 0;      // most appends in one transaction
    int64_t checkpoints = 0;        // checkpoints run (PASSIVE and TRUNCATE)
    int64_t wal_restarts = 0;       // background cycles whose tail copy left the WAL all copied
    int64_t delete_chunks = 0;      // retention transactions committed
    // DeliveryStore writes (PutSubscription, DeleteSubscription, CommitProgress) committed /
    // answered with an error by the writer.
    int64_t delivery_writes = 0;
    int64_t failed_delivery_writes = 0;
  };

  // Opens (creating if needed) the database at options.path, checks or creates the schema and
  // starts the writer thread.
  // Errors: kInvalidArgument (bad options), kFailedPrecondition (schema from a newer version, or
  // WAL mode refused, or a parent path is not a directory), the errno's code (e.g.
  // kPermissionDenied) when a directory cannot be created, kUnavailable (cannot open the file),
  // kDataLoss (not a database / corrupt).
  static absl::StatusOr<std::unique_ptr<SqliteEventStore>> Open(const Options& options);

  SqliteEventStore(const SqliteEventStore&) = delete;
  SqliteEventStore& operator=(const SqliteEventStore&) = delete;
  // Calls Close().
  ~SqliteEventStore() override;

  // EventStore. See event_store.h for contracts; specifics are in the file comment above.
  absl::StatusOr<AppendResult> Append(const EventRecord& record) override;
  absl::StatusOr<EventRecord> Get(absl::string_view id) override;
  absl::StatusOr<std::vector<EventRecord>> List(const EventQuery& query) override;
  absl::StatusOr<StoreStats> Stats() override;
  absl::StatusOr<int64_t> DeleteReceivedBefore(absl::Time cutoff) override;
  absl::Status CheckWritable() override;
  void Close() override;

  // DeliveryStore. See delivery_store.h for contracts; specifics are in the file comment above.
  absl::Status PutSubscription(const SubscriptionRecord& record) override;
  absl::Status DeleteSubscription(absl::string_view name) override;
  absl::StatusOr<std::vector<SubscriptionRecord>> ListSubscriptions() override;
  absl::Status CommitProgress(const ProgressBatch& batch) override;
  absl::StatusOr<std::vector<RetryRecord>> ListRetries(absl::string_view subscription,
                                                       absl::Time due_before, int limit) override;
  absl::StatusOr<std::vector<RetryRecord>> ListRetriesAfter(absl::string_view subscription,
                                                            int64_t after_sequence,
                                                            int limit) override;
  absl::StatusOr<std::vector<DeadLetterRecord>> ListDeadLetters(absl::string_view subscription,
                                                                int64_t after_sequence,
                                                                int limit) override;
  absl::StatusOr<int64_t> LastSequence() override;
  absl::StatusOr<int64_t> LastSequenceReceivedBefore(absl::Time t) override;
  absl::StatusOr<int64_t> CountAfter(const std::vector<std::string>& types, int64_t cursor,
                                     int64_t cap) override;
  absl::StatusOr<int64_t> CountBetween(const std::vector<std::string>& types,
                                       int64_t after_sequence, int64_t up_to_sequence,
                                       int64_t limit) override;

  // A snapshot of the writer's counters. Never blocks on I/O.
  WriterStats GetWriterStats() const;

  // --- Testing hooks ---

  // PRAGMA synchronous as the write connection sees it (2 = FULL), read on the writer thread.
  // kUnavailable after Close.
  absl::StatusOr<int> SynchronousForTesting();
  // Changes Options::max_size_bytes on the live store (0 = unlimited), on the writer thread.
  // kUnavailable after Close.
  absl::Status SetMaxSizeBytesForTesting(int64_t max_size_bytes);

  // Holds the writer between two batches while alive, so tests can queue appends and delivery
  // writes deterministically. The store must outlive it; Close waits until it is resumed.
  class WriterPause {
   public:
    WriterPause(const WriterPause&) = delete;
    WriterPause& operator=(const WriterPause&) = delete;
    ~WriterPause() { Resume(); }
    // Lets the writer go on. Idempotent.
    void Resume();

   private:
    friend class SqliteEventStore;
    explicit WriterPause(SqliteEventStore* store) : store_(store) {}
    SqliteEventStore* store_;
  };
  // Returns once the writer is paused between two batches. Errors: kUnavailable after Close.
  absl::StatusOr<std::unique_ptr<WriterPause>> PauseWriterForTesting();
  // Blocks until at least `n` appends and delivery writes wait in the queue (no timeout).
  void AwaitQueuedForTesting(int n);
  // Blocks until the writer has taken everything queued and is still at work on it.
  void AwaitWriterBusyForTesting();

 private:
  struct PendingAppend;
  struct PendingWrite;
  struct WriterTask;
  struct ReadConnection;
  class ReadLease;

  explicit SqliteEventStore(const Options& options);

  absl::Status OpenWriter();
  absl::Status OpenReaders();
  absl::Status MigrateSchema();

  // Writer thread.
  void WriterLoop();
  void CommitBatch(const std::vector<PendingAppend*>& appends,
                   const std::vector<PendingWrite*>& writes);
  void MaybeCheckpoint();
  void IdleCheckpoint();
  // One PASSIVE checkpoint: frames in the WAL when it began, and how many of them are copied.
  struct CheckpointPass {
    int log_frames = 0;
    int checkpointed = 0;
  };
  // nullopt (and a warning) when SQLite fails the checkpoint.
  std::optional<CheckpointPass> PassiveCheckpoint(sqlite3* db);
  // Flushes the database file's copied pages. SQLite syncs the database file in a checkpoint
  // only when the checkpoint reached the end of the WAL, which one running beside a busy writer
  // never does; without this the writer's tail checkpoint flushes the whole cycle's pages while
  // commits wait.
  void SyncDatabaseFile(sqlite3* db);
  int CheckpointTailFrames() const;
  absl::Status OpenCheckpointer();
  void CheckpointerLoop();
  absl::Status InsertRecord(const EventRecord& record, bool* stored);
  // Delivery writes, inside the batch's transaction.
  absl::Status ApplyPutSubscription(const SubscriptionRecord& record);
  absl::Status ApplyDeleteSubscription(absl::string_view name, absl::Status* result);
  absl::Status ApplyProgress(const ProgressBatch& batch);
  absl::Status ProbeWrite();
  // Sets last_write_status_, logging transitions between working and failing.
  void RecordWriteOutcome(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SetMaxPageCount(int64_t max_size_bytes);
  static int WalHook(void* self, sqlite3* db, const char* name, int pages);

  // Queues `task` for the writer and waits for it. kUnavailable when closed.
  absl::Status RunOnWriter(WriterTask& task);
  // Queues `write` for the writer's next transaction and waits for its result. kUnavailable when
  // closed.
  absl::Status QueueWrite(PendingWrite& write);
  // kInvalidArgument when `size` bytes would not fit in one row.
  absl::Status CheckRowSize(size_t size, absl::string_view what) const;

  absl::StatusOr<ReadLease> AcquireReader();
  void ReleaseReader(ReadConnection* connection);

  const Options options_;
  base::Clock* const clock_;
  // Set in Open, then constant.
  int64_t max_row_bytes_ = 0;
  int64_t page_size_ = 4096;
  int64_t default_max_page_count_ = 0;

  mutable absl::Mutex mu_;
  absl::CondVar writer_cv_;  // signalled when work arrives for the writer or on Close
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<PendingAppend*> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<PendingWrite*> writes_ ABSL_GUARDED_BY(mu_);
  std::deque<WriterTask*> tasks_ ABSL_GUARDED_BY(mu_);
  // When the writer took the batch or task it is on now (InfiniteFuture from the moment it is
  // done with it, before its callers are told, until it takes the next). Monotonic, as are
  // last_probe_ and the queued_at of waiting work.
  absl::Time busy_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // Status of the last batch or probe; cleared by the next success.
  absl::Status last_write_status_ ABSL_GUARDED_BY(mu_);
  absl::Time last_probe_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  WriterStats stats_ ABSL_GUARDED_BY(mu_);
  // Background checkpoint handshake: the writer moves kIdle -> kRunning, the checkpointer
  // kRunning -> kTailReady, the writer kTailReady -> kIdle. Only one of them checkpoints at once.
  enum class CheckpointState { kIdle, kRunning, kTailReady };
  CheckpointState checkpoint_state_ ABSL_GUARDED_BY(mu_) = CheckpointState::kIdle;
  // The running checkpoint ends with a WAL restart (the writer copies the tail).
  bool checkpoint_restart_ ABSL_GUARDED_BY(mu_) = false;
  // Frames at the start of the WAL that a checkpoint pass already went over (0 after a restart);
  // a reader may have held some back, which a later pass copies.
  int covered_frames_ ABSL_GUARDED_BY(mu_) = 0;
  absl::CondVar checkpoint_cv_;  // wakes the checkpointer
  bool checkpointer_stop_ ABSL_GUARDED_BY(mu_) = false;
  bool pause_requested_ ABSL_GUARDED_BY(mu_) = false;  // PauseWriterForTesting
  bool writer_paused_ ABSL_GUARDED_BY(mu_) = false;

  // Serializes Close() so a second caller waits for the first to finish.
  absl::Mutex close_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::thread writer_thread_;
  std::thread checkpointer_thread_;
  sqlite3* checkpoint_db_ = nullptr;  // the checkpointer thread's own connection

  // Write connection and its statements: used only by the writer thread once it runs (and by
  // Open/Close before it starts / after it stopped).
  sqlite3* db_ = nullptr;
  sqlite3_stmt* begin_stmt_ = nullptr;
  sqlite3_stmt* commit_stmt_ = nullptr;
  sqlite3_stmt* rollback_stmt_ = nullptr;
  sqlite3_stmt* insert_stmt_ = nullptr;
  sqlite3_stmt* delete_chunk_stmt_ = nullptr;
  sqlite3_stmt* probe_insert_stmt_ = nullptr;
  sqlite3_stmt* probe_delete_stmt_ = nullptr;
  sqlite3_stmt* put_subscription_stmt_ = nullptr;
  sqlite3_stmt* delete_subscription_stmt_ = nullptr;
  sqlite3_stmt* delete_subscription_retries_stmt_ = nullptr;
  sqlite3_stmt* delete_subscription_dead_letters_stmt_ = nullptr;
  sqlite3_stmt* advance_cursor_stmt_ = nullptr;
  sqlite3_stmt* put_retry_stmt_ = nullptr;
  sqlite3_stmt* delete_retry_stmt_ = nullptr;
  sqlite3_stmt* put_dead_letter_stmt_ = nullptr;
  sqlite3_stmt* delete_dead_letter_stmt_ = nullptr;
  int wal_pages_ = 0;                // frames in the WAL after the last commit (WAL hook)
  bool wal_needs_truncate_ = false;  // written since the last TRUNCATE checkpoint

  absl::Mutex pool_mu_;
  std::vector<std::unique_ptr<ReadConnection>> readers_;  // all of them; fixed after Open
  std::vector<ReadConnection*> free_readers_ ABSL_GUARDED_BY(pool_mu_);
  bool pool_closed_ ABSL_GUARDED_BY(pool_mu_) = false;
};

}  // namespace switchboard::server::store

#endif  // SWITCHBOARD_SERVER_STORE_SQLITE_EVENT_STORE_H_
