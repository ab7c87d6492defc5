#include "sdk/gateway_client.h"

#include "gtest/gtest.h"

namespace switchboard::sdk {
namespace {

TEST(GatewayAddress, FlagThenSwitchboardGatewayThenTheDefault) {
  EXPECT_EQ(GatewayAddress("10.0.0.1:7000", "127.0.0.1:25051"), "10.0.0.1:7000");
  EXPECT_EQ(GatewayAddress("", "127.0.0.1:25051"), "127.0.0.1:25051");
  EXPECT_EQ(GatewayAddress("", ""), "127.0.0.1:50051");
  EXPECT_EQ(GatewayAddress("", nullptr), "127.0.0.1:50051");
}

}  // namespace
}  // namespace switchboard::sdk
