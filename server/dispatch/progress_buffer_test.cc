#include "server/dispatch/progress_buffer.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace switchboard::server::dispatch {
namespace {

store::RetryRecord Retry(const std::string& sub, int64_t seq, absl::Time next_at) {
  store::RetryRecord r;
  r.subscription = sub;
  r.sequence = seq;
  r.event_id = "evt_" + std::to_string(seq);
  r.attempts = 1;
  r.next_at = next_at;
  return r;
}

TEST(ProgressBuffer, LatestChangePerKeyWins) {
  ProgressBuffer b;
  const absl::Time t = absl::FromUnixSeconds(100);
  b.PutRetry(Retry("a", 1, t));
  b.DeleteRetry("a", 1);
  b.PutRetry(Retry("a", 2, t));
  const store::ProgressBatch batch = b.ToBatch();
  ASSERT_EQ(batch.retries_to_put.size(), 1u);
  EXPECT_EQ(batch.retries_to_put[0].sequence, 2);
  ASSERT_EQ(batch.retries_to_delete.size(), 1u);
  EXPECT_EQ(batch.retries_to_delete[0], std::make_pair(std::string("a"), int64_t{1}));
}

TEST(ProgressBuffer, CursorsOnlyRise) {
  ProgressBuffer b;
  b.SetCursor("a", 10);
  b.SetCursor("a", 7);
  EXPECT_EQ(b.cursors().at("a"), 10);
}

TEST(ProgressBuffer, MergeOlderKeepsNewerChanges) {
  const absl::Time t = absl::FromUnixSeconds(100);
  ProgressBuffer older;
  older.PutRetry(Retry("a", 1, t));
  older.PutRetry(Retry("a", 2, t));
  older.SetCursor("a", 5);
  ProgressBuffer newer;
  newer.DeleteRetry("a", 1);
  newer.SetCursor("a", 9);
  newer.MergeOlder(std::move(older));
  const store::ProgressBatch batch = newer.ToBatch();
  ASSERT_EQ(batch.retries_to_put.size(), 1u);
  EXPECT_EQ(batch.retries_to_put[0].sequence, 2);
  ASSERT_EQ(batch.retries_to_delete.size(), 1u);
  EXPECT_EQ(batch.cursors.at("a"), 9);
}

TEST(ProgressBuffer, ApplyRetriesOverlaysUncommittedChanges) {
  const absl::Time t = absl::FromUnixSeconds(100);
  ProgressBuffer b;
  b.DeleteRetry("a", 1);
  b.PutRetry(Retry("a", 3, t - absl::Seconds(5)));
  b.PutRetry(Retry("b", 4, t));  // another subscription: untouched
  std::vector<store::RetryRecord> listed = {Retry("a", 1, t), Retry("a", 2, t)};
  b.ApplyRetries("a", &listed);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].sequence, 3);  // earliest next_at first
  EXPECT_EQ(listed[1].sequence, 2);
  EXPECT_EQ(b.CountRetryDeletes("a"), 1);
  EXPECT_EQ(b.CountRetryDeletes("b"), 0);
}

TEST(ProgressBuffer, ForgetDropsOneSubscription) {
  const absl::Time t = absl::FromUnixSeconds(100);
  ProgressBuffer b;
  b.PutRetry(Retry("a", 1, t));
  b.SetCursor("a", 3);
  b.PutRetry(Retry("ab", 2, t));
  b.Forget("a");
  const store::ProgressBatch batch = b.ToBatch();
  EXPECT_TRUE(batch.cursors.empty());
  ASSERT_EQ(batch.retries_to_put.size(), 1u);
  EXPECT_EQ(batch.retries_to_put[0].subscription, "ab");
}

}  // namespace
}  // namespace switchboard::server::dispatch
