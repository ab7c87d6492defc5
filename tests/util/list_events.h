// ListAllEvents: every stored event, paging through Gateway.ListEvents, for tests that check
// what the gateway holds (integration, crash).
//
// Example:
//   ASSERT_OK_AND_ASSIGN(auto events, ListAllEvents(*stub, /*page_size=*/1000));
#ifndef SWITCHBOARD_TESTS_UTIL_LIST_EVENTS_H_
#define SWITCHBOARD_TESTS_UTIL_LIST_EVENTS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "protos/switchboard/v1/gateway.grpc.pb.h"

namespace switchboard::testing {

// All events in log order, `page_size` per call, raw_json omitted. The first failing call's
// status (code and message from gRPC) on error.
absl::StatusOr<std::vector<switchboard::v1::Event>> ListAllEvents(
    switchboard::v1::Gateway::StubInterface& gateway, int page_size);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_UTIL_LIST_EVENTS_H_
