#include "server/store/memory_event_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace switchboard::server::store {
namespace {

// Same precision as SqliteEventStore, which stores unix microseconds.
absl::Time ToMicros(absl::Time t) { return absl::FromUnixMicros(absl::ToUnixMicros(t)); }

absl::Status Closed() { return absl::UnavailableError("event store is closed"); }

}  // namespace

absl::StatusOr<AppendResult> MemoryEventStore::Append(const EventRecord& record) {
  if (record.id.empty()) return absl::InvalidArgumentError("event id is empty");
  absl::MutexLock lock(&mu_);
  if (closed_) return Closed();
  if (!fail_appends_.ok()) return fail_appends_;
  ++successful_appends_;
  if (sequence_by_id_.contains(record.id)) return AppendResult::kDuplicate;
  EventRecord stored = record;
  stored.sequence = ++last_sequence_;
  stored.created = ToMicros(record.created);
  stored.received_at = ToMicros(record.received_at);
  sequence_by_id_.emplace(stored.id, stored.sequence);
  by_sequence_.emplace(stored.sequence, std::move(stored));
  return AppendResult::kStored;
}

absl::StatusOr<EventRecord> MemoryEventStore::Get(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  if (closed_) return Closed();
  auto it = sequence_by_id_.find(id);
  if (it == sequence_by_id_.end()) return absl::NotFoundError(absl::StrCat("no event ", id));
  return by_sequence_.at(it->second);
}

absl::StatusOr<std::vector<EventRecord>> MemoryEventStore::List(const EventQuery& query) {
  if (query.limit < 1 || query.limit > kMaxQueryLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit must be in 1..", kMaxQueryLimit, ", got ", query.limit));
  }
  if (query.types.size() > static_cast<size_t>(kMaxQueryTypes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxQueryTypes, " type patterns, got ", query.types.size()));
  }
  absl::MutexLock lock(&mu_);
  if (closed_) return Closed();
  std::vector<EventRecord> out;
  for (auto it = by_sequence_.upper_bound(query.after_sequence);
       it != by_sequence_.end() && out.size() < static_cast<size_t>(query.limit); ++it) {
    const EventRecord& record = it->second;
    if (record.created < query.created_after || record.created >= query.created_before) continue;
    if (!query.types.empty() &&
        std::none_of(query.types.begin(), query.types.end(), [&](const std::string& pattern) {
          return TypeMatches(pattern, record.type);
        })) {
      continue;
    }
    out.push_back(record);
    if (query.omit_raw_json) out.back().raw_json.clear();
  }
  return out;
}

absl::StatusOr<StoreStats> MemoryEventStore::Stats() {
  absl::MutexLock lock(&mu_);
  if (closed_) return Closed();
  StoreStats stats;
  stats.events = static_cast<int64_t>(by_sequence_.size());
  for (const auto& [sequence, record] : by_sequence_) {
    if (!stats.oldest_received_at || record.received_at < *stats.oldest_received_at) {
      stats.oldest_received_at = record.received_at;
    }
    if (!stats.newest_received_at || record.received_at > *stats.newest_received_at) {
      stats.newest_received_at = record.received_at;
    }
  }
  return stats;
}

absl::StatusOr<int64_t> MemoryEventStore::DeleteReceivedBefore(absl::Time cutoff) {
  absl::MutexLock lock(&mu_);
  if (closed_) return Closed();
  int64_t deleted = 0;
  for (auto it = by_sequence_.begin(); it != by_sequence_.end();) {
    if (it->second.received_at < cutoff) {
      sequence_by_id_.erase(it->second.id);
      it = by_sequence_.erase(it);
      ++deleted;
    } else {
      ++it;
    }
  }
  return deleted;
}

absl::Status MemoryEventStore::CheckWritable() {
  absl::MutexLock lock(&mu_);
  if (closed_) return Closed();
  return fail_appends_;
}

void MemoryEventStore::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

void MemoryEventStore::SetFailAppends(absl::Status status) {
  absl::MutexLock lock(&mu_);
  fail_appends_ = std::move(status);
}

int64_t MemoryEventStore::SuccessfulAppends() const {
  absl::MutexLock lock(&mu_);
  return successful_appends_;
}

}  // namespace switchboard::server::store
