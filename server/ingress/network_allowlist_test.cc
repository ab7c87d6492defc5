#include "server/ingress/network_allowlist.h"

#include "gtest/gtest.h"

namespace switchboard::server::ingress {
namespace {

TEST(NetworkAllowlist, MatchesIpv4AndIpv6Networks) {
  auto allow = NetworkAllowlist::Create({"10.1.0.0/16", "3.18.12.63", "2001:db8::/32"});
  ASSERT_TRUE(allow.ok()) << allow.status();
  EXPECT_TRUE(allow->Allows("10.1.200.7"));
  EXPECT_FALSE(allow->Allows("10.2.0.1"));
  EXPECT_TRUE(allow->Allows("3.18.12.63"));
  EXPECT_FALSE(allow->Allows("3.18.12.64"));
  EXPECT_TRUE(allow->Allows("2001:db8:1::5"));
  EXPECT_FALSE(allow->Allows("2001:db9::1"));
  EXPECT_TRUE(allow->Allows("::ffff:10.1.2.3"));  // IPv4-mapped is the IPv4 address
}

TEST(NetworkAllowlist, RefusesGarbageAddresses) {
  auto allow = NetworkAllowlist::Create({"0.0.0.0/0"});
  ASSERT_TRUE(allow.ok());
  EXPECT_TRUE(allow->Allows("192.0.2.1"));
  EXPECT_FALSE(allow->Allows(""));
  EXPECT_FALSE(allow->Allows("not an address"));
  EXPECT_FALSE(allow->Allows("1.2.3.4.5"));
}

TEST(NetworkAllowlist, RejectsBadEntries) {
  EXPECT_FALSE(NetworkAllowlist::Create({"10.0.0.0/33"}).ok());
  EXPECT_FALSE(NetworkAllowlist::Create({"nope/8"}).ok());
  EXPECT_FALSE(NetworkAllowlist::Create({"10.0.0.0/x"}).ok());
  EXPECT_FALSE(NetworkAllowlist::Create({"::/129"}).ok());
}

TEST(NetworkAllowlist, UsesForwardedForOnlyWhenTrusted) {
  EXPECT_EQ(NetworkAllowlist::ClientAddress("127.0.0.1", "6.6.6.6, 3.18.12.63", true),
            "3.18.12.63");
  EXPECT_EQ(NetworkAllowlist::ClientAddress("127.0.0.1", "3.18.12.63", false), "127.0.0.1");
  EXPECT_EQ(NetworkAllowlist::ClientAddress("127.0.0.1", std::nullopt, true), "127.0.0.1");
  // Several lines combined (HttpRequest::CombinedHeader): the last entry of the last line.
  EXPECT_EQ(NetworkAllowlist::ClientAddress("127.0.0.1", "3.18.12.63,6.6.6.6", true), "6.6.6.6");
  EXPECT_EQ(NetworkAllowlist::ClientAddress("127.0.0.1", "3.18.12.63,", true), "");
}

}  // namespace
}  // namespace switchboard::server::ingress
