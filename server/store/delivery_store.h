// DeliveryStore: the durable state of event delivery — subscriptions, each subscription's
// progress through the event log, scheduled retries and dead letters.
//
// The dispatcher (server/dispatch) is its only writer. It keeps the hot state in memory and
// persists progress in batches (CommitProgress), through the same single writer as event
// appends, so one fsync covers many acks: after a crash, at most the deliveries acked since the
// last committed batch (plus those in flight) are delivered again; nothing is lost.
//
// Progress model (chosen so that a later PostgreSQL implementation can keep it, see DESIGN §5):
//   - `cursor`: every event with sequence <= cursor is finished for the subscription
//     (acknowledged, dead-lettered, or parked in `retries`). The dispatcher only advances it to
//     the highest sequence below which everything is finished (a low watermark), never past an
//     event still in flight.
//   - An event that needs a retry is parked as a RetryRecord, which lets the cursor move past it;
//     the retry is durable and is delivered again when due, even after a restart.
//   - An event that is rejected or exhausts its retry policy becomes a DeadLetterRecord.
// Events are read with EventStore::List (sequence > cursor, the subscription's type filters).
//
// Times are kept with microsecond precision (sub-microsecond parts are dropped, rounded down),
// as in EventStore. Every method fails kUnavailable after the store was closed or on an I/O error.
//
// Implemented by SqliteEventStore (same database and writer thread as the events) and
// MemoryEventStore (testonly), both run through delivery_store_conformance.
//
// Example:
//   DeliveryStore* store = sqlite_store.get();
//   ASSIGN_OR_RETURN(auto subs, store->ListSubscriptions());
//   ProgressBatch batch;
//   batch.cursors["billing"] = 1042;
//   batch.retries_to_put.push_back({"billing", 1037, "evt_1", 2, next_at, "RETRY: db busy"});
//   RETURN_IF_ERROR(store->CommitProgress(batch));
//
// Thread-safety: every method may be called from any thread.
#ifndef SWITCHBOARD_SERVER_STORE_DELIVERY_STORE_H_
#define SWITCHBOARD_SERVER_STORE_DELIVERY_STORE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard::server::store {

struct SubscriptionRecord {
  std::string name;
  // A serialized switchboard.v1.Subscription (spec and members); opaque to the store.
  std::string spec;
  // Every event with sequence <= cursor is finished for this subscription.
  int64_t cursor = 0;
  absl::Time created_at;
};

struct RetryRecord {
  std::string subscription;
  int64_t sequence = 0;
  std::string event_id;
  // Attempts that reached a handler so far.
  int32_t attempts = 0;
  absl::Time next_at;
  std::string last_error;
  // When the first attempt was made (for the policy's max_age).
  absl::Time first_attempt_at;
};

struct DeadLetterRecord {
  std::string subscription;
  int64_t sequence = 0;
  std::string event_id;
  std::string event_type;
  int32_t attempts = 0;
  std::string last_error;
  absl::Time dead_at;
};

// One batch of progress, committed in one transaction. Its parts are applied in the order of the
// fields below, so a (subscription, sequence) pair both put and deleted in one batch ends up
// deleted.
struct ProgressBatch {
  // New cursors (only ever increase; a lower value than stored is ignored).
  std::map<std::string, int64_t> cursors;
  // Upserted by (subscription, sequence).
  std::vector<RetryRecord> retries_to_put;
  // (subscription, sequence) pairs whose retry finished (acked, rescheduled elsewhere, dead).
  std::vector<std::pair<std::string, int64_t>> retries_to_delete;
  // Upserted by (subscription, sequence).
  std::vector<DeadLetterRecord> dead_letters_to_put;
  // Removed (redriven).
  std::vector<std::pair<std::string, int64_t>> dead_letters_to_delete;

  bool empty() const {
    return cursors.empty() && retries_to_put.empty() && retries_to_delete.empty() &&
           dead_letters_to_put.empty() && dead_letters_to_delete.empty();
  }
};

class DeliveryStore {
 public:
  virtual ~DeliveryStore() = default;

  // Creates or replaces the subscription named record.name (spec and created_at are replaced;
  // the cursor is set only on creation: an existing subscription keeps its cursor). Durable on
  // return. kInvalidArgument for an empty name (or a record too large to store);
  // kResourceExhausted / kUnavailable as for Append.
  virtual absl::Status PutSubscription(const SubscriptionRecord& record) = 0;

  // Removes the subscription with its retries and dead letters, in one transaction; durable on
  // return. kNotFound if absent; kResourceExhausted / kUnavailable as for Append.
  virtual absl::Status DeleteSubscription(absl::string_view name) = 0;

  // Every subscription, by name.
  virtual absl::StatusOr<std::vector<SubscriptionRecord>> ListSubscriptions() = 0;

  // Applies `batch` atomically and durably (one transaction). Entries naming a subscription
  // that no longer exists are ignored. kResourceExhausted / kUnavailable as for Append (nothing of
  // the batch is applied then); kInvalidArgument when a string is too large to store.
  virtual absl::Status CommitProgress(const ProgressBatch& batch) = 0;

  // Retries of `subscription` with next_at < due_before (strictly), earliest next_at first (ties
  // by sequence), at most `limit`; due_before = InfiniteFuture lists them regardless of next_at.
  // kInvalidArgument when limit < 1.
  virtual absl::StatusOr<std::vector<RetryRecord>> ListRetries(absl::string_view subscription,
                                                               absl::Time due_before,
                                                               int limit) = 0;

  // Retries of `subscription` with sequence > after_sequence, ascending by sequence, at most
  // `limit` (pages through them as ListDeadLetters does; the dispatcher finds those above a
  // cursor). kInvalidArgument when limit < 1.
  virtual absl::StatusOr<std::vector<RetryRecord>> ListRetriesAfter(absl::string_view subscription,
                                                                    int64_t after_sequence,
                                                                    int limit) = 0;

  // Dead letters of `subscription` with sequence > after_sequence, ascending, at most `limit`.
  // kInvalidArgument when limit < 1.
  virtual absl::StatusOr<std::vector<DeadLetterRecord>> ListDeadLetters(
      absl::string_view subscription, int64_t after_sequence, int limit) = 0;

  // The highest sequence handed out so far (0 when none): the "now" start position. No stored
  // event has a greater sequence, every event appended later gets a greater one, and it never
  // decreases, even when retention removed the newest events. Sequences may have gaps (SQLite
  // uses one up on a duplicate append), so it need not be the sequence of any event.
  virtual absl::StatusOr<int64_t> LastSequence() = 0;

  // The highest sequence of a stored event received before `t` (strictly; 0 when none): the
  // "time" start position is this value.
  virtual absl::StatusOr<int64_t> LastSequenceReceivedBefore(absl::Time t) = 0;

  // Matching events with sequence > cursor (the backlog), counted up to `cap` (returns cap when
  // there are more). `types` as EventQuery::types. kInvalidArgument when cap < 0 or with more
  // than kMaxQueryTypes patterns.
  virtual absl::StatusOr<int64_t> CountAfter(const std::vector<std::string>& types, int64_t cursor,
                                             int64_t cap) = 0;

  // Stored events matching `types` with after_sequence < sequence <= up_to_sequence, counted up
  // to `limit` (returns limit when there are more; 0 for an empty range). `types` as
  // EventQuery::types. kInvalidArgument when limit < 0 or with more than kMaxQueryTypes
  // patterns.
  virtual absl::StatusOr<int64_t> CountBetween(const std::vector<std::string>& types,
                                               int64_t after_sequence, int64_t up_to_sequence,
                                               int64_t limit) = 0;
};

}  // namespace switchboard::server::store

#endif  // SWITCHBOARD_SERVER_STORE_DELIVERY_STORE_H_
