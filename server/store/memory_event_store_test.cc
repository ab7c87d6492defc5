#include "server/store/memory_event_store.h"

#include <memory>

#include "gtest/gtest.h"
#include "server/base/status_matchers.h"
#include "server/store/delivery_store_conformance.h"
#include "server/store/event_store_conformance.h"

namespace switchboard::server::store {
namespace {

using ::switchboard::base::StatusIs;

INSTANTIATE_TEST_SUITE_P(Memory, EventStoreConformanceTest,
                         testing::Values(EventStoreFactory{
                             "memory",
                             [] {
                               return absl::StatusOr<std::unique_ptr<EventStore>>(
                                   std::make_unique<MemoryEventStore>());
                             }}),
                         EventStoreFactoryName);

INSTANTIATE_TEST_SUITE_P(Memory, DeliveryStoreConformanceTest,
                         testing::Values(DeliveryStoreFactory{
                             "memory",
                             [] {
                               return absl::StatusOr<DeliveryStoreUnderTest>(
                                   DeliveryStoreUnderTest::Of(
                                       std::make_unique<MemoryEventStore>()));
                             }}),
                         DeliveryStoreFactoryName);

TEST(MemoryEventStore, FailAppendsFailsAppendsAndCheckWritableUntilCleared) {
  MemoryEventStore store;
  store.SetFailAppends(absl::ResourceExhaustedError("disk full"));
  EXPECT_THAT(store.Append(TestEvent("evt_1")), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(store.CheckWritable(), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(store.Get("evt_1"), StatusIs(absl::StatusCode::kNotFound));
  // Argument checks still come first.
  EXPECT_THAT(store.Append(TestEvent("")), StatusIs(absl::StatusCode::kInvalidArgument));

  store.SetFailAppends(absl::OkStatus());
  EXPECT_OK(store.CheckWritable());
  ASSERT_OK_AND_ASSIGN(AppendResult result, store.Append(TestEvent("evt_1")));
  EXPECT_EQ(result, AppendResult::kStored);
  EXPECT_EQ(store.SuccessfulAppends(), 1);
}

TEST(MemoryEventStore, FailAppendsFailsDeliveryWritesButNotReads) {
  MemoryEventStore store;
  SubscriptionRecord subscription;
  subscription.name = "billing";
  subscription.cursor = 3;
  ASSERT_OK(store.PutSubscription(subscription));
  store.SetFailAppends(absl::ResourceExhaustedError("disk full"));

  ProgressBatch batch;
  batch.cursors["billing"] = 10;
  RetryRecord retry;
  retry.subscription = "billing";
  retry.sequence = 5;
  batch.retries_to_put.push_back(retry);
  EXPECT_THAT(store.CommitProgress(batch), StatusIs(absl::StatusCode::kResourceExhausted));
  subscription.name = "shipping";
  EXPECT_THAT(store.PutSubscription(subscription), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(store.DeleteSubscription("billing"), StatusIs(absl::StatusCode::kResourceExhausted));
  // Nothing changed, and reads still answer.
  ASSERT_OK_AND_ASSIGN(std::vector<SubscriptionRecord> all, store.ListSubscriptions());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name, "billing");
  EXPECT_EQ(all[0].cursor, 3);
  ASSERT_OK_AND_ASSIGN(std::vector<RetryRecord> retries,
                       store.ListRetries("billing", absl::InfiniteFuture(), 10));
  EXPECT_TRUE(retries.empty());

  store.SetFailAppends(absl::OkStatus());
  ASSERT_OK(store.CommitProgress(batch));
  ASSERT_OK_AND_ASSIGN(all, store.ListSubscriptions());
  EXPECT_EQ(all[0].cursor, 10);
}

}  // namespace
}  // namespace switchboard::server::store
