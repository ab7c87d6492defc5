// The DeliveryStore conformance suite: one set of behaviour tests every implementation must pass.
//
// The delivery state lives beside the event log (LastSequence, the counts and retention read the
// log), so each test gets both: an EventStore to append to and the DeliveryStore kept with it.
// An implementation's test instantiates the parameterised suite with a factory that opens a
// fresh, empty store each time it is called:
//
// Example:
//   INSTANTIATE_TEST_SUITE_P(
//       Memory, DeliveryStoreConformanceTest,
//       testing::Values(DeliveryStoreFactory{"memory", [] {
//         return absl::StatusOr<DeliveryStoreUnderTest>(
//             DeliveryStoreUnderTest::Of(std::make_unique<MemoryEventStore>()));
//       }}),
//       DeliveryStoreFactoryName);
//
// The suite covers subscriptions (put, replace, list, delete with its retries and dead letters),
// CommitProgress (monotonic cursors, upserts and deletes, unknown subscriptions, order within a
// batch, concurrency), retry and dead-letter listing, LastSequence, LastSequenceReceivedBefore,
// CountAfter, CountBetween, argument errors and Close. Implementation-specific behaviour
// (durability, sharing commits with appends, full disks, migrations) belongs in the
// implementation's own tests.
//
// Thread-safety: a test fixture; the tests themselves start threads where they say so.
#ifndef SWITCHBOARD_SERVER_STORE_DELIVERY_STORE_CONFORMANCE_H_
#define SWITCHBOARD_SERVER_STORE_DELIVERY_STORE_CONFORMANCE_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "server/store/delivery_store.h"
#include "server/store/event_store.h"

namespace switchboard::server::store {

// What one test works on: an event log and the delivery state kept with it.
struct DeliveryStoreUnderTest {
  // Owns the store.
  std::unique_ptr<EventStore> events;
  // The delivery state of `events`; owned by it (usually the same object).
  DeliveryStore* delivery = nullptr;

  // For a store implementing both interfaces.
  template <typename Store>
  static DeliveryStoreUnderTest Of(std::unique_ptr<Store> store) {
    DeliveryStoreUnderTest out;
    out.delivery = store.get();
    out.events = std::move(store);
    return out;
  }
};

struct DeliveryStoreFactory {
  // Names the instantiation in test names ("memory", "sqlite"); [A-Za-z0-9_] only.
  std::string name;
  // Opens a fresh, empty store. Called once per test.
  std::function<absl::StatusOr<DeliveryStoreUnderTest>()> open;
};

// For INSTANTIATE_TEST_SUITE_P's name generator argument.
std::string DeliveryStoreFactoryName(const testing::TestParamInfo<DeliveryStoreFactory>& info);

class DeliveryStoreConformanceTest : public testing::TestWithParam<DeliveryStoreFactory> {
 protected:
  // Opens the store through the factory (fails the test if it cannot).
  void SetUp() override;
  // Closes the store.
  void TearDown() override;

  DeliveryStoreUnderTest store_;
  // Shorthands for store_.events.get() and store_.delivery.
  EventStore* events_ = nullptr;
  DeliveryStore* delivery_ = nullptr;
};

}  // namespace switchboard::server::store

#endif  // SWITCHBOARD_SERVER_STORE_DELIVERY_STORE_CONFORMANCE_H_
