// MemoryEventStore: an in-memory EventStore and DeliveryStore for tests of the store's callers.
//
// Same observable behaviour as SqliteEventStore (it passes the same conformance suites): dedupe
// by id, ascending never-reused sequences, the same List filters and errors, microsecond times,
// kUnavailable after Close; subscriptions with monotonic cursors, retries and dead letters with
// the same ordering, filters and argument errors, CommitProgress applied all-or-nothing. Writes
// are "durable" as soon as they return. Nothing is persisted. SetFailAppends lets a test make
// every write fail like a full or broken disk.
//
// Example:
//   MemoryEventStore store;
//   store.SetFailAppends(absl::ResourceExhaustedError("disk full"));
//   EXPECT_EQ(handler.Handle(request).status, 503);
//   EXPECT_THAT(store.CommitProgress(batch), StatusIs(absl::StatusCode::kResourceExhausted));
//
// Thread-safety: every method may be called from any thread concurrently.
#ifndef SWITCHBOARD_SERVER_STORE_MEMORY_EVENT_STORE_H_
#define SWITCHBOARD_SERVER_STORE_MEMORY_EVENT_STORE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/store/delivery_store.h"
#include "server/store/event_store.h"

namespace switchboard::server::store {

class MemoryEventStore final : public EventStore, public DeliveryStore {
 public:
  MemoryEventStore() = default;
  MemoryEventStore(const MemoryEventStore&) = delete;
  MemoryEventStore& operator=(const MemoryEventStore&) = delete;
  ~MemoryEventStore() override = default;

  // EventStore; see event_store.h.
  absl::StatusOr<AppendResult> Append(const EventRecord& record) override;
  absl::StatusOr<EventRecord> Get(absl::string_view id) override;
  absl::StatusOr<std::vector<EventRecord>> List(const EventQuery& query) override;
  absl::StatusOr<StoreStats> Stats() override;
  absl::StatusOr<int64_t> DeleteReceivedBefore(absl::Time cutoff) override;
  absl::Status CheckWritable() override;
  void Close() override;

  // DeliveryStore; see delivery_store.h.
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

  // While `status` is not OK, every write (Append, PutSubscription, DeleteSubscription and a
  // non-empty CommitProgress, after their argument checks) and CheckWritable return it and change
  // nothing, as a full disk fails them all in SqliteEventStore. Reads keep working.
  // absl::OkStatus() makes the store healthy again.
  void SetFailAppends(absl::Status status);

  // How many Append calls returned kStored or kDuplicate (for callers' tests).
  int64_t SuccessfulAppends() const;

 private:
  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status fail_appends_ ABSL_GUARDED_BY(mu_);
  int64_t last_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t successful_appends_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, EventRecord> by_sequence_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> sequence_by_id_ ABSL_GUARDED_BY(mu_);

  struct Subscription {
    SubscriptionRecord record;
    std::map<int64_t, RetryRecord> retries;            // by sequence
    std::map<int64_t, DeadLetterRecord> dead_letters;  // by sequence
  };
  std::map<std::string, Subscription> subscriptions_ ABSL_GUARDED_BY(mu_);  // by name
};

}  // namespace switchboard::server::store

#endif  // SWITCHBOARD_SERVER_STORE_MEMORY_EVENT_STORE_H_
