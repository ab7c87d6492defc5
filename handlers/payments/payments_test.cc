#include "handlers/payments/payments.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protos/stripe/v1/resources.pb.h"

namespace switchboard::handlers::payments {
namespace {

using ::switchboard::v1::Ack;
using ::switchboard::v1::Delivery;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class PaymentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Register(router_, [this](absl::string_view line) { lines_.emplace_back(line); });
    ASSERT_TRUE(router_.Check().ok()) << router_.Check();
  }
  static Delivery Make(const std::string& id, const std::string& type) {
    Delivery d;
    d.set_delivery_id("d-" + id);
    d.set_attempt(1);
    d.mutable_event()->set_id(id);
    d.mutable_event()->set_type(type);
    return d;
  }
  sdk::Router router_;
  std::vector<std::string> lines_;
};

TEST_F(PaymentsTest, SubscribesToExactlyTheSampleEvents) {
  EXPECT_THAT(router_.EventTypes(),
              ElementsAre("payment_intent.succeeded", "payment_method.attached"));
}

TEST_F(PaymentsTest, LogsASuccessfulPaymentIntentWithAmountAndCurrency) {
  Delivery d = Make("evt_1", "payment_intent.succeeded");
  stripe::v1::PaymentIntent* pi = d.mutable_event()->mutable_data()->mutable_payment_intent();
  pi->set_id("pi_1");
  pi->set_amount(4900);
  pi->set_currency("usd");
  EXPECT_EQ(router_.Dispatch(d).outcome(), Ack::OK);
  EXPECT_THAT(lines_, ElementsAre("PaymentIntent for 4900 usd was successful (pi_1, event evt_1)"));
}

TEST_F(PaymentsTest, LogsAnAttachedPaymentMethod) {
  Delivery d = Make("evt_2", "payment_method.attached");
  stripe::v1::PaymentMethod* pm = d.mutable_event()->mutable_data()->mutable_payment_method();
  pm->set_id("pm_1");
  pm->set_type("card");
  pm->set_customer_id("cus_1");
  EXPECT_EQ(router_.Dispatch(d).outcome(), Ack::OK);
  EXPECT_THAT(lines_, ElementsAre("PaymentMethod pm_1 (card) attached to cus_1 (event evt_2)"));
}

TEST_F(PaymentsTest, AnUntypedPaymentIntentIsRejectedNotLogged) {
  // What a gateway whose protos have no typed message for the object kind delivers.
  const Ack ack = router_.Dispatch(Make("evt_3", "payment_intent.succeeded"));
  EXPECT_EQ(ack.outcome(), Ack::REJECT);
  EXPECT_TRUE(lines_.empty());
}

TEST_F(PaymentsTest, APaymentIntentWhoseAmountDidNotFitIsRejectedNotLoggedAsZero) {
  // What the gateway delivers when Stripe sent `amount` in a shape the protos do not know: the
  // PaymentIntent without it, and its path in typed_misses.
  Delivery d = Make("evt_4", "payment_intent.succeeded");
  stripe::v1::PaymentIntent* pi = d.mutable_event()->mutable_data()->mutable_payment_intent();
  pi->set_id("pi_4");
  pi->set_currency("usd");
  d.mutable_event()->mutable_data()->add_typed_misses("amount");
  const Ack ack = router_.Dispatch(d);
  EXPECT_EQ(ack.outcome(), Ack::REJECT);
  EXPECT_THAT(ack.message(), HasSubstr("unset: amount"));
  EXPECT_TRUE(lines_.empty());
}

}  // namespace
}  // namespace switchboard::handlers::payments
