// Patterns, the raw wire helpers and the worker pool.
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "protos/switchboard/v1/handler.pb.h"
#include "sdk/internal/pattern.h"
#include "sdk/internal/wire.h"
#include "sdk/internal/worker_pool.h"

namespace switchboard::sdk::internal {
namespace {

TEST(Pattern, ExactPrefixAndAll) {
  auto exact = ParsePattern("payment_intent.succeeded");
  ASSERT_TRUE(exact.ok());
  EXPECT_TRUE(exact->Matches("payment_intent.succeeded"));
  EXPECT_FALSE(exact->Matches("payment_intent.succeeded.x"));

  auto prefix = ParsePattern("charge.*");
  ASSERT_TRUE(prefix.ok());
  EXPECT_TRUE(prefix->Matches("charge.succeeded"));
  EXPECT_TRUE(prefix->Matches("charge.dispute.created"));
  EXPECT_FALSE(prefix->Matches("charge."));
  EXPECT_FALSE(prefix->Matches("chargeback.created"));
  EXPECT_FALSE(prefix->Matches("charge"));

  auto all = ParsePattern("*");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Matches("anything.at_all"));
}

TEST(Pattern, RefusesWhatIsNotAPattern) {
  for (const char* bad : {"", "*.succeeded", "charge*", ".*", "a.*.b", "a b", "charge.**", "\t"}) {
    EXPECT_FALSE(ParsePattern(bad).ok()) << bad;
  }
}

TEST(Wire, DeliveryIdIsReadWithoutTheSchema) {
  switchboard::v1::Delivery d;
  d.set_delivery_id("d-42");
  d.set_attempt(2);
  d.mutable_event()->set_id("evt_1");
  EXPECT_EQ(DeliveryIdOf(d.SerializeAsString()), "d-42");
  EXPECT_EQ(DeliveryIdOf(""), std::nullopt);
  EXPECT_EQ(DeliveryIdOf("\xff\xff\xff"), std::nullopt);
  // An invalid UTF-8 id could not be echoed in a proto3 string.
  switchboard::v1::Delivery bad;
  bad.mutable_event()->set_id("x");
  std::string bytes = bad.SerializeAsString();
  bytes += std::string("\x0a\x02\xff\xfe", 4);  // field 1, 2 bytes
  EXPECT_EQ(DeliveryIdOf(bytes), std::nullopt);
}

TEST(Wire, SafeUtf8ReplacesInvalidBytesAndCutsOnCharacters) {
  EXPECT_EQ(SafeUtf8("plain", 100), "plain");
  EXPECT_EQ(SafeUtf8("a\xff"
                     "b",
                     100),
            "a?b");
  EXPECT_EQ(SafeUtf8("\xc3\xa9t\xc3\xa9", 100), "\xc3\xa9t\xc3\xa9");
  EXPECT_EQ(SafeUtf8("\xc3\xa9t\xc3\xa9", 4), "\xc3\xa9t");  // never half a character
  EXPECT_EQ(SafeUtf8("\xed\xa0\x80", 100), "???");           // a surrogate is not UTF-8
  EXPECT_EQ(SafeUtf8("\xf0\x9f\x98\x80", 100), "\xf0\x9f\x98\x80");
}

TEST(WorkerPool, RunsEveryJobOrDropsItExactlyOnce) {
  std::atomic<int> ran{0}, dropped{0};
  {
    WorkerPool pool(3);
    for (int i = 0; i < 100; ++i) {
      pool.Submit([&](bool run) { (run ? ran : dropped)++; });
    }
    pool.Stop(/*run_queued=*/true);
    EXPECT_EQ(ran.load(), 100);
    pool.Submit([&](bool run) { (run ? ran : dropped)++; });  // after Stop: dropped
  }
  EXPECT_EQ(dropped.load(), 1);
}

TEST(WorkerPool, StopWithoutRunningQueuedJobsDropsThem) {
  std::atomic<int> ran{0}, dropped{0};
  absl::Notification release;
  WorkerPool pool(1);
  absl::Notification started;
  pool.Submit([&](bool run) {
    started.Notify();
    release.WaitForNotification();
    if (run) ran++;
  });
  started.WaitForNotification();
  for (int i = 0; i < 5; ++i) pool.Submit([&](bool run) { (run ? ran : dropped)++; });
  std::thread stopper([&] { pool.Stop(/*run_queued=*/false); });
  // Stop drops the queue before waiting for the running job.
  while (dropped.load() < 5) std::this_thread::yield();
  release.Notify();
  stopper.join();
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(dropped.load(), 5);
}

TEST(WorkerPool, StopGivesUpAtTheDeadlineOnAJobThatDoesNotReturn) {
  // Shared with the job, which outlives the pool.
  struct Hung {
    absl::Notification started, release, returned;
  };
  auto hung = std::make_shared<Hung>();
  std::atomic<int> dropped{0};
  {
    WorkerPool pool(2);
    pool.Submit([hung](bool run) {
      if (!run) return;
      hung->started.Notify();
      hung->release.WaitForNotification();
      hung->returned.Notify();
    });
    hung->started.WaitForNotification();
    EXPECT_FALSE(pool.Stop(/*run_queued=*/false, absl::Now()));
    // Stopped: later jobs are dropped; a second Stop still sees the job running.
    pool.Submit([&](bool run) { dropped += run ? 0 : 1; });
    EXPECT_FALSE(pool.Stop(/*run_queued=*/false, absl::Now()));
  }  // destroyed while the job runs: does not wait for it
  EXPECT_EQ(dropped.load(), 1);
  EXPECT_FALSE(hung->returned.HasBeenNotified());
  hung->release.Notify();
  EXPECT_TRUE(hung->returned.WaitForNotificationWithTimeout(absl::Seconds(30)));
}

TEST(WorkerPool, PastTheDeadlineWhatIsStillQueuedIsDroppedNotRunLater) {
  struct Hung {
    absl::Notification started, release;
  };
  auto hung = std::make_shared<Hung>();
  auto ran = std::make_shared<std::atomic<int>>(0);
  auto dropped = std::make_shared<std::atomic<int>>(0);
  {
    WorkerPool pool(1);
    pool.Submit([hung](bool run) {
      if (!run) return;
      hung->started.Notify();
      hung->release.WaitForNotification();
    });
    hung->started.WaitForNotification();
    for (int i = 0; i < 3; ++i) {
      pool.Submit([ran, dropped](bool run) { ++*(run ? ran : dropped); });
    }
    EXPECT_FALSE(pool.Stop(/*run_queued=*/true, absl::Now()));
    // Dropped before Stop returned: the detached thread will not start them after its job.
    EXPECT_EQ(dropped->load(), 3);
  }
  hung->release.Notify();
  EXPECT_EQ(ran->load(), 0);
}

TEST(WorkerPool, StopWithADeadlineJoinsWhenEveryJobFinished) {
  std::atomic<int> ran{0};
  WorkerPool pool(3);
  for (int i = 0; i < 20; ++i) pool.Submit([&](bool run) { ran += run ? 1 : 0; });
  EXPECT_TRUE(pool.Stop(/*run_queued=*/true, absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(ran.load(), 20);
  EXPECT_TRUE(pool.Stop(/*run_queued=*/false, absl::Now()));  // idempotent
}

}  // namespace
}  // namespace switchboard::sdk::internal
