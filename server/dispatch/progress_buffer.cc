#include "server/dispatch/progress_buffer.h"

#include <algorithm>
#include <limits>

namespace switchboard::server::dispatch {
namespace {

template <typename Map>
auto RangeOf(const Map& map, absl::string_view subscription) {
  const std::string name(subscription);
  return std::make_pair(map.lower_bound({name, std::numeric_limits<int64_t>::min()}),
                        map.upper_bound({name, std::numeric_limits<int64_t>::max()}));
}

template <typename Map>
void EraseRange(Map& map, absl::string_view subscription) {
  auto [first, last] = RangeOf(map, subscription);
  map.erase(first, last);
}

}  // namespace

void ProgressBuffer::SetCursor(const std::string& subscription, int64_t cursor) {
  auto [it, inserted] = cursors_.emplace(subscription, cursor);
  if (!inserted) it->second = std::max(it->second, cursor);
}

void ProgressBuffer::PutRetry(const store::RetryRecord& retry) {
  retries_[{retry.subscription, retry.sequence}] = retry;
}

void ProgressBuffer::DeleteRetry(const std::string& subscription, int64_t sequence) {
  retries_[{subscription, sequence}] = std::nullopt;
}

void ProgressBuffer::PutDeadLetter(const store::DeadLetterRecord& dead_letter) {
  dead_letters_[{dead_letter.subscription, dead_letter.sequence}] = dead_letter;
}

void ProgressBuffer::DeleteDeadLetter(const std::string& subscription, int64_t sequence) {
  dead_letters_[{subscription, sequence}] = std::nullopt;
}

void ProgressBuffer::Forget(absl::string_view subscription) {
  cursors_.erase(std::string(subscription));
  EraseRange(retries_, subscription);
  EraseRange(dead_letters_, subscription);
}

void ProgressBuffer::MergeOlder(ProgressBuffer older) {
  for (const auto& [name, cursor] : older.cursors_) SetCursor(name, cursor);
  // map::insert keeps an existing (newer) entry.
  retries_.insert(std::make_move_iterator(older.retries_.begin()),
                  std::make_move_iterator(older.retries_.end()));
  dead_letters_.insert(std::make_move_iterator(older.dead_letters_.begin()),
                       std::make_move_iterator(older.dead_letters_.end()));
}

bool ProgressBuffer::empty() const {
  return cursors_.empty() && retries_.empty() && dead_letters_.empty();
}

size_t ProgressBuffer::size() const {
  return cursors_.size() + retries_.size() + dead_letters_.size();
}

store::ProgressBatch ProgressBuffer::ToBatch() const {
  store::ProgressBatch batch;
  batch.cursors = cursors_;
  for (const auto& [key, retry] : retries_) {
    if (retry.has_value()) {
      batch.retries_to_put.push_back(*retry);
    } else {
      batch.retries_to_delete.push_back(key);
    }
  }
  for (const auto& [key, dead_letter] : dead_letters_) {
    if (dead_letter.has_value()) {
      batch.dead_letters_to_put.push_back(*dead_letter);
    } else {
      batch.dead_letters_to_delete.push_back(key);
    }
  }
  return batch;
}

void ProgressBuffer::ApplyRetries(absl::string_view subscription,
                                  std::vector<store::RetryRecord>* retries) const {
  auto [first, last] = RangeOf(retries_, subscription);
  if (first == last) return;
  std::map<int64_t, store::RetryRecord> by_sequence;
  for (store::RetryRecord& r : *retries) by_sequence[r.sequence] = std::move(r);
  for (auto it = first; it != last; ++it) {
    if (it->second.has_value()) {
      by_sequence[it->first.second] = *it->second;
    } else {
      by_sequence.erase(it->first.second);
    }
  }
  retries->clear();
  for (auto& [sequence, r] : by_sequence) retries->push_back(std::move(r));
  std::sort(retries->begin(), retries->end(),
            [](const store::RetryRecord& a, const store::RetryRecord& b) {
              return a.next_at != b.next_at ? a.next_at < b.next_at : a.sequence < b.sequence;
            });
}

int ProgressBuffer::CountRetryDeletes(absl::string_view subscription) const {
  auto [first, last] = RangeOf(retries_, subscription);
  int n = 0;
  for (auto it = first; it != last; ++it) n += it->second.has_value() ? 0 : 1;
  return n;
}

}  // namespace switchboard::server::dispatch
