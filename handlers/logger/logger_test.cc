#include "handlers/logger/logger.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::handlers::logger {
namespace {

using ::testing::ElementsAre;

TEST(Logger, LogsOneLinePerEventOfAnyType) {
  std::vector<std::string> lines;
  sdk::Router router;
  Register(router, [&](absl::string_view line) { lines.emplace_back(line); });
  ASSERT_TRUE(router.Check().ok());
  EXPECT_THAT(router.EventTypes(), ElementsAre("*"));

  switchboard::v1::Delivery d;
  d.set_delivery_id("d-1");
  d.set_attempt(2);
  d.mutable_event()->set_id("evt_1");
  d.mutable_event()->set_type("invoice.paid");
  EXPECT_EQ(router.Dispatch(d).outcome(), switchboard::v1::Ack::OK);
  d.mutable_event()->set_id("evt_2");
  d.mutable_event()->set_type("v2.core.account.updated");
  d.set_attempt(1);
  EXPECT_EQ(router.Dispatch(d).outcome(), switchboard::v1::Ack::OK);
  EXPECT_THAT(lines, ElementsAre("event id=evt_1 type=invoice.paid attempt=2",
                                 "event id=evt_2 type=v2.core.account.updated attempt=1"));
}

}  // namespace
}  // namespace switchboard::handlers::logger
