// The EventStore conformance suite: one set of behaviour tests every implementation must pass.
//
// An implementation's test instantiates the parameterised suite with a factory that opens a
// fresh, empty store each time it is called:
//
// Example:
//   INSTANTIATE_TEST_SUITE_P(
//       Memory, EventStoreConformanceTest,
//       testing::Values(EventStoreFactory{"memory", [] {
//         return absl::StatusOr<std::unique_ptr<EventStore>>(
//             std::make_unique<MemoryEventStore>());
//       }}),
//       EventStoreFactoryName);
//
// The suite covers append/get, dedupe, sequence order and reuse, every List filter and paging,
// exact raw bytes, Stats, retention, Close and argument errors. Implementation-specific
// behaviour (durability, batching, full disks) belongs in the implementation's own tests.
//
// Thread-safety: a test fixture; the tests themselves start threads where they say so.
#ifndef SWITCHBOARD_SERVER_STORE_EVENT_STORE_CONFORMANCE_H_
#define SWITCHBOARD_SERVER_STORE_EVENT_STORE_CONFORMANCE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/store/event_store.h"

namespace switchboard::server::store {

struct EventStoreFactory {
  // Names the instantiation in test names ("memory", "sqlite"); [A-Za-z0-9_] only.
  std::string name;
  // Opens a fresh, empty store. Called once per test.
  std::function<absl::StatusOr<std::unique_ptr<EventStore>>()> open;
};

// For INSTANTIATE_TEST_SUITE_P's name generator argument.
std::string EventStoreFactoryName(const testing::TestParamInfo<EventStoreFactory>& info);

// A plausible record: `type` defaults to payment_intent.succeeded, times are fixed and raw_json
// is a small JSON object naming the id. Handy for callers' tests too.
EventRecord TestEvent(absl::string_view id, absl::string_view type = "payment_intent.succeeded");

class EventStoreConformanceTest : public testing::TestWithParam<EventStoreFactory> {
 protected:
  // Opens store_ through the factory (fails the test if it cannot).
  void SetUp() override;
  // Closes store_.
  void TearDown() override;

  std::unique_ptr<EventStore> store_;
};

}  // namespace switchboard::server::store

#endif  // SWITCHBOARD_SERVER_STORE_EVENT_STORE_CONFORMANCE_H_
