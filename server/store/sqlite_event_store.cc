#include "server/store/sqlite_event_store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/memory/memory.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "server/base/files.h"
#include "server/base/log.h"
#include "server/base/status_macros.h"
#include "server/base/thread_name.h"
#include "server/store/wal_coalescing_vfs.h"

namespace switchboard::server::store {
namespace {

constexpr int kSchemaVersion = 2;

// Checkpointer passes per cycle before the writer copies whatever tail is left (readers holding
// the WAL back can keep passes from converging).
constexpr int kMaxCheckpointPasses = 6;

// Each step takes a database from the version before it to its own; Open runs the missing ones
// in order. A released step never changes: files written by it exist.

constexpr char kSchemaV1[] = R"sql(
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
)sql";

// Delivery state. WITHOUT ROWID: rows are small and always found by their primary key, so the
// primary key is the table (no rowid b-tree beside it), and retries_due's entries end with seq,
// which orders ties of next_at without a sort.
constexpr char kSchemaV2[] = R"sql(
CREATE TABLE subscriptions (
  name TEXT PRIMARY KEY NOT NULL,
  spec BLOB NOT NULL,
  cursor INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE retries (
  subscription TEXT NOT NULL,
  seq INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  next_at INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  first_attempt_at INTEGER NOT NULL,
  PRIMARY KEY (subscription, seq)
) WITHOUT ROWID;
CREATE INDEX retries_due ON retries(subscription, next_at);
CREATE TABLE dead_letters (
  subscription TEXT NOT NULL,
  seq INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  dead_at INTEGER NOT NULL,
  PRIMARY KEY (subscription, seq)
) WITHOUT ROWID;
PRAGMA user_version = 2;
)sql";

constexpr const char* kMigrations[] = {kSchemaV1, kSchemaV2};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion,
              "one migration step per schema version");

constexpr char kColumns[] =
    "seq, id, type, object_id, created, received_at, endpoint, livemode, account, raw_json";
constexpr char kColumnsWithoutRaw[] =
    "seq, id, type, object_id, created, received_at, endpoint, livemode, account";

constexpr char kInsertSql[] =
    "INSERT INTO events (id, type, object_id, created, received_at, endpoint, livemode, account, "
    "raw_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(id) DO NOTHING";
// received_at is indexed, so each chunk finds its rows without scanning the table.
constexpr char kDeleteChunkSql[] =
    "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE received_at < ?1 "
    "ORDER BY received_at LIMIT ?2)";
// seq -1 is never assigned (AUTOINCREMENT starts at 1) and an explicit rowid below the maximum
// leaves sqlite_sequence alone, so probes use no sequence number.
constexpr char kProbeInsertSql[] =
    "INSERT INTO events (seq, id, type, object_id, created, received_at, endpoint, livemode, "
    "account, raw_json) VALUES (-1, '', '', '', 0, 0, '', 0, '', zeroblob(?1))";
constexpr char kProbeDeleteSql[] = "DELETE FROM events WHERE seq = -1";
// Delivery writes. A cursor only moves up, and an unchanged one is not rewritten (no WAL page).
constexpr char kPutSubscriptionSql[] =
    "INSERT INTO subscriptions (name, spec, cursor, created_at) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, created_at = excluded.created_at";
constexpr char kDeleteSubscriptionSql[] = "DELETE FROM subscriptions WHERE name = ?1";
constexpr char kDeleteSubscriptionRetriesSql[] = "DELETE FROM retries WHERE subscription = ?1";
constexpr char kDeleteSubscriptionDeadLettersSql[] =
    "DELETE FROM dead_letters WHERE subscription = ?1";
constexpr char kAdvanceCursorSql[] =
    "UPDATE subscriptions SET cursor = ?2 WHERE name = ?1 AND cursor < ?2";
constexpr char kPutRetrySql[] =
    "INSERT INTO retries (subscription, seq, event_id, attempts, next_at, last_error, "
    "first_attempt_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 "
    "WHERE EXISTS (SELECT 1 FROM subscriptions WHERE name = ?1) "
    "ON CONFLICT(subscription, seq) DO UPDATE SET event_id = excluded.event_id, "
    "attempts = excluded.attempts, next_at = excluded.next_at, last_error = excluded.last_error, "
    "first_attempt_at = excluded.first_attempt_at";
constexpr char kDeleteRetrySql[] = "DELETE FROM retries WHERE subscription = ?1 AND seq = ?2";
constexpr char kPutDeadLetterSql[] =
    "INSERT INTO dead_letters (subscription, seq, event_id, event_type, attempts, last_error, "
    "dead_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 "
    "WHERE EXISTS (SELECT 1 FROM subscriptions WHERE name = ?1) "
    "ON CONFLICT(subscription, seq) DO UPDATE SET event_id = excluded.event_id, "
    "event_type = excluded.event_type, attempts = excluded.attempts, "
    "last_error = excluded.last_error, dead_at = excluded.dead_at";
constexpr char kDeleteDeadLetterSql[] =
    "DELETE FROM dead_letters WHERE subscription = ?1 AND seq = ?2";

// Delivery reads.
constexpr char kListSubscriptionsSql[] =
    "SELECT name, spec, cursor, created_at FROM subscriptions ORDER BY name";
constexpr char kListRetriesSql[] =
    "SELECT subscription, seq, event_id, attempts, next_at, last_error, first_attempt_at "
    "FROM retries WHERE subscription = ?1 AND next_at < ?2 ORDER BY next_at, seq LIMIT ?3";
// The primary key (subscription, seq) serves it.
constexpr char kListRetriesAfterSql[] =
    "SELECT subscription, seq, event_id, attempts, next_at, last_error, first_attempt_at "
    "FROM retries WHERE subscription = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";
constexpr char kListDeadLettersSql[] =
    "SELECT subscription, seq, event_id, event_type, attempts, last_error, dead_at "
    "FROM dead_letters WHERE subscription = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";
// sqlite_sequence keeps the highest seq AUTOINCREMENT ever handed out, deleted rows included. The
// CheckWritable probe's explicit seq -1 can create the row with 0 on an empty log, never more.
constexpr char kLastSequenceSql[] =
    "SELECT MAX(0, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0))";
// Left alone, the planner walks the table backwards from the newest event (MAX(seq) is the
// rowid): one table page per event received at or after t. The covering index costs a small
// fraction of a page per event received before t, and never touches the rows.
constexpr char kLastSequenceReceivedBeforeSql[] =
    "SELECT COALESCE(MAX(seq), 0) FROM events INDEXED BY events_received_at "
    "WHERE received_at < ?1";

// Subqueries so that MIN/MAX each use the received_at index and COUNT the smallest index.
constexpr char kStatsSql[] =
    "SELECT (SELECT COUNT(*) FROM events), (SELECT MIN(received_at) FROM events), "
    "(SELECT MAX(received_at) FROM events)";

// Statement caches per read connection stay small; List and the counts build one shape per filter
// layout.
constexpr size_t kMaxCachedListStatements = 32;

absl::StatusCode CodeForSqlite(int rc) {
  switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return absl::StatusCode::kInvalidArgument;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status SqliteStatus(int rc, sqlite3* db, absl::string_view what) {
  std::string message = absl::StrCat("sqlite: ", what, ": ", sqlite3_errstr(rc), " (", rc, ")");
  // The connection's message is more precise but only describes the latest error on it.
  if (db != nullptr && sqlite3_errcode(db) != SQLITE_OK) {
    absl::StrAppend(&message, ": ", sqlite3_errmsg(db));
  }
  return absl::Status(CodeForSqlite(rc), message);
}

absl::Status Exec(sqlite3* db, const char* sql) {
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db, sql);
  return absl::OkStatus();
}

absl::StatusOr<sqlite3_stmt*> Prepare(sqlite3* db, absl::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return SqliteStatus(rc, db, absl::StrCat("prepare ", sql));
  }
  return stmt;
}

// Resets a statement when leaving scope: a statement left mid-result holds a read transaction
// open, which stops checkpoints.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;
  ~ResetOnExit() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3_stmt* stmt_;
};

// Runs a statement that returns no rows, then resets it.
absl::Status StepDone(sqlite3* db, sqlite3_stmt* stmt) {
  ResetOnExit reset(stmt);
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE) return SqliteStatus(rc, db, sqlite3_sql(stmt));
  return absl::OkStatus();
}

absl::StatusOr<std::string> PragmaText(sqlite3* db, absl::string_view sql) {
  ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(db, sql));
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(stmt, &sqlite3_finalize);
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW) return SqliteStatus(rc, db, sql);
  const unsigned char* text = sqlite3_column_text(stmt, 0);
  return std::string(text == nullptr ? "" : reinterpret_cast<const char*>(text));
}

absl::StatusOr<int64_t> PragmaInt(sqlite3* db, absl::string_view sql) {
  ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(db, sql));
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(stmt, &sqlite3_finalize);
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW) return SqliteStatus(rc, db, sql);
  return sqlite3_column_int64(stmt, 0);
}

int BindText(sqlite3_stmt* stmt, int index, absl::string_view text) {
  // data() may be null for an empty view; SQLite would then bind NULL.
  return sqlite3_bind_text(stmt, index, text.empty() ? "" : text.data(),
                           static_cast<int>(text.size()), SQLITE_STATIC);
}

// The smallest whole number of unix microseconds m with FromUnixMicros(m) >= t (saturating).
// Stored times are whole microseconds, so `stored < t` is exactly `stored < CeilUnixMicros(t)`.
int64_t CeilUnixMicros(absl::Time t) {
  int64_t micros = absl::ToUnixMicros(t);  // rounds down
  if (absl::FromUnixMicros(micros) < t && micros < std::numeric_limits<int64_t>::max()) ++micros;
  return micros;
}

// Binds a time as the upper bound of `column < ?`: every stored time is below InfiniteFuture.
int BindUpperBound(sqlite3_stmt* stmt, int index, absl::Time t) {
  if (t == absl::InfiniteFuture()) {
    return sqlite3_bind_double(stmt, index, std::numeric_limits<double>::infinity());
  }
  return sqlite3_bind_int64(stmt, index, CeilUnixMicros(t));
}

std::string ColumnBytes(sqlite3_stmt* stmt, int column) {
  // column_blob returns the stored bytes of TEXT too, without any conversion.
  const void* data = sqlite3_column_blob(stmt, column);
  int size = sqlite3_column_bytes(stmt, column);
  if (data == nullptr || size <= 0) return std::string();
  return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
}

EventRecord ReadRecord(sqlite3_stmt* stmt, bool with_raw_json) {
  EventRecord record;
  record.sequence = sqlite3_column_int64(stmt, 0);
  record.id = ColumnBytes(stmt, 1);
  record.type = ColumnBytes(stmt, 2);
  record.object_id = ColumnBytes(stmt, 3);
  record.created = absl::FromUnixMicros(sqlite3_column_int64(stmt, 4));
  record.received_at = absl::FromUnixMicros(sqlite3_column_int64(stmt, 5));
  record.endpoint = ColumnBytes(stmt, 6);
  record.livemode = sqlite3_column_int64(stmt, 7) != 0;
  record.account = ColumnBytes(stmt, 8);
  if (with_raw_json) record.raw_json = ColumnBytes(stmt, 9);
  return record;
}

// Steps a statement selecting the columns of kListRetriesSql to its end.
absl::StatusOr<std::vector<RetryRecord>> StepRetries(sqlite3* db, sqlite3_stmt* s,
                                                     absl::string_view what) {
  std::vector<RetryRecord> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    RetryRecord& r = out.emplace_back();
    r.subscription = ColumnBytes(s, 0);
    r.sequence = sqlite3_column_int64(s, 1);
    r.event_id = ColumnBytes(s, 2);
    r.attempts = sqlite3_column_int(s, 3);
    r.next_at = absl::FromUnixMicros(sqlite3_column_int64(s, 4));
    r.last_error = ColumnBytes(s, 5);
    r.first_attempt_at = absl::FromUnixMicros(sqlite3_column_int64(s, 6));
  }
  if (rc != SQLITE_DONE) return SqliteStatus(rc, db, what);
  return out;
}

absl::Status CheckTypePatterns(const std::vector<std::string>& types) {
  if (types.size() > static_cast<size_t>(kMaxQueryTypes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxQueryTypes, " type patterns, got ", types.size()));
  }
  return absl::OkStatus();
}

// A condition on events for a WHERE clause, made of fixed fragments only; every value is a bound
// parameter. Shared by List, CountAfter and CountBetween so that they select the same events.
struct EventFilter {
  std::string sql;
  std::vector<int64_t> int_params;  // bound first, in order
  std::vector<std::string> text_params;
};

// Events of `query` with sequence <= up_to_sequence as well (no bound when it is the largest
// int64). REQUIRES: the created range of `query` is not empty (List checks it).
EventFilter BuildEventFilter(const EventQuery& query,
                             int64_t up_to_sequence = std::numeric_limits<int64_t>::max()) {
  EventFilter filter;
  filter.sql = "seq > ?";
  filter.int_params.push_back(query.after_sequence);
  if (up_to_sequence != std::numeric_limits<int64_t>::max()) {
    absl::StrAppend(&filter.sql, " AND seq <= ?");
    filter.int_params.push_back(up_to_sequence);
  }
  if (query.created_after != absl::InfinitePast()) {
    absl::StrAppend(&filter.sql, " AND created >= ?");
    filter.int_params.push_back(CeilUnixMicros(query.created_after));
  }
  if (query.created_before != absl::InfiniteFuture()) {
    absl::StrAppend(&filter.sql, " AND created < ?");
    filter.int_params.push_back(CeilUnixMicros(query.created_before));
  }
  bool all_types = query.types.empty() ||
                   std::find(query.types.begin(), query.types.end(), "*") != query.types.end();
  if (all_types) return filter;
  absl::StrAppend(&filter.sql, " AND (");
  for (size_t i = 0; i < query.types.size(); ++i) {
    const std::string& pattern = query.types[i];
    if (i > 0) absl::StrAppend(&filter.sql, " OR ");
    if (absl::EndsWith(pattern, ".*")) {
      // Everything starting with "prefix." sorts in ["prefix.", "prefix/"): '/' follows '.'.
      std::string lower = pattern.substr(0, pattern.size() - 1);
      std::string upper = lower;
      upper.back() = '/';
      absl::StrAppend(&filter.sql, "(type >= ? AND type < ?)");
      filter.text_params.push_back(std::move(lower));
      filter.text_params.push_back(std::move(upper));
    } else {
      absl::StrAppend(&filter.sql, "type = ?");
      filter.text_params.push_back(pattern);
    }
  }
  absl::StrAppend(&filter.sql, ")");
  return filter;
}

// Binds `filter`'s parameters from index 1 on; returns the next free index.
int BindEventFilter(sqlite3_stmt* stmt, const EventFilter& filter) {
  int index = 1;
  for (int64_t value : filter.int_params) sqlite3_bind_int64(stmt, index++, value);
  for (const std::string& value : filter.text_params) BindText(stmt, index++, value);
  return index;
}

int BindBlob(sqlite3_stmt* stmt, int index, absl::string_view bytes) {
  // A null pointer would bind NULL, which the NOT NULL columns refuse.
  return sqlite3_bind_blob(stmt, index, bytes.empty() ? "" : bytes.data(),
                           static_cast<int>(bytes.size()), SQLITE_STATIC);
}

// Creates the missing directories of `dir` with mode 0700.

}  // namespace

struct SqliteEventStore::PendingAppend {
  explicit PendingAppend(const EventRecord& r) : record(r) {}
  // The caller waits in Append until the writer is done with it, or takes it back from queue_.
  const EventRecord& record;
  absl::Time queued_at;  // clock_->Monotonic()
  absl::StatusOr<AppendResult> result = absl::InternalError("append not run");
  absl::Notification done;
};

struct SqliteEventStore::PendingWrite {
  // Runs on the writer inside the batch's transaction. An error fails (rolls back) the whole
  // transaction; an outcome of this write alone (DeleteSubscription's kNotFound) goes to *result.
  std::function<absl::Status(absl::Status* result)> apply;
  absl::Time queued_at;  // clock_->Monotonic()
  absl::Status result;
  absl::Notification done;
};

struct SqliteEventStore::WriterTask {
  // One step on the writer thread; returns true when the task is finished. Errors go to *status.
  // Unfinished tasks take one step between two append batches, so long work never starves
  // appends.
  std::function<bool(absl::Status*)> step;
  absl::Status status;
  absl::Notification done;
};

struct SqliteEventStore::ReadConnection {
  ReadConnection() = default;
  ReadConnection(const ReadConnection&) = delete;
  ReadConnection& operator=(const ReadConnection&) = delete;
  ~ReadConnection() {
    for (sqlite3_stmt* stmt :
         {get_stmt, stats_stmt, list_subscriptions_stmt, list_retries_stmt, list_retries_after_stmt,
          list_dead_letters_stmt, last_sequence_stmt, last_sequence_received_before_stmt}) {
      sqlite3_finalize(stmt);
    }
    for (auto& [sql, stmt] : query_stmts) sqlite3_finalize(stmt);
    sqlite3_close(db);
  }

  // The cached statement for `sql` (a List or count shape), prepared on first use.
  absl::StatusOr<sqlite3_stmt*> Cached(const std::string& sql) {
    auto it = query_stmts.find(sql);
    if (it != query_stmts.end()) return it->second;
    if (query_stmts.size() >= kMaxCachedListStatements) {
      for (auto& [text, stmt] : query_stmts) sqlite3_finalize(stmt);
      query_stmts.clear();
    }
    ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(db, sql));
    query_stmts.emplace(sql, stmt);
    return stmt;
  }

  sqlite3* db = nullptr;
  sqlite3_stmt* get_stmt = nullptr;
  sqlite3_stmt* stats_stmt = nullptr;
  sqlite3_stmt* list_subscriptions_stmt = nullptr;
  sqlite3_stmt* list_retries_stmt = nullptr;
  sqlite3_stmt* list_retries_after_stmt = nullptr;
  sqlite3_stmt* list_dead_letters_stmt = nullptr;
  sqlite3_stmt* last_sequence_stmt = nullptr;
  sqlite3_stmt* last_sequence_received_before_stmt = nullptr;
  absl::flat_hash_map<std::string, sqlite3_stmt*> query_stmts;  // by SQL text
};

// A read connection borrowed from the pool, returned when destroyed.
class SqliteEventStore::ReadLease {
 public:
  ReadLease(SqliteEventStore* store, ReadConnection* connection)
      : store_(store), connection_(connection) {}
  ReadLease(ReadLease&& other) noexcept
      : store_(other.store_), connection_(std::exchange(other.connection_, nullptr)) {}
  ReadLease& operator=(ReadLease&&) = delete;
  ~ReadLease() {
    if (connection_ != nullptr) store_->ReleaseReader(connection_);
  }
  ReadConnection* operator->() const { return connection_; }

 private:
  SqliteEventStore* store_;
  ReadConnection* connection_;
};

SqliteEventStore::SqliteEventStore(const Options& options)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : base::RealClock::Get()) {}

SqliteEventStore::~SqliteEventStore() { Close(); }

absl::StatusOr<std::unique_ptr<SqliteEventStore>> SqliteEventStore::Open(const Options& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("store path is empty");
  if (options.path == ":memory:" || absl::StartsWith(options.path, "file:")) {
    return absl::InvalidArgumentError("store path must be a plain file path");
  }
  if (options.max_batch < 1) return absl::InvalidArgumentError("max_batch must be >= 1");
  if (options.max_size_bytes < 0) return absl::InvalidArgumentError("max_size_bytes < 0");
  if (options.read_connections < 1) {
    return absl::InvalidArgumentError("read_connections must be >= 1");
  }
  if (options.delete_chunk_rows < 1) {
    return absl::InvalidArgumentError("delete_chunk_rows must be >= 1");
  }
  if (options.checkpoint.wal_pages < 1) {
    return absl::InvalidArgumentError("checkpoint.wal_pages must be >= 1");
  }
  if (options.checkpoint.restart_wal_pages < options.checkpoint.wal_pages) {
    return absl::InvalidArgumentError("checkpoint.restart_wal_pages must be >= wal_pages");
  }
  if (options.checkpoint.idle_truncate_after <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("checkpoint.idle_truncate_after must be > 0");
  }
  if (options.busy_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("busy_timeout < 0");
  }
  size_t slash = options.path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    RETURN_IF_ERROR(base::MakeDirectories(options.path.substr(0, slash)));
  }

  // Not make_unique: the constructor is private.
  auto store = absl::WrapUnique(new SqliteEventStore(options));
  RETURN_IF_ERROR(store->OpenWriter());
  RETURN_IF_ERROR(store->OpenReaders());
  SqliteEventStore* raw = store.get();
  if (options.checkpoint.background) {
    RETURN_IF_ERROR(store->OpenCheckpointer());
    store->checkpointer_thread_ = std::thread([raw] {
      base::SetThreadName("sb-checkpoint");
      raw->CheckpointerLoop();
    });
  }
  store->writer_thread_ = std::thread([raw] {
    base::SetThreadName("sb-store-write");
    raw->WriterLoop();
  });
  SB_LOG(INFO) << "event_store_opened path=" << options.path << " max_batch=" << options.max_batch
               << " max_size_bytes=" << options.max_size_bytes;
  return store;
}

absl::Status SqliteEventStore::OpenWriter() {
  int rc = sqlite3_open_v2(
      options_.path.c_str(), &db_,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
      WalCoalescingVfsName());
  if (rc != SQLITE_OK) return SqliteStatus(rc, db_, absl::StrCat("open ", options_.path));
  sqlite3_busy_timeout(db_, static_cast<int>(absl::ToInt64Milliseconds(options_.busy_timeout)));

  ASSIGN_OR_RETURN(std::string mode, PragmaText(db_, "PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite: ", options_.path, " refused WAL mode (journal_mode=", mode, ")"));
  }
  RETURN_IF_ERROR(Exec(db_, "PRAGMA synchronous = FULL"));
  RETURN_IF_ERROR(Exec(db_, absl::StrCat("PRAGMA journal_size_limit = ",
                                         options_.checkpoint.journal_size_limit_bytes)
                                .c_str()));
  // Index pages of a busy log stay hot; the default 2 MB cache is small for that.
  RETURN_IF_ERROR(Exec(db_, "PRAGMA cache_size = -16384"));
  ASSIGN_OR_RETURN(default_max_page_count_, PragmaInt(db_, "PRAGMA max_page_count"));
  ASSIGN_OR_RETURN(page_size_, PragmaInt(db_, "PRAGMA page_size"));
  RETURN_IF_ERROR(SetMaxPageCount(options_.max_size_bytes));
  RETURN_IF_ERROR(MigrateSchema());

  ASSIGN_OR_RETURN(begin_stmt_, Prepare(db_, "BEGIN IMMEDIATE"));
  ASSIGN_OR_RETURN(commit_stmt_, Prepare(db_, "COMMIT"));
  ASSIGN_OR_RETURN(rollback_stmt_, Prepare(db_, "ROLLBACK"));
  ASSIGN_OR_RETURN(insert_stmt_, Prepare(db_, kInsertSql));
  ASSIGN_OR_RETURN(delete_chunk_stmt_, Prepare(db_, kDeleteChunkSql));
  ASSIGN_OR_RETURN(probe_insert_stmt_, Prepare(db_, kProbeInsertSql));
  ASSIGN_OR_RETURN(probe_delete_stmt_, Prepare(db_, kProbeDeleteSql));
  ASSIGN_OR_RETURN(put_subscription_stmt_, Prepare(db_, kPutSubscriptionSql));
  ASSIGN_OR_RETURN(delete_subscription_stmt_, Prepare(db_, kDeleteSubscriptionSql));
  ASSIGN_OR_RETURN(delete_subscription_retries_stmt_, Prepare(db_, kDeleteSubscriptionRetriesSql));
  ASSIGN_OR_RETURN(delete_subscription_dead_letters_stmt_,
                   Prepare(db_, kDeleteSubscriptionDeadLettersSql));
  ASSIGN_OR_RETURN(advance_cursor_stmt_, Prepare(db_, kAdvanceCursorSql));
  ASSIGN_OR_RETURN(put_retry_stmt_, Prepare(db_, kPutRetrySql));
  ASSIGN_OR_RETURN(delete_retry_stmt_, Prepare(db_, kDeleteRetrySql));
  ASSIGN_OR_RETURN(put_dead_letter_stmt_, Prepare(db_, kPutDeadLetterSql));
  ASSIGN_OR_RETURN(delete_dead_letter_stmt_, Prepare(db_, kDeleteDeadLetterSql));

  max_row_bytes_ = sqlite3_limit(db_, SQLITE_LIMIT_LENGTH, -1);
  // Replaces SQLite's auto-checkpoint (itself a WAL hook): the writer checkpoints by policy.
  sqlite3_wal_hook(db_, &SqliteEventStore::WalHook, this);
  return absl::OkStatus();
}

absl::Status SqliteEventStore::MigrateSchema() {
  RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
  absl::Status status = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(int64_t version, PragmaInt(db_, "PRAGMA user_version"));
    if (version > kSchemaVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("sqlite: ", options_.path, " has schema version ", version,
                       ", newer than this build's ", kSchemaVersion));
    }
    if (version > 0 && version < kSchemaVersion) {
      SB_LOG(INFO) << "event_store_schema_migrating path=" << options_.path << " from=" << version
                   << " to=" << kSchemaVersion;
    }
    // All steps in this one transaction: a crash midway leaves the file as it was.
    for (int64_t step = version; step < kSchemaVersion; ++step) {
      RETURN_IF_ERROR(Exec(db_, kMigrations[step]));
    }
    return Exec(db_, "COMMIT");
  }();
  if (!status.ok() && !sqlite3_get_autocommit(db_)) {
    Exec(db_, "ROLLBACK").IgnoreError();
  }
  return status;
}

absl::Status SqliteEventStore::OpenReaders() {
  absl::MutexLock lock(&pool_mu_);
  for (int i = 0; i < options_.read_connections; ++i) {
    auto connection = std::make_unique<ReadConnection>();
    int rc = sqlite3_open_v2(options_.path.c_str(), &connection->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                             nullptr);
    if (rc != SQLITE_OK) {
      return SqliteStatus(rc, connection->db, absl::StrCat("open reader ", options_.path));
    }
    sqlite3_busy_timeout(connection->db,
                         static_cast<int>(absl::ToInt64Milliseconds(options_.busy_timeout)));
    RETURN_IF_ERROR(Exec(connection->db, "PRAGMA query_only = 1"));
    ASSIGN_OR_RETURN(
        connection->get_stmt,
        Prepare(connection->db, absl::StrCat("SELECT ", kColumns, " FROM events WHERE id = ?1")));
    ASSIGN_OR_RETURN(connection->stats_stmt, Prepare(connection->db, kStatsSql));
    ASSIGN_OR_RETURN(connection->list_subscriptions_stmt,
                     Prepare(connection->db, kListSubscriptionsSql));
    ASSIGN_OR_RETURN(connection->list_retries_stmt, Prepare(connection->db, kListRetriesSql));
    ASSIGN_OR_RETURN(connection->list_retries_after_stmt,
                     Prepare(connection->db, kListRetriesAfterSql));
    ASSIGN_OR_RETURN(connection->list_dead_letters_stmt,
                     Prepare(connection->db, kListDeadLettersSql));
    ASSIGN_OR_RETURN(connection->last_sequence_stmt, Prepare(connection->db, kLastSequenceSql));
    ASSIGN_OR_RETURN(connection->last_sequence_received_before_stmt,
                     Prepare(connection->db, kLastSequenceReceivedBeforeSql));
    free_readers_.push_back(connection.get());
    readers_.push_back(std::move(connection));
  }
  return absl::OkStatus();
}

absl::Status SqliteEventStore::OpenCheckpointer() {
  int rc =
      sqlite3_open_v2(options_.path.c_str(), &checkpoint_db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, nullptr);
  if (rc != SQLITE_OK) {
    return SqliteStatus(rc, checkpoint_db_, absl::StrCat("open checkpointer ", options_.path));
  }
  // A checkpoint syncs the database file before the WAL may be reused only when this is not OFF.
  return Exec(checkpoint_db_, "PRAGMA synchronous = FULL");
}

absl::Status SqliteEventStore::SetMaxPageCount(int64_t max_size_bytes) {
  int64_t pages = default_max_page_count_;
  if (max_size_bytes > 0) pages = std::max<int64_t>(1, max_size_bytes / page_size_);
  return PragmaInt(db_, absl::StrCat("PRAGMA max_page_count = ", pages)).status();
}

int SqliteEventStore::WalHook(void* self, sqlite3*, const char*, int pages) {
  static_cast<SqliteEventStore*>(self)->wal_pages_ = pages;
  return SQLITE_OK;
}

// ---------------------------------------------------------------------------------------------
// Writes

absl::StatusOr<AppendResult> SqliteEventStore::Append(const EventRecord& record) {
  if (record.id.empty()) return absl::InvalidArgumentError("event id is empty");
  int64_t row_bytes =
      static_cast<int64_t>(record.id.size() + record.type.size() + record.object_id.size() +
                           record.endpoint.size() + record.account.size() + record.raw_json.size());
  if (row_bytes > max_row_bytes_ - 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("event ", record.id, " is too large (", row_bytes, " bytes)"));
  }
  PendingAppend pending(record);
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return absl::UnavailableError("event store is closed");
    pending.queued_at = clock_->Monotonic();
    queue_.push_back(&pending);
    writer_cv_.Signal();
  }
  if (options_.append_timeout > absl::ZeroDuration() &&
      !pending.done.WaitForNotificationWithTimeout(options_.append_timeout)) {
    absl::MutexLock lock(&mu_);
    // Still queued: the writer never saw it, so taking it back stores nothing.
    if (auto it = std::find(queue_.begin(), queue_.end(), &pending); it != queue_.end()) {
      queue_.erase(it);
      ++stats_.timed_out_appends;
      return absl::UnavailableError(absl::StrCat("event store writer took no append for ",
                                                 absl::FormatDuration(options_.append_timeout),
                                                 " (stalled or overloaded)"));
    }
  }
  // Taken by the writer: its transaction decides.
  pending.done.WaitForNotification();
  return std::move(pending.result);
}

void SqliteEventStore::WriterLoop() {
  std::vector<PendingAppend*> batch;
  batch.reserve(options_.max_batch);
  std::vector<PendingWrite*> writes;
  for (;;) {
    batch.clear();
    writes.clear();
    WriterTask* task = nullptr;
    bool idle = false;
    {
      absl::MutexLock lock(&mu_);
      busy_since_ = absl::InfiniteFuture();
      for (;;) {
        if (pause_requested_) {
          writer_paused_ = true;
          mu_.Await(absl::Condition(
              +[](bool* requested) { return !*requested; }, &pause_requested_));
          writer_paused_ = false;
          continue;
        }
        if (!queue_.empty() || !writes_.empty() || !tasks_.empty() || closed_) break;
        if (!wal_needs_truncate_) {
          writer_cv_.Wait(&mu_);
        } else if (writer_cv_.WaitWithTimeout(&mu_, options_.checkpoint.idle_truncate_after) &&
                   queue_.empty() && writes_.empty() && tasks_.empty() && !closed_ &&
                   !pause_requested_) {
          idle = true;
          break;
        }
      }
      if (!idle) {
        if (queue_.empty() && writes_.empty() && closed_) {
          // Drained: appends and delivery writes were all committed; unfinished tasks are
          // abandoned.
          for (WriterTask* t : tasks_) {
            t->status = absl::UnavailableError("event store is closed");
            t->done.Notify();
          }
          tasks_.clear();
          return;
        }
        busy_since_ = clock_->Monotonic();
        size_t n = std::min(queue_.size(), static_cast<size_t>(options_.max_batch));
        batch.assign(queue_.begin(), queue_.begin() + n);
        queue_.erase(queue_.begin(), queue_.begin() + n);
        // Delivery writes join the same transaction: one fsync for acks and appends alike.
        size_t w = std::min(writes_.size(), static_cast<size_t>(options_.max_batch));
        writes.assign(writes_.begin(), writes_.begin() + w);
        writes_.erase(writes_.begin(), writes_.begin() + w);
        if (!tasks_.empty()) task = tasks_.front();
      }
    }
    if (idle) {
      IdleCheckpoint();
      continue;
    }
    if (!batch.empty() || !writes.empty()) CommitBatch(batch, writes);
    if (task != nullptr && task->step(&task->status)) {
      {
        absl::MutexLock lock(&mu_);
        busy_since_ = absl::InfiniteFuture();
        tasks_.pop_front();
      }
      task->done.Notify();
    }
  }
}

absl::Status SqliteEventStore::InsertRecord(const EventRecord& r, bool* stored) {
  sqlite3_stmt* s = insert_stmt_;
  ResetOnExit reset(s);
  BindText(s, 1, r.id);
  BindText(s, 2, r.type);
  BindText(s, 3, r.object_id);
  sqlite3_bind_int64(s, 4, absl::ToUnixMicros(r.created));
  sqlite3_bind_int64(s, 5, absl::ToUnixMicros(r.received_at));
  BindText(s, 6, r.endpoint);
  sqlite3_bind_int(s, 7, r.livemode ? 1 : 0);
  BindText(s, 8, r.account);
  // A BLOB, not TEXT: the bytes are kept exactly, NULs and invalid UTF-8 included.
  sqlite3_bind_blob(s, 9, r.raw_json.empty() ? "" : r.raw_json.data(),
                    static_cast<int>(r.raw_json.size()), SQLITE_STATIC);
  int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) return SqliteStatus(rc, db_, "insert event");
  *stored = sqlite3_changes(db_) > 0;
  return absl::OkStatus();
}

void SqliteEventStore::CommitBatch(const std::vector<PendingAppend*>& appends,
                                   const std::vector<PendingWrite*>& writes) {
  absl::Status status = StepDone(db_, begin_stmt_);
  int64_t stored = 0;
  if (status.ok()) {
    for (PendingAppend* pending : appends) {
      bool inserted = false;
      status = InsertRecord(pending->record, &inserted);
      if (!status.ok()) break;
      pending->result = inserted ? AppendResult::kStored : AppendResult::kDuplicate;
      if (inserted) ++stored;
    }
  }
  if (status.ok()) {
    for (PendingWrite* write : writes) {
      status = write->apply(&write->result);
      if (!status.ok()) break;
    }
  }
  if (status.ok()) status = StepDone(db_, commit_stmt_);  // the fsync the batch shares
  if (!status.ok()) {
    // Some errors (SQLITE_FULL among them) may already have rolled the transaction back.
    if (!sqlite3_get_autocommit(db_)) {
      absl::Status rollback = StepDone(db_, rollback_stmt_);
      if (!rollback.ok()) {
        SB_LOG(ERROR) << "event_store_rollback_failed error=" << rollback;
      }
    }
    for (PendingAppend* pending : appends) pending->result = status;
    for (PendingWrite* write : writes) write->result = status;
  } else {
    wal_needs_truncate_ = true;
  }
  {
    absl::MutexLock lock(&mu_);
    // Done with this batch before anyone hears of it: a caller that goes on (and a test that
    // then moves its clock) never sees the finished batch as one still running.
    busy_since_ = absl::InfiniteFuture();
    RecordWriteOutcome(status);
    if (status.ok()) {
      ++stats_.commits;
      stats_.stored += stored;
      stats_.duplicates += static_cast<int64_t>(appends.size()) - stored;
      stats_.largest_batch = std::max<int64_t>(stats_.largest_batch, appends.size());
      stats_.delivery_writes += writes.size();
    } else {
      ++stats_.failed_batches;
      stats_.failed_appends += appends.size();
      stats_.failed_delivery_writes += writes.size();
    }
  }
  // Each waiter may destroy its entry as soon as it is notified.
  for (PendingAppend* pending : appends) pending->done.Notify();
  for (PendingWrite* write : writes) write->done.Notify();
  if (status.ok()) MaybeCheckpoint();
}

absl::Status SqliteEventStore::QueueWrite(PendingWrite& write) {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return absl::UnavailableError("event store is closed");
    write.queued_at = clock_->Monotonic();
    writes_.push_back(&write);
    writer_cv_.Signal();
  }
  write.done.WaitForNotification();
  return write.result;
}

absl::Status SqliteEventStore::CheckRowSize(size_t size, absl::string_view what) const {
  // The same margin as Append leaves for the other columns and the record header.
  if (static_cast<int64_t>(size) > max_row_bytes_ - 1024) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is too large (", size, " bytes)"));
  }
  return absl::OkStatus();
}

absl::Status SqliteEventStore::ApplyPutSubscription(const SubscriptionRecord& r) {
  sqlite3_stmt* s = put_subscription_stmt_;
  BindText(s, 1, r.name);
  BindBlob(s, 2, r.spec);
  sqlite3_bind_int64(s, 3, r.cursor);
  sqlite3_bind_int64(s, 4, absl::ToUnixMicros(r.created_at));
  return StepDone(db_, s);
}

absl::Status SqliteEventStore::ApplyDeleteSubscription(absl::string_view name,
                                                       absl::Status* result) {
  BindText(delete_subscription_stmt_, 1, name);
  RETURN_IF_ERROR(StepDone(db_, delete_subscription_stmt_));
  if (sqlite3_changes(db_) == 0) {
    *result = absl::NotFoundError(absl::StrCat("no subscription ", name));
    return absl::OkStatus();
  }
  BindText(delete_subscription_retries_stmt_, 1, name);
  RETURN_IF_ERROR(StepDone(db_, delete_subscription_retries_stmt_));
  BindText(delete_subscription_dead_letters_stmt_, 1, name);
  return StepDone(db_, delete_subscription_dead_letters_stmt_);
}

absl::Status SqliteEventStore::ApplyProgress(const ProgressBatch& batch) {
  // One step per entry on prepared statements: a batch of thousands of cursors costs a few
  // microseconds each on the writer, and its pages share the batch's one WAL write and fsync.
  for (const auto& [name, cursor] : batch.cursors) {
    BindText(advance_cursor_stmt_, 1, name);
    sqlite3_bind_int64(advance_cursor_stmt_, 2, cursor);
    RETURN_IF_ERROR(StepDone(db_, advance_cursor_stmt_));
  }
  for (const RetryRecord& r : batch.retries_to_put) {
    sqlite3_stmt* s = put_retry_stmt_;
    BindText(s, 1, r.subscription);
    sqlite3_bind_int64(s, 2, r.sequence);
    BindText(s, 3, r.event_id);
    sqlite3_bind_int64(s, 4, r.attempts);
    sqlite3_bind_int64(s, 5, absl::ToUnixMicros(r.next_at));
    BindText(s, 6, r.last_error);
    sqlite3_bind_int64(s, 7, absl::ToUnixMicros(r.first_attempt_at));
    RETURN_IF_ERROR(StepDone(db_, s));
  }
  for (const auto& [subscription, sequence] : batch.retries_to_delete) {
    BindText(delete_retry_stmt_, 1, subscription);
    sqlite3_bind_int64(delete_retry_stmt_, 2, sequence);
    RETURN_IF_ERROR(StepDone(db_, delete_retry_stmt_));
  }
  for (const DeadLetterRecord& r : batch.dead_letters_to_put) {
    sqlite3_stmt* s = put_dead_letter_stmt_;
    BindText(s, 1, r.subscription);
    sqlite3_bind_int64(s, 2, r.sequence);
    BindText(s, 3, r.event_id);
    BindText(s, 4, r.event_type);
    sqlite3_bind_int64(s, 5, r.attempts);
    BindText(s, 6, r.last_error);
    sqlite3_bind_int64(s, 7, absl::ToUnixMicros(r.dead_at));
    RETURN_IF_ERROR(StepDone(db_, s));
  }
  for (const auto& [subscription, sequence] : batch.dead_letters_to_delete) {
    BindText(delete_dead_letter_stmt_, 1, subscription);
    sqlite3_bind_int64(delete_dead_letter_stmt_, 2, sequence);
    RETURN_IF_ERROR(StepDone(db_, delete_dead_letter_stmt_));
  }
  return absl::OkStatus();
}

std::optional<SqliteEventStore::CheckpointPass> SqliteEventStore::PassiveCheckpoint(sqlite3* db) {
  CheckpointPass pass;
  int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &pass.log_frames,
                                     &pass.checkpointed);
  if (rc != SQLITE_OK) {
    SB_LOG(WARNING) << "event_store_checkpoint_failed mode=passive error="
                    << SqliteStatus(rc, db, "checkpoint");
    return std::nullopt;
  }
  absl::MutexLock lock(&mu_);
  ++stats_.checkpoints;
  return pass;
}

int SqliteEventStore::CheckpointTailFrames() const {
  return std::max(16, options_.checkpoint.wal_pages / 16);
}

void SqliteEventStore::MaybeCheckpoint() {
  if (!options_.checkpoint.background) {
    if (wal_pages_ < options_.checkpoint.wal_pages) return;
    // With the only writer checkpointing, every committed frame is copied (unless a reader holds
    // an old snapshot), so the next write restarts the WAL from its beginning.
    std::optional<CheckpointPass> pass = PassiveCheckpoint(db_);
    // Frames a reader still needed stay; a later checkpoint copies them.
    if (pass && pass->log_frames - pass->checkpointed <= CheckpointTailFrames()) wal_pages_ = 0;
    return;
  }
  CheckpointState state;
  {
    absl::MutexLock lock(&mu_);
    state = checkpoint_state_;
    // SQLite restarted the WAL by itself (a pass had reached its end while no commit came).
    if (wal_pages_ < covered_frames_) covered_frames_ = 0;
    if (state == CheckpointState::kIdle &&
        wal_pages_ - covered_frames_ >= options_.checkpoint.wal_pages) {
      checkpoint_restart_ = wal_pages_ >= options_.checkpoint.restart_wal_pages;
      checkpoint_state_ = CheckpointState::kRunning;
      checkpoint_cv_.Signal();
    }
  }
  if (state != CheckpointState::kTailReady) return;
  // The checkpointer copied the bulk while batches kept committing; copying the short tail here,
  // with no commit in between, leaves the WAL fully copied so the next write restarts it. Without
  // restarts the WAL file only grows, and appends to a growing file make every fsync dearer.
  std::optional<CheckpointPass> tail = PassiveCheckpoint(db_);
  wal_pages_ = 0;
  absl::MutexLock lock(&mu_);
  covered_frames_ = 0;
  // All copied: the next write starts the WAL from its beginning (unless a reader still
  // holds the old frames then).
  if (tail && tail->checkpointed == tail->log_frames) ++stats_.wal_restarts;
  checkpoint_state_ = CheckpointState::kIdle;
}

void SqliteEventStore::CheckpointerLoop() {
  for (;;) {
    bool restart = false;
    {
      absl::MutexLock lock(&mu_);
      while (checkpoint_state_ != CheckpointState::kRunning && !checkpointer_stop_) {
        checkpoint_cv_.Wait(&mu_);
      }
      if (checkpointer_stop_) return;
      restart = checkpoint_restart_;
    }
    if (!restart) {
      std::optional<CheckpointPass> result = PassiveCheckpoint(checkpoint_db_);
      SyncDatabaseFile(checkpoint_db_);
      absl::MutexLock lock(&mu_);
      // Frames a reader held back are copied by a later pass, which starts where SQLite's
      // backfill stopped. Counting them as copied keeps a long reader from triggering a pass
      // on every commit until it ends.
      if (result) covered_frames_ = result->log_frames;
      checkpoint_state_ = CheckpointState::kIdle;
      continue;
    }
    // Each pass copies what was committed during the previous one, so passes get shorter. The
    // tail is ready once a pass found only a few new frames and copied all but a few (a reader
    // can hold frames back): then what the writer copies itself, with commits paused, is about
    // what arrives during one short pass. A pass reports the WAL as it was when the pass began,
    // so the frames new to a pass are the growth of log_frames since the previous one.
    int previous_log_frames = 0;
    for (int pass = 0; pass < kMaxCheckpointPasses; ++pass) {
      std::optional<CheckpointPass> result = PassiveCheckpoint(checkpoint_db_);
      if (!result) break;
      bool few_new = result->log_frames - previous_log_frames <= CheckpointTailFrames();
      bool few_left = result->log_frames - result->checkpointed <= CheckpointTailFrames();
      if (few_new && few_left) break;
      previous_log_frames = result->log_frames;
    }
    SyncDatabaseFile(checkpoint_db_);
    absl::MutexLock lock(&mu_);
    checkpoint_state_ = CheckpointState::kTailReady;
  }
}

void SqliteEventStore::SyncDatabaseFile(sqlite3* db) {
  sqlite3_file* file = nullptr;
  int rc = sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file);
  if (rc == SQLITE_OK && (file == nullptr || file->pMethods == nullptr)) rc = SQLITE_MISUSE;
  if (rc == SQLITE_OK) rc = file->pMethods->xSync(file, SQLITE_SYNC_NORMAL);
  if (rc != SQLITE_OK) {
    SB_LOG(WARNING) << "event_store_checkpoint_sync_failed error="
                    << SqliteStatus(rc, db, "sync database file");
  }
}

void SqliteEventStore::IdleCheckpoint() {
  {
    absl::MutexLock lock(&mu_);
    // One checkpoint at a time: the checkpointer is mid-pass; try again next idle period.
    if (checkpoint_state_ == CheckpointState::kRunning) return;
  }
  // Never wait for readers here: an append may arrive any moment. A busy WAL is retried at the
  // next idle period.
  sqlite3_busy_timeout(db_, 0);
  int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  sqlite3_busy_timeout(db_, static_cast<int>(absl::ToInt64Milliseconds(options_.busy_timeout)));
  if (rc == SQLITE_BUSY) return;
  if (rc != SQLITE_OK) {
    SB_LOG(WARNING) << "event_store_checkpoint_failed mode=truncate error="
                    << SqliteStatus(rc, db_, "checkpoint");
  }
  wal_needs_truncate_ = false;  // after a real error, wait for the next write rather than spin
  wal_pages_ = 0;
  absl::MutexLock lock(&mu_);
  covered_frames_ = 0;
  checkpoint_state_ = CheckpointState::kIdle;
  if (rc == SQLITE_OK) ++stats_.checkpoints;
}

absl::Status SqliteEventStore::RunOnWriter(WriterTask& task) {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return absl::UnavailableError("event store is closed");
    tasks_.push_back(&task);
    writer_cv_.Signal();
  }
  task.done.WaitForNotification();
  return task.status;
}

absl::StatusOr<int64_t> SqliteEventStore::DeleteReceivedBefore(absl::Time cutoff) {
  int64_t deleted = 0;
  WriterTask task;
  task.step = [this, cutoff, &deleted](absl::Status* status) {
    if (cutoff == absl::InfinitePast()) return true;
    sqlite3_stmt* s = delete_chunk_stmt_;
    int changes = 0;
    {
      ResetOnExit reset(s);
      BindUpperBound(s, 1, cutoff);
      sqlite3_bind_int(s, 2, options_.delete_chunk_rows);
      int rc = sqlite3_step(s);  // one autocommit transaction per chunk
      if (rc != SQLITE_DONE) {
        *status = SqliteStatus(rc, db_, "delete events");
        return true;
      }
      changes = sqlite3_changes(db_);
    }
    deleted += changes;
    if (changes > 0) wal_needs_truncate_ = true;
    {
      absl::MutexLock lock(&mu_);
      ++stats_.delete_chunks;
    }
    MaybeCheckpoint();
    return changes < options_.delete_chunk_rows;
  };
  RETURN_IF_ERROR(RunOnWriter(task));
  if (deleted > 0) {
    SB_LOG(INFO) << "event_store_retention deleted=" << deleted
                 << " cutoff=" << absl::FormatTime(cutoff);
  }
  return deleted;
}

absl::Status SqliteEventStore::ProbeWrite() {
  absl::Status status = StepDone(db_, begin_stmt_);
  if (status.ok()) {
    // A page-sized row needs new pages (the max_page_count cap) and COMMIT writes WAL frames and
    // syncs them (the disk), yet nothing stays behind.
    sqlite3_bind_int64(probe_insert_stmt_, 1, page_size_);
    status = StepDone(db_, probe_insert_stmt_);
  }
  if (status.ok()) status = StepDone(db_, probe_delete_stmt_);
  if (status.ok()) status = StepDone(db_, commit_stmt_);
  if (!status.ok() && !sqlite3_get_autocommit(db_)) StepDone(db_, rollback_stmt_).IgnoreError();
  if (status.ok()) wal_needs_truncate_ = true;
  absl::MutexLock lock(&mu_);
  RecordWriteOutcome(status);
  return status;
}

void SqliteEventStore::RecordWriteOutcome(const absl::Status& status) {
  // One line when writes start failing (or fail differently) and one when they recover, rather
  // than a line per batch while the disk is full.
  if (!status.ok() && (last_write_status_.ok() || last_write_status_.code() != status.code())) {
    SB_LOG(ERROR) << "event_store_writes_failing path=" << options_.path << " error=" << status;
  } else if (status.ok() && !last_write_status_.ok()) {
    SB_LOG(WARNING) << "event_store_writes_recovered path=" << options_.path
                    << " failed_batches_total=" << stats_.failed_batches;
  }
  last_write_status_ = status;
}

absl::Status SqliteEventStore::CheckWritable() {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return absl::UnavailableError("event store is closed");
    const absl::Time now = clock_->Monotonic();
    absl::Time oldest = busy_since_;
    if (!queue_.empty()) oldest = std::min(oldest, queue_.front()->queued_at);
    if (!writes_.empty()) oldest = std::min(oldest, writes_.front()->queued_at);
    if (now - oldest > options_.stall_after) {
      return absl::UnavailableError(absl::StrCat(
          "event store writer stalled: no commit for ",
          absl::FormatDuration(absl::Trunc(now - oldest, absl::Seconds(1))), " with work waiting"));
    }
    if (last_write_status_.ok()) return absl::OkStatus();
    if (now - last_probe_ < options_.probe_interval) return last_write_status_;
    last_probe_ = now;
  }
  WriterTask task;
  task.step = [this](absl::Status* status) {
    *status = ProbeWrite();
    return true;
  };
  return RunOnWriter(task);
}

void SqliteEventStore::Close() {
  absl::MutexLock close_lock(&close_mu_);
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    writer_cv_.SignalAll();
  }
  // The writer commits everything queued before it exits.
  if (writer_thread_.joinable()) writer_thread_.join();
  {
    absl::MutexLock lock(&mu_);
    checkpointer_stop_ = true;
    checkpoint_cv_.SignalAll();
  }
  if (checkpointer_thread_.joinable()) checkpointer_thread_.join();
  if (checkpoint_db_ != nullptr) {
    sqlite3_close(checkpoint_db_);
    checkpoint_db_ = nullptr;
  }
  {
    absl::MutexLock lock(&pool_mu_);
    pool_closed_ = true;
    pool_mu_.Await(absl::Condition(
        +[](SqliteEventStore* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return self->free_readers_.size() == self->readers_.size();
        },
        this));
    free_readers_.clear();
    readers_.clear();
  }
  if (db_ != nullptr) {
    for (sqlite3_stmt** stmt :
         {&begin_stmt_, &commit_stmt_, &rollback_stmt_, &insert_stmt_, &delete_chunk_stmt_,
          &probe_insert_stmt_, &probe_delete_stmt_, &put_subscription_stmt_,
          &delete_subscription_stmt_, &delete_subscription_retries_stmt_,
          &delete_subscription_dead_letters_stmt_, &advance_cursor_stmt_, &put_retry_stmt_,
          &delete_retry_stmt_, &put_dead_letter_stmt_, &delete_dead_letter_stmt_}) {
      sqlite3_finalize(*stmt);
      *stmt = nullptr;
    }
    // The last connection to close checkpoints and removes the WAL file.
    int rc = sqlite3_close(db_);
    if (rc != SQLITE_OK) {
      SB_LOG(ERROR) << "event_store_close_failed rc=" << rc;
    }
    db_ = nullptr;
    SB_LOG(INFO) << "event_store_closed path=" << options_.path;
  }
}

SqliteEventStore::WriterStats SqliteEventStore::GetWriterStats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

// ---------------------------------------------------------------------------------------------
// Reads

absl::StatusOr<SqliteEventStore::ReadLease> SqliteEventStore::AcquireReader() {
  absl::MutexLock lock(&pool_mu_);
  pool_mu_.Await(absl::Condition(
      +[](SqliteEventStore* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return self->pool_closed_ || !self->free_readers_.empty();
      },
      this));
  if (pool_closed_) return absl::UnavailableError("event store is closed");
  ReadConnection* connection = free_readers_.back();
  free_readers_.pop_back();
  return ReadLease(this, connection);
}

void SqliteEventStore::ReleaseReader(ReadConnection* connection) {
  absl::MutexLock lock(&pool_mu_);
  free_readers_.push_back(connection);
}

absl::StatusOr<EventRecord> SqliteEventStore::Get(absl::string_view id) {
  ASSIGN_OR_RETURN(ReadLease reader, AcquireReader());
  sqlite3_stmt* s = reader->get_stmt;
  ResetOnExit reset(s);
  BindText(s, 1, id);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return absl::NotFoundError(absl::StrCat("no event ", id));
  if (rc != SQLITE_ROW) return SqliteStatus(rc, reader->db, "get event");
  return ReadRecord(s, /*with_raw_json=*/true);
}

absl::StatusOr<std::vector<EventRecord>> SqliteEventStore::List(const EventQuery& query) {
  if (query.limit < 1 || query.limit > kMaxQueryLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit must be in 1..", kMaxQueryLimit, ", got ", query.limit));
  }
  RETURN_IF_ERROR(CheckTypePatterns(query.types));
  std::vector<EventRecord> out;
  if (query.created_after >= query.created_before ||
      query.created_after == absl::InfiniteFuture() ||
      query.created_before == absl::InfinitePast()) {
    return out;
  }
  EventFilter filter = BuildEventFilter(query);
  std::string sql = absl::StrCat("SELECT ", query.omit_raw_json ? kColumnsWithoutRaw : kColumns,
                                 " FROM events WHERE ", filter.sql, " ORDER BY seq LIMIT ?");

  ASSIGN_OR_RETURN(ReadLease reader, AcquireReader());
  ASSIGN_OR_RETURN(sqlite3_stmt * s, reader->Cached(sql));
  ResetOnExit reset(s);
  int index = BindEventFilter(s, filter);
  sqlite3_bind_int(s, index, query.limit);

  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    out.push_back(ReadRecord(s, !query.omit_raw_json));
  }
  if (rc != SQLITE_DONE) return SqliteStatus(rc, reader->db, "list events");
  return out;
}

absl::StatusOr<StoreStats> SqliteEventStore::Stats() {
  ASSIGN_OR_RETURN(ReadLease reader, AcquireReader());
  sqlite3_stmt* s = reader->stats_stmt;
  ResetOnExit reset(s);
  int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) return SqliteStatus(rc, reader->db, "stats");
  StoreStats stats;
  stats.events = sqlite3_column_int64(s, 0);
  if (sqlite3_column_type(s, 1) != SQLITE_NULL) {
    stats.oldest_received_at = absl::FromUnixMicros(sqlite3_column_int64(s, 1));
  }
  if (sqlite3_column_type(s, 2) != SQLITE_NULL) {
    stats.newest_received_at = absl::FromUnixMicros(sqlite3_column_int64(s, 2));
  }
  return stats;
}

// ---------------------------------------------------------------------------------------------
// Delivery state

absl::Status SqliteEventStore::PutSubscription(const SubscriptionRecord& record) {
  if (record.name.empty()) return absl::InvalidArgumentError("subscription name is empty");
  RETURN_IF_ERROR(CheckRowSize(record.name.size() + record.spec.size(),
                               absl::StrCat("subscription ", record.name)));
  PendingWrite write;
  write.apply = [this, &record](absl::Status*) { return ApplyPutSubscription(record); };
  return QueueWrite(write);
}

absl::Status SqliteEventStore::DeleteSubscription(absl::string_view name) {
  PendingWrite write;
  write.apply = [this, name](absl::Status* result) {
    return ApplyDeleteSubscription(name, result);
  };
  return QueueWrite(write);
}

absl::Status SqliteEventStore::CommitProgress(const ProgressBatch& batch) {
  if (batch.empty()) {
    absl::MutexLock lock(&mu_);
    if (closed_) return absl::UnavailableError("event store is closed");
    return absl::OkStatus();
  }
  // Checked up front: a row SQLite refuses would fail the appends sharing the transaction too.
  for (const auto& [name, cursor] : batch.cursors) {
    RETURN_IF_ERROR(CheckRowSize(name.size(), "subscription name"));
  }
  for (const RetryRecord& r : batch.retries_to_put) {
    RETURN_IF_ERROR(CheckRowSize(r.subscription.size() + r.event_id.size() + r.last_error.size(),
                                 absl::StrCat("retry of ", r.event_id)));
  }
  for (const DeadLetterRecord& r : batch.dead_letters_to_put) {
    RETURN_IF_ERROR(CheckRowSize(
        r.subscription.size() + r.event_id.size() + r.event_type.size() + r.last_error.size(),
        absl::StrCat("dead letter of ", r.event_id)));
  }
  PendingWrite write;
  write.apply = [this, &batch](absl::Status*) { return ApplyProgress(batch); };
  return QueueWrite(write);
}

absl::StatusOr<std::vector<SubscriptionRecord>> SqliteEventStore::ListSubscriptions() {
  ASSIGN_OR_RETURN(ReadLease reader, AcquireReader());
  sqlite3_stmt* s = reader->list_subscriptions_stmt;
  ResetOnExit reset(s);
  std::vector<SubscriptionRecord> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    SubscriptionRecord& r = out.emplace_back();
    r.name = ColumnBytes(s, 0);
    r.spec = ColumnBytes(s, 1);
    r.cursor = sqlite3_column_int64(s, 2);
    r.created_at = absl::FromUnixMicros(sqlite3_column_int64(s, 3));
  }
  if (rc != SQLITE_DONE) return SqliteStatus(rc, reader->db, "list subscriptions");
  return out;
}

absl::StatusOr<std::vector<RetryRecord>> SqliteEventStore::ListRetries(
    absl::string_view subscription, absl::Time due_before, int limit) {
  if (limit < 1) return absl::InvalidArgumentError(absl::StrCat("limit must be >= 1: ", limit));
  ASSIGN_OR_RETURN(ReadLease reader, AcquireReader());
  sqlite3_stmt* s = reader->list_retries_stmt;
  ResetOnExit reset(s);
  BindText(s, 1, subscription);
  BindUpperBound(s, 2, due_before);
  sqlite3_bind_int(s, 3, limit);
  return StepRetries(reader->db, s, "list retries");
}

absl::StatusOr<std::vector<RetryRecord>> SqliteEventStore::ListRetriesAfter(
    absl::string_view subscription, int64_t after_sequence, int limit) {
  if (limit < 1) return absl::InvalidArgumentError(absl::StrCat("limit must be >= 1: ", limit));
  ASSIGN_OR_RETURN(ReadLease reader, AcquireReader());
  sqlite3_stmt* s = reader->list_retries_after_stmt;
  ResetOnExit reset(s);
  BindText(s, 1, subscription);
  sqlite3_bind_int64(s, 2, after_sequence);
  sqlite3_bind_int(s, 3, limit);
  return StepRetries(reader->db, s, "list retries after");
}

absl::StatusOr<std::vector<DeadLetterRecord>> SqliteEventStore::ListDeadLetters(
    absl::string_view subscription, int64_t after_sequence, int limit) {
  if (limit < 1) return absl::InvalidArgumentError(absl::StrCat("limit must be >= 1: ", limit));
  ASSIGN_OR_RETURN(ReadLease reader, AcquireReader());
  sqlite3_stmt* s = reader->list_dead_letters_stmt;
  ResetOnExit reset(s);
  BindText(s, 1, subscription);
  sqlite3_bind_int64(s, 2, after_sequence);
  sqlite3_bind_int(s, 3, limit);
  std::vector<DeadLetterRecord> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    DeadLetterRecord& r = out.emplace_back();
    r.subscription = ColumnBytes(s, 0);
    r.sequence = sqlite3_column_int64(s, 1);
    r.event_id = ColumnBytes(s, 2);
    r.event_type = ColumnBytes(s, 3);
    r.attempts = sqlite3_column_int(s, 4);
    r.last_error = ColumnBytes(s, 5);
    r.dead_at = absl::FromUnixMicros(sqlite3_column_int64(s, 6));
  }
  if (rc != SQLITE_DONE) return SqliteStatus(rc, reader->db, "list dead letters");
  return out;
}

absl::StatusOr<int64_t> SqliteEventStore::LastSequence() {
  ASSIGN_OR_RETURN(ReadLease reader, AcquireReader());
  sqlite3_stmt* s = reader->last_sequence_stmt;
  ResetOnExit reset(s);
  int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) return SqliteStatus(rc, reader->db, "last sequence");
  return sqlite3_column_int64(s, 0);
}

absl::StatusOr<int64_t> SqliteEventStore::LastSequenceReceivedBefore(absl::Time t) {
  ASSIGN_OR_RETURN(ReadLease reader, AcquireReader());
  sqlite3_stmt* s = reader->last_sequence_received_before_stmt;
  ResetOnExit reset(s);
  BindUpperBound(s, 1, t);
  int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) return SqliteStatus(rc, reader->db, "last sequence received before");
  return sqlite3_column_int64(s, 0);
}

absl::StatusOr<int64_t> SqliteEventStore::CountAfter(const std::vector<std::string>& types,
                                                     int64_t cursor, int64_t cap) {
  return CountBetween(types, cursor, std::numeric_limits<int64_t>::max(), cap);
}

absl::StatusOr<int64_t> SqliteEventStore::CountBetween(const std::vector<std::string>& types,
                                                       int64_t after_sequence,
                                                       int64_t up_to_sequence, int64_t limit) {
  if (limit < 0) return absl::InvalidArgumentError(absl::StrCat("limit must be >= 0: ", limit));
  RETURN_IF_ERROR(CheckTypePatterns(types));
  EventQuery query;
  query.types = types;
  query.after_sequence = after_sequence;
  EventFilter filter = BuildEventFilter(query, up_to_sequence);
  // List's filter without its ORDER BY seq: type patterns then count entries of the covering
  // (type, seq) index (one range per pattern: an exact type's bounded by the sequences too, a
  // `prefix.*` one by type only, its entries filtered by seq; SQLite's OR optimisation keeps each
  // row once) instead of walking the table's rows, one ~4 KB page per event, in seq order. Measured
  // on 200k stored 3 KB events, `payment_intent.*`: 0.25 s -> 0.008 s. `*` still walks the rows of
  // the range (the dispatcher's own backlog figure for `*` is a sequence difference).
  std::string sql =
      absl::StrCat("SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE ", filter.sql, " LIMIT ?)");
  ASSIGN_OR_RETURN(ReadLease reader, AcquireReader());
  ASSIGN_OR_RETURN(sqlite3_stmt * s, reader->Cached(sql));
  ResetOnExit reset(s);
  int index = BindEventFilter(s, filter);
  sqlite3_bind_int64(s, index, limit);
  int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) return SqliteStatus(rc, reader->db, "count events");
  return sqlite3_column_int64(s, 0);
}

// ---------------------------------------------------------------------------------------------
// Testing hooks

absl::StatusOr<int> SqliteEventStore::SynchronousForTesting() {
  int64_t value = -1;
  WriterTask task;
  task.step = [this, &value](absl::Status* status) {
    absl::StatusOr<int64_t> result = PragmaInt(db_, "PRAGMA synchronous");
    if (result.ok()) {
      value = *result;
    } else {
      *status = result.status();
    }
    return true;
  };
  RETURN_IF_ERROR(RunOnWriter(task));
  return static_cast<int>(value);
}

absl::Status SqliteEventStore::SetMaxSizeBytesForTesting(int64_t max_size_bytes) {
  if (max_size_bytes < 0) return absl::InvalidArgumentError("max_size_bytes < 0");
  WriterTask task;
  task.step = [this, max_size_bytes](absl::Status* status) {
    *status = SetMaxPageCount(max_size_bytes);
    return true;
  };
  return RunOnWriter(task);
}

absl::StatusOr<std::unique_ptr<SqliteEventStore::WriterPause>>
SqliteEventStore::PauseWriterForTesting() {
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::UnavailableError("event store is closed");
  pause_requested_ = true;
  writer_cv_.Signal();
  mu_.Await(absl::Condition(&writer_paused_));
  return absl::WrapUnique(new WriterPause(this));
}

void SqliteEventStore::WriterPause::Resume() {
  if (store_ == nullptr) return;
  absl::MutexLock lock(&store_->mu_);
  store_->pause_requested_ = false;
  store_ = nullptr;
}

void SqliteEventStore::AwaitWriterBusyForTesting() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](SqliteEventStore* s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return s->busy_since_ != absl::InfiniteFuture() && s->queue_.empty() && s->writes_.empty();
      },
      this));
}

void SqliteEventStore::AwaitQueuedForTesting(int n) {
  std::pair<SqliteEventStore*, size_t> arg(this, static_cast<size_t>(std::max(n, 0)));
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](std::pair<SqliteEventStore*, size_t>* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return a->first->queue_.size() + a->first->writes_.size() >= a->second;
      },
      &arg));
}

}  // namespace switchboard::server::store
