#include "tests/util/list_events.h"

#include <string>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"

namespace switchboard::testing {

absl::StatusOr<std::vector<switchboard::v1::Event>> ListAllEvents(
    switchboard::v1::Gateway::StubInterface& gateway, int page_size) {
  std::vector<switchboard::v1::Event> events;
  std::string token;
  do {
    grpc::ClientContext context;
    switchboard::v1::ListEventsRequest request;
    request.set_page_size(page_size);
    request.set_page_token(token);
    request.set_omit_raw_json(true);
    switchboard::v1::ListEventsResponse response;
    const grpc::Status status = gateway.ListEvents(&context, request, &response);
    if (!status.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
    for (switchboard::v1::Event& e : *response.mutable_events()) events.push_back(std::move(e));
    token = response.next_page_token();
  } while (!token.empty());
  return events;
}

}  // namespace switchboard::testing
