#include "server/store/memory_event_store.h"

#include <memory>

#include "gtest/gtest.h"
#include "server/base/status_matchers.h"
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

}  // namespace
}  // namespace switchboard::server::store
