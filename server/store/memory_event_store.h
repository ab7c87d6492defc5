// MemoryEventStore: an in-memory EventStore for tests of the store's callers.
//
// Same observable behaviour as SqliteEventStore (it passes the same conformance suite): dedupe
// by id, ascending never-reused sequences, the same List filters and errors, microsecond times,
// kUnavailable after Close. Appends are "durable" as soon as they return. Nothing is persisted.
// SetFailAppends lets a test make the store fail like a full or broken disk.
//
// Example:
//   MemoryEventStore store;
//   store.SetFailAppends(absl::ResourceExhaustedError("disk full"));
//   EXPECT_EQ(handler.Handle(request).status, 503);
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
#include "server/store/event_store.h"

namespace switchboard::server::store {

class MemoryEventStore final : public EventStore {
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

  // While `status` is not OK, Append (after its argument checks) and CheckWritable return it and
  // store nothing. absl::OkStatus() makes the store healthy again.
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
};

}  // namespace switchboard::server::store

#endif  // SWITCHBOARD_SERVER_STORE_MEMORY_EVENT_STORE_H_
