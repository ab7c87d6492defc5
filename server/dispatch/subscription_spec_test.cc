#include "server/dispatch/subscription_spec.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/status_matchers.h"
#include "server/dispatch/event_proto.h"

namespace switchboard::server::dispatch {
namespace {

using ::switchboard::base::StatusIs;

switchboard::v1::Subscription Spec(const std::string& name, std::vector<std::string> types) {
  switchboard::v1::Subscription s;
  s.set_name(name);
  for (const auto& t : types) s.add_event_types(t);
  return s;
}

TEST(SubscriptionSpec, NamesAreLowercaseAndShort) {
  EXPECT_OK(ValidateSubscriptionName("billing-v2.eu_1"));
  EXPECT_THAT(ValidateSubscriptionName(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateSubscriptionName("Billing"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateSubscriptionName("a b"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateSubscriptionName(std::string(65, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SubscriptionSpec, MemberAddressMustBeDialable) {
  EXPECT_OK(ValidateMemberAddress("127.0.0.1:7001"));
  EXPECT_OK(ValidateMemberAddress("billing-1.internal:7001"));
  EXPECT_OK(ValidateMemberAddress("[::1]:7001"));
  for (const char* bad : {"", "127.0.0.1", "0.0.0.0:7001", "[::]:7001", "host:0", "host:65536",
                          "host:-1", ":7001", "ho st:1", "host:12a"}) {
    EXPECT_THAT(ValidateMemberAddress(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
}

TEST(SubscriptionSpec, EventTypePatterns) {
  for (const char* ok : {"*", "payment_intent.succeeded", "payment_intent.*", "charge.*",
                         "v2.core.account.updated"}) {
    EXPECT_OK(ValidateEventTypePattern(ok)) << ok;
  }
  for (const char* bad :
       {"", "payment_intent.", ".x", "a..b", "pay*", "*.succeeded", "a.*.*", "a b"}) {
    EXPECT_THAT(ValidateEventTypePattern(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
}

TEST(SubscriptionSpec, NormalizeFillsDefaultsAndDropsOutputFields) {
  switchboard::v1::Subscription in = Spec("s", {"charge.*", "charge.*", "*"});
  in.add_members()->set_address("h:1");
  in.mutable_stats()->set_backlog(3);
  in.set_static_(true);
  ASSERT_OK_AND_ASSIGN(switchboard::v1::Subscription out, NormalizeSubscription(in));
  EXPECT_EQ(out.event_types_size(), 2);
  EXPECT_EQ(out.max_in_flight(), kDefaultMaxInFlight);
  EXPECT_EQ(FromProtoDuration(out.delivery_timeout()), absl::Seconds(30));
  EXPECT_EQ(FromProtoDuration(out.retry_policy().initial_backoff()), absl::Seconds(1));
  EXPECT_EQ(FromProtoDuration(out.retry_policy().max_backoff()), absl::Minutes(10));
  EXPECT_EQ(FromProtoDuration(out.retry_policy().max_age()), absl::Hours(72));
  EXPECT_EQ(out.members_size(), 0);
  EXPECT_FALSE(out.has_stats());
  EXPECT_FALSE(out.static_());
}

TEST(SubscriptionSpec, NormalizeRejectsBadFields) {
  EXPECT_THAT(NormalizeSubscription(Spec("s", {})), StatusIs(absl::StatusCode::kInvalidArgument));
  auto s = Spec("s", {"*"});
  s.set_max_in_flight(1025);
  EXPECT_THAT(NormalizeSubscription(s), StatusIs(absl::StatusCode::kInvalidArgument));
  s = Spec("s", {"*"});
  s.mutable_retry_policy()->mutable_initial_backoff()->set_seconds(-1);
  EXPECT_THAT(NormalizeSubscription(s), StatusIs(absl::StatusCode::kInvalidArgument));
  s = Spec("s", {"*"});
  s.mutable_retry_policy()->mutable_initial_backoff()->set_seconds(700);  // > 10 min cap
  EXPECT_THAT(NormalizeSubscription(s), StatusIs(absl::StatusCode::kInvalidArgument));
  s = Spec("s", {"*"});
  s.mutable_delivery_timeout()->set_seconds(7200);
  EXPECT_THAT(NormalizeSubscription(s), StatusIs(absl::StatusCode::kInvalidArgument));
  s = Spec("s", {"*"});
  s.add_accounts("");
  EXPECT_THAT(NormalizeSubscription(s), StatusIs(absl::StatusCode::kInvalidArgument));
  s = Spec("s", {"*"});
  s.set_ordering(static_cast<switchboard::v1::Subscription::Ordering>(9));
  EXPECT_THAT(NormalizeSubscription(s), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SubscriptionSpec, CheckSameSpecComparesOnlyFieldsTheRequestSets) {
  switchboard::v1::Subscription existing = Spec("s", {"a.*", "b.c"});
  existing.set_max_in_flight(64);
  ASSERT_OK_AND_ASSIGN(existing, NormalizeSubscription(existing));
  EXPECT_OK(CheckSameSpec(Spec("s", {}), existing));
  EXPECT_OK(CheckSameSpec(Spec("s", {"b.c", "a.*"}), existing));
  EXPECT_THAT(CheckSameSpec(Spec("s", {"a.*"}), existing),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  auto r = Spec("s", {});
  r.set_max_in_flight(8);
  EXPECT_THAT(CheckSameSpec(r, existing), StatusIs(absl::StatusCode::kFailedPrecondition));
  r = Spec("s", {});
  r.set_ordering(switchboard::v1::Subscription::PER_OBJECT);
  EXPECT_THAT(CheckSameSpec(r, existing), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(SubscriptionSpec, CheckSameSpecWithAddWantsTheRequestTypesAmongTheExistingOnes) {
  switchboard::v1::Subscription existing = Spec("s", {"a.*", "b.c"});
  ASSERT_OK_AND_ASSIGN(existing, NormalizeSubscription(existing));
  constexpr EventTypesUpdate kAdd = EventTypesUpdate::kAdd;
  EXPECT_OK(CheckSameSpec(Spec("s", {"a.*"}), existing, kAdd));
  EXPECT_OK(CheckSameSpec(Spec("s", {"b.c", "a.*", "b.c"}), existing, kAdd));
  EXPECT_OK(CheckSameSpec(Spec("s", {}), existing, kAdd));
  // Compared as strings: `a.b` matches `a.*` but is not one of the config's patterns.
  EXPECT_THAT(CheckSameSpec(Spec("s", {"a.b"}), existing, kAdd),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  auto r = Spec("s", {"a.*"});
  r.set_max_in_flight(8);
  EXPECT_THAT(CheckSameSpec(r, existing, kAdd), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(SubscriptionSpec, AddEventTypesKeepsTheExistingOrderThenAddsTheNewOnes) {
  const switchboard::v1::Subscription existing = Spec("s", {"b.*", "a.c"});
  auto request = Spec("s", {"z.z", "a.c", "c.d", "z.z"});
  request.set_max_in_flight(9);
  ASSERT_OK_AND_ASSIGN(switchboard::v1::Subscription added, AddEventTypes(request, existing));
  EXPECT_THAT(added.event_types(), ::testing::ElementsAre("b.*", "a.c", "z.z", "c.d"));
  EXPECT_EQ(added.max_in_flight(), 9);  // the request's other fields
  EXPECT_THAT(AddEventTypes(Spec("s", {"not a type"}), existing),
              StatusIs(absl::StatusCode::kInvalidArgument));

  std::vector<std::string> many;
  for (int i = 0; i < 100; ++i) many.push_back(absl::StrCat("t.", i));
  EXPECT_OK(AddEventTypes(Spec("s", {"t.5"}), Spec("s", many)).status());
  EXPECT_THAT(AddEventTypes(Spec("s", {"t.5", "u.1"}), Spec("s", many)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SubscriptionSpec, MatchesTypesLivemodeAndAccounts) {
  switchboard::v1::Subscription s = Spec("s", {"charge.*"});
  store::EventRecord e;
  e.type = "charge.dispute.created";
  EXPECT_TRUE(MatchesEvent(s, e));
  e.type = "payment_intent.succeeded";
  EXPECT_FALSE(MatchesEvent(s, e));
  e.type = "charge.succeeded";
  s.set_livemode(true);
  EXPECT_FALSE(MatchesEvent(s, e));
  e.livemode = true;
  EXPECT_TRUE(MatchesEvent(s, e));
  s.add_accounts("acct_1");
  EXPECT_FALSE(MatchesEvent(s, e));  // a platform event
  e.account = "acct_1";
  EXPECT_TRUE(MatchesEvent(s, e));
}

}  // namespace
}  // namespace switchboard::server::dispatch
