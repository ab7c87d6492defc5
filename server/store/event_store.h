// EventStore: the durable log of accepted webhook events.
//
// The ingress appends each verified event and answers 200 only once Append has returned kStored
// or kDuplicate: by then the event is on disk (fsynced) or was already there. Readers (the Gateway
// API, later the dispatcher) list and fetch by id or position.
//
// Each event is stored once, as its raw JSON plus the indexed envelope columns below; protobuf
// forms are derived from the raw JSON by the caller (server/convert). Implementations:
//   SqliteEventStore  (sqlite_event_store.h)  the embedded default, group commit in WAL mode
//   MemoryEventStore  (memory_event_store.h)  a testonly fake with the same observable behaviour
// Both pass the conformance suite in event_store_conformance.h.
//
// Nothing here assumes SQLite: `sequence` is only an ordering key for paging and is assigned
// when the event becomes durable. Sequences are never reused, even after the events holding them
// were deleted or the store was reopened.
//
// Times (`created`, `received_at`) are kept with microsecond precision: sub-microsecond parts are
// dropped (rounded down) on Append, by every implementation alike.
//
// Example:
//   ASSIGN_OR_RETURN(std::unique_ptr<EventStore> store, SqliteEventStore::Open(options));
//   ASSIGN_OR_RETURN(AppendResult r, store->Append(record));   // blocks until durable
//
// Thread-safety: every method may be called from any thread concurrently.
#ifndef SWITCHBOARD_SERVER_STORE_EVENT_STORE_H_
#define SWITCHBOARD_SERVER_STORE_EVENT_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard::server::store {

// One event as stored.
struct EventRecord {
  // Assigned by the store (ascending in append order); ignored by Append.
  int64_t sequence = 0;
  std::string id;         // evt_..., unique
  std::string type;       // payment_intent.succeeded
  std::string object_id;  // data.object.id, or related_object.id for thin events; may be empty
  absl::Time created;     // Stripe's `created`
  absl::Time received_at;
  std::string endpoint;  // ingress path
  bool livemode = false;
  std::string account;   // Connect account, may be empty
  std::string raw_json;  // the body exactly as received
};

enum class AppendResult {
  kStored,     // durable now
  kDuplicate,  // an event with this id was already stored; nothing written
};

// Most type patterns one EventQuery may carry.
inline constexpr int kMaxQueryTypes = 100;
// Largest EventQuery::limit.
inline constexpr int kMaxQueryLimit = 10000;

// A filter over the log for List.
struct EventQuery {
  // Exact types, `prefix.*` patterns or `*` (see TypeMatches); an event matches when any pattern
  // does. Empty matches every type. At most kMaxQueryTypes.
  std::vector<std::string> types;
  // Half-open range on `created`: [created_after, created_before). InfinitePast/Future = open.
  absl::Time created_after = absl::InfinitePast();
  absl::Time created_before = absl::InfiniteFuture();
  // Only events with sequence > after_sequence (the paging cursor).
  int64_t after_sequence = 0;
  // At most this many results (1..kMaxQueryLimit, else List fails kInvalidArgument).
  int limit = 100;
  // Leave raw_json empty in results.
  bool omit_raw_json = false;
};

struct StoreStats {
  int64_t events = 0;  // how many are stored now
  // received_at of the oldest / newest stored event; unset when the store is empty.
  std::optional<absl::Time> oldest_received_at;
  std::optional<absl::Time> newest_received_at;
};

class EventStore {
 public:
  virtual ~EventStore() = default;

  // Stores `record` durably, or recognises its id as already stored. Blocks until the batch
  // holding it has been committed (fsynced) or has failed. A duplicate of an event whose batch is
  // still being committed waits for that batch: kDuplicate if it committed; if that batch failed,
  // the duplicate is stored on its own (kStored) or fails likewise.
  // Errors: kResourceExhausted (disk or database full), kUnavailable (store closed or I/O error),
  // kInvalidArgument (empty id, or a record too large to store), kDataLoss (the database is
  // corrupt). On error nothing of `record` is stored. `record.sequence` is ignored.
  virtual absl::StatusOr<AppendResult> Append(const EventRecord& record) = 0;

  // The stored event with this id. Errors: kNotFound if none; kUnavailable after Close or on an
  // I/O error.
  virtual absl::StatusOr<EventRecord> Get(absl::string_view id) = 0;

  // Stored events matching `query`, in ascending sequence, at most query.limit. Only committed
  // events are visible. Errors: kInvalidArgument (limit outside 1..10000, or more than
  // kMaxQueryTypes patterns); kUnavailable after Close or on an I/O error.
  virtual absl::StatusOr<std::vector<EventRecord>> List(const EventQuery& query) = 0;

  // Counts and the received_at range of the stored events. kUnavailable after Close.
  virtual absl::StatusOr<StoreStats> Stats() = 0;

  // Retention: removes events received before `cutoff` (strictly). Returns how many were
  // removed. Implementations delete in bounded chunks so appends keep flowing meanwhile; on error
  // the chunks already removed stay removed. Errors: kUnavailable (closed, I/O error),
  // kResourceExhausted.
  virtual absl::StatusOr<int64_t> DeleteReceivedBefore(absl::Time cutoff) = 0;

  // OK when the store can take writes now (for /readyz); kUnavailable (closed, I/O errors) /
  // kResourceExhausted (full) else.
  virtual absl::Status CheckWritable() = 0;

  // Commits what is queued, stops accepting appends (later ones fail kUnavailable; so do reads)
  // and releases files. Idempotent; also done by the destructor.
  virtual void Close() = 0;
};

// True when `type` matches `pattern`: exact, `prefix.*` (any type starting with `prefix.`), or
// `*`. Shared by every implementation and by the dispatcher so they agree.
bool TypeMatches(absl::string_view pattern, absl::string_view type);

}  // namespace switchboard::server::store

#endif  // SWITCHBOARD_SERVER_STORE_EVENT_STORE_H_
