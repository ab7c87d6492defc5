// ProgressBuffer: delivery progress not yet committed to the DeliveryStore — cursor moves,
// retries parked or finished, dead letters added or redriven — keyed so that the latest change
// to a (subscription, sequence) wins. The Dispatcher fills one and commits it in batches
// (DeliveryStore::CommitProgress every progress_flush_ms); the buffer also answers "what will the
// store hold once this is committed" for a subscription's retries (ApplyRetries), so reads of the
// store can be corrected for changes still in memory.
//
// Example:
//   ProgressBuffer pending;
//   pending.PutRetry(retry);
//   pending.SetCursor("billing", 1042);
//   RETURN_IF_ERROR(store->CommitProgress(pending.ToBatch()));
//
// Thread-safety: thread-compatible (the Dispatcher guards its buffers with its mutex).
#ifndef SWITCHBOARD_SERVER_DISPATCH_PROGRESS_BUFFER_H_
#define SWITCHBOARD_SERVER_DISPATCH_PROGRESS_BUFFER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/store/delivery_store.h"

namespace switchboard::server::dispatch {

class ProgressBuffer {
 public:
  // Raises the cursor of `subscription` to `cursor` (a lower value than buffered is ignored).
  void SetCursor(const std::string& subscription, int64_t cursor);
  void PutRetry(const store::RetryRecord& retry);
  void DeleteRetry(const std::string& subscription, int64_t sequence);
  void PutDeadLetter(const store::DeadLetterRecord& dead_letter);
  void DeleteDeadLetter(const std::string& subscription, int64_t sequence);
  // Drops every change of `subscription` (it was deleted).
  void Forget(absl::string_view subscription);

  // Adds the changes of `older` that this buffer does not supersede (used to put back a batch
  // whose commit failed underneath the changes made since).
  void MergeOlder(ProgressBuffer older);

  bool empty() const;
  // Changes held (for bounding and logs).
  size_t size() const;
  store::ProgressBatch ToBatch() const;
  const std::map<std::string, int64_t>& cursors() const { return cursors_; }

  // Applies this buffer's retry changes of `subscription` to `retries` (records as listed from
  // the store): deleted ones are removed, put ones replace or join. The result is sorted by
  // (next_at, sequence) like DeliveryStore::ListRetries.
  void ApplyRetries(absl::string_view subscription, std::vector<store::RetryRecord>* retries) const;
  // How many retries of `subscription` this buffer deletes.
  int CountRetryDeletes(absl::string_view subscription) const;

 private:
  using Key = std::pair<std::string, int64_t>;
  std::map<std::string, int64_t> cursors_;
  std::map<Key, std::optional<store::RetryRecord>> retries_;
  std::map<Key, std::optional<store::DeadLetterRecord>> dead_letters_;
};

}  // namespace switchboard::server::dispatch

#endif  // SWITCHBOARD_SERVER_DISPATCH_PROGRESS_BUFFER_H_
