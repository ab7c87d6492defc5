#include "server/store/memory_event_store.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace switchboard::server::store {
namespace {

// Same precision as SqliteEventStore, which stores unix microseconds.
absl::Time ToMicros(absl::Time t) { return absl::FromUnixMicros(absl::ToUnixMicros(t)); }

absl::Status Closed() { return absl::UnavailableError("event store is closed"); }

// Up to `limit` records after `after_sequence`, in sequence order.
template <typename Record>
std::vector<Record> PageAfter(const std::map<int64_t, Record>& by_sequence, int64_t after_sequence,
                              int limit) {
  std::vector<Record> out;
  for (auto r = by_sequence.upper_bound(after_sequence);
       r != by_sequence.end() && out.size() < static_cast<size_t>(limit); ++r) {
    out.push_back(r->second);
  }
  return out;
}

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

absl::Status MemoryEventStore::PutSubscription(const SubscriptionRecord& record) {
  if (record.name.empty()) return absl::InvalidArgumentError("subscription name is empty");
  absl::MutexLock lock(&mu_);
  if (closed_) return Closed();
  if (!fail_appends_.ok()) return fail_appends_;
  auto [it, created] = subscriptions_.try_emplace(record.name);
  SubscriptionRecord& stored = it->second.record;
  if (created) {
    stored.name = record.name;
    stored.cursor = record.cursor;
  }
  stored.spec = record.spec;
  stored.created_at = ToMicros(record.created_at);
  return absl::OkStatus();
}

absl::Status MemoryEventStore::DeleteSubscription(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  if (closed_) return Closed();
  if (!fail_appends_.ok()) return fail_appends_;
  if (subscriptions_.erase(std::string(name)) == 0) {
    return absl::NotFoundError(absl::StrCat("no subscription ", name));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SubscriptionRecord>> MemoryEventStore::ListSubscriptions() {
  absl::MutexLock lock(&mu_);
  if (closed_) return Closed();
  std::vector<SubscriptionRecord> out;
  for (const auto& [name, subscription] : subscriptions_) out.push_back(subscription.record);
  return out;
}

absl::Status MemoryEventStore::CommitProgress(const ProgressBatch& batch) {
  absl::MutexLock lock(&mu_);
  if (closed_) return Closed();
  if (batch.empty()) return absl::OkStatus();
  if (!fail_appends_.ok()) return fail_appends_;
  // Nothing below can fail, so applying in place is all-or-nothing. Same order as the SQLite
  // store's statements (and the contract): cursors, retries put, deleted, dead letters put,
  // deleted.
  auto find = [this](const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = subscriptions_.find(name);
    return it == subscriptions_.end() ? nullptr : &it->second;
  };
  for (const auto& [name, cursor] : batch.cursors) {
    if (Subscription* sub = find(name)) {
      sub->record.cursor = std::max(sub->record.cursor, cursor);
    }
  }
  for (const RetryRecord& retry : batch.retries_to_put) {
    if (Subscription* sub = find(retry.subscription)) {
      RetryRecord& stored = sub->retries[retry.sequence] = retry;
      stored.next_at = ToMicros(retry.next_at);
      stored.first_attempt_at = ToMicros(retry.first_attempt_at);
    }
  }
  for (const auto& [name, sequence] : batch.retries_to_delete) {
    if (Subscription* sub = find(name)) sub->retries.erase(sequence);
  }
  for (const DeadLetterRecord& dead : batch.dead_letters_to_put) {
    if (Subscription* sub = find(dead.subscription)) {
      DeadLetterRecord& stored = sub->dead_letters[dead.sequence] = dead;
      stored.dead_at = ToMicros(dead.dead_at);
    }
  }
  for (const auto& [name, sequence] : batch.dead_letters_to_delete) {
    if (Subscription* sub = find(name)) sub->dead_letters.erase(sequence);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RetryRecord>> MemoryEventStore::ListRetries(
    absl::string_view subscription, absl::Time due_before, int limit) {
  if (limit < 1) return absl::InvalidArgumentError(absl::StrCat("limit must be >= 1: ", limit));
  absl::MutexLock lock(&mu_);
  if (closed_) return Closed();
  std::vector<RetryRecord> out;
  auto it = subscriptions_.find(std::string(subscription));
  if (it == subscriptions_.end()) return out;
  for (const auto& [sequence, retry] : it->second.retries) {
    if (retry.next_at < due_before) out.push_back(retry);
  }
  // The map iterates by sequence, so a stable sort by next_at breaks ties by sequence.
  std::stable_sort(out.begin(), out.end(), [](const RetryRecord& a, const RetryRecord& b) {
    return a.next_at < b.next_at;
  });
  if (out.size() > static_cast<size_t>(limit)) out.resize(limit);
  return out;
}

absl::StatusOr<std::vector<RetryRecord>> MemoryEventStore::ListRetriesAfter(
    absl::string_view subscription, int64_t after_sequence, int limit) {
  if (limit < 1) return absl::InvalidArgumentError(absl::StrCat("limit must be >= 1: ", limit));
  absl::MutexLock lock(&mu_);
  if (closed_) return Closed();
  auto it = subscriptions_.find(std::string(subscription));
  if (it == subscriptions_.end()) return std::vector<RetryRecord>();
  return PageAfter(it->second.retries, after_sequence, limit);
}

absl::StatusOr<std::vector<DeadLetterRecord>> MemoryEventStore::ListDeadLetters(
    absl::string_view subscription, int64_t after_sequence, int limit) {
  if (limit < 1) return absl::InvalidArgumentError(absl::StrCat("limit must be >= 1: ", limit));
  absl::MutexLock lock(&mu_);
  if (closed_) return Closed();
  auto it = subscriptions_.find(std::string(subscription));
  if (it == subscriptions_.end()) return std::vector<DeadLetterRecord>();
  return PageAfter(it->second.dead_letters, after_sequence, limit);
}

absl::StatusOr<int64_t> MemoryEventStore::LastSequence() {
  absl::MutexLock lock(&mu_);
  if (closed_) return Closed();
  return last_sequence_;
}

absl::StatusOr<int64_t> MemoryEventStore::LastSequenceReceivedBefore(absl::Time t) {
  absl::MutexLock lock(&mu_);
  if (closed_) return Closed();
  for (auto it = by_sequence_.rbegin(); it != by_sequence_.rend(); ++it) {
    if (it->second.received_at < t) return it->first;
  }
  return 0;
}

absl::StatusOr<int64_t> MemoryEventStore::CountAfter(const std::vector<std::string>& types,
                                                     int64_t cursor, int64_t cap) {
  return CountBetween(types, cursor, std::numeric_limits<int64_t>::max(), cap);
}

absl::StatusOr<int64_t> MemoryEventStore::CountBetween(const std::vector<std::string>& types,
                                                       int64_t after_sequence,
                                                       int64_t up_to_sequence, int64_t limit) {
  if (limit < 0) return absl::InvalidArgumentError(absl::StrCat("limit must be >= 0: ", limit));
  if (types.size() > static_cast<size_t>(kMaxQueryTypes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxQueryTypes, " type patterns, got ", types.size()));
  }
  absl::MutexLock lock(&mu_);
  if (closed_) return Closed();
  int64_t count = 0;
  for (auto it = by_sequence_.upper_bound(after_sequence);
       it != by_sequence_.end() && it->first <= up_to_sequence && count < limit; ++it) {
    const std::string& type = it->second.type;
    if (types.empty() || std::any_of(types.begin(), types.end(), [&](const std::string& pattern) {
          return TypeMatches(pattern, type);
        })) {
      ++count;
    }
  }
  return count;
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
