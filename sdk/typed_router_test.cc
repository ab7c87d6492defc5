// Typed registrations: the stripe.v1 message a function gets, the start-up checks against the
// Stripe event-type table, and REJECT (never a call, never a crash) for a payload that is not
// the registered type or is partial (typed misses) without TypedMisses::kAccept.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "protos/stripe/v1/resources.pb.h"
#include "sdk/router.h"

namespace switchboard::sdk {
namespace {

using ::switchboard::v1::Ack;
using ::switchboard::v1::Delivery;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;

Delivery PaymentIntentSucceeded(int64_t amount, const std::string& currency) {
  Delivery d;
  d.set_delivery_id("d-1");
  d.set_attempt(1);
  d.mutable_event()->set_id("evt_pi");
  d.mutable_event()->set_type("payment_intent.succeeded");
  d.mutable_event()->mutable_data()->set_object_kind("payment_intent");
  stripe::v1::PaymentIntent* pi = d.mutable_event()->mutable_data()->mutable_payment_intent();
  pi->set_id("pi_1");
  pi->set_amount(amount);
  pi->set_currency(currency);
  return d;
}

TEST(TypedRouter, FunctionGetsTheTypedObject) {
  std::vector<std::string> seen;
  Router router;
  router.On<stripe::v1::PaymentIntent>(
      "payment_intent.succeeded",
      [&](const EventContext& ctx, const stripe::v1::PaymentIntent& pi) {
        seen.push_back(absl::StrCat(ctx.id(), " ", pi.id(), " ", pi.amount(), " ", pi.currency()));
        return absl::OkStatus();
      });
  ASSERT_TRUE(router.Check().ok()) << router.Check();
  EXPECT_EQ(router.Dispatch(PaymentIntentSucceeded(4900, "usd")).outcome(), Ack::OK);
  EXPECT_THAT(seen, ElementsAre("evt_pi pi_1 4900 usd"));
}

TEST(TypedRouter, TypedPrefixAndRawCatchAllTogether) {
  std::vector<std::string> seen;
  Router router;
  router
      .On<stripe::v1::PaymentIntent>(
          "payment_intent.*",
          [&](const EventContext& ctx, const stripe::v1::PaymentIntent&) {
            seen.push_back(absl::StrCat("typed ", ctx.type()));
            return absl::OkStatus();
          })
      .OnEvent("*", [&](const EventContext& ctx) {
        seen.push_back(absl::StrCat("raw ", ctx.type()));
        return absl::OkStatus();
      });
  ASSERT_TRUE(router.Check().ok()) << router.Check();
  router.Dispatch(PaymentIntentSucceeded(1, "eur"));
  Delivery other;
  other.mutable_event()->set_type("customer.created");
  router.Dispatch(other);
  EXPECT_THAT(seen, ElementsAre("typed payment_intent.succeeded", "raw customer.created"));
}

// One typed function, for payment_intent.succeeded, that sets *called.
Router RouterNotingCalls(bool* called) {
  Router router;
  router.On<stripe::v1::PaymentIntent>(
      "payment_intent.succeeded", [called](const EventContext&, const stripe::v1::PaymentIntent&) {
        *called = true;
        return absl::OkStatus();
      });
  return router;
}

TEST(TypedRouter, MissingTypedPayloadIsRejectedWithoutCallingTheFunction) {
  bool called = false;
  const Router router = RouterNotingCalls(&called);
  // The gateway could not convert the object (a shape newer than its protos): no typed field.
  Delivery d = PaymentIntentSucceeded(1, "usd");
  d.mutable_event()->mutable_data()->clear_payment_intent();
  const Ack ack = router.Dispatch(d);
  EXPECT_EQ(ack.outcome(), Ack::REJECT);
  EXPECT_THAT(ack.message(), HasSubstr("does not carry a stripe.v1.PaymentIntent"));
  EXPECT_THAT(ack.message(), HasSubstr("carries nothing"));
  EXPECT_FALSE(called);

  // Another kind in the oneof (a mislabelled event).
  d.mutable_event()->mutable_data()->mutable_charge()->set_id("ch_1");
  const Ack other = router.Dispatch(d);
  EXPECT_EQ(other.outcome(), Ack::REJECT);
  EXPECT_THAT(other.message(), HasSubstr("carries stripe.v1.Charge"));
  EXPECT_FALSE(called);
}

// What the gateway delivers when `amount` arrived as a string: the PaymentIntent without it,
// the path in typed_misses, the value only in object_struct (and raw_json).
Delivery PaymentIntentWithAmountThatDidNotFit() {
  Delivery d = PaymentIntentSucceeded(0, "usd");
  switchboard::v1::EventData* data = d.mutable_event()->mutable_data();
  data->mutable_payment_intent()->clear_amount();
  data->add_typed_misses("amount");
  data->add_typed_misses("metadata.order");
  (*data->mutable_object_struct()->mutable_fields())["amount"].set_string_value("4900");
  return d;
}

TEST(TypedRouter, PartialTypedPayloadIsRejectedWithThePathsWithoutCallingTheFunction) {
  bool called = false;
  const Router router = RouterNotingCalls(&called);
  ASSERT_TRUE(router.Check().ok()) << router.Check();
  const Ack ack = router.Dispatch(PaymentIntentWithAmountThatDidNotFit());
  EXPECT_FALSE(called);
  EXPECT_EQ(ack.delivery_id(), "d-1");
  EXPECT_EQ(ack.outcome(), Ack::REJECT);
  EXPECT_EQ(ack.message(),
            "FAILED_PRECONDITION: event evt_pi (payment_intent.succeeded): 2 values did not fit "
            "stripe.v1.PaymentIntent, so On<stripe.v1.PaymentIntent>(\"payment_intent.succeeded\") "
            "was not called; unset: amount, metadata.order");
  EXPECT_THAT(ack.message(), Not(HasSubstr("4900")));
}

TEST(TypedRouter, ManyTypedMissesAreNamedInAShortMessage) {
  Router router;
  router.On<stripe::v1::PaymentIntent>(
      "payment_intent.*",
      [](const EventContext&, const stripe::v1::PaymentIntent&) { return absl::OkStatus(); });
  Delivery d = PaymentIntentSucceeded(1, "usd");
  for (int i = 0; i < 20000; ++i) {
    d.mutable_event()->mutable_data()->add_typed_misses(
        absl::StrCat("payment_method_types[", i, "]"));
  }
  const Ack ack = router.Dispatch(d);
  EXPECT_EQ(ack.outcome(), Ack::REJECT);
  EXPECT_THAT(ack.message(), HasSubstr("20000 values did not fit stripe.v1.PaymentIntent"));
  EXPECT_THAT(ack.message(), HasSubstr("unset: payment_method_types[0], payment_method_types[1]"));
  EXPECT_THAT(ack.message(), EndsWith("payment_method_types[9], ..."));
}

TEST(TypedRouter, AcceptingTypedMissesCallsTheFunctionWithThePartialMessage) {
  std::vector<std::string> seen;
  Router router;
  router.On<stripe::v1::PaymentIntent>(
      "payment_intent.succeeded",
      [&](const EventContext& ctx, const stripe::v1::PaymentIntent& pi) {
        seen.push_back(absl::StrCat(pi.id(), " has_amount=", pi.has_amount(),
                                    " misses=", absl::StrJoin(ctx.typed_misses(), ",")));
        return absl::OkStatus();
      },
      TypedMisses::kAccept);
  ASSERT_TRUE(router.Check().ok()) << router.Check();
  EXPECT_EQ(router.Dispatch(PaymentIntentWithAmountThatDidNotFit()).outcome(), Ack::OK);
  EXPECT_THAT(seen, ElementsAre("pi_1 has_amount=0 misses=amount,metadata.order"));
}

TEST(TypedRouter, RawFunctionGetsEventsWithTypedMisses) {
  std::vector<std::string> seen;
  Router router;
  router.OnEvent("payment_intent.succeeded", [&](const EventContext& ctx) {
    seen.push_back(absl::StrCat(
        ctx.id(), " misses=", absl::StrJoin(ctx.typed_misses(), ","),
        " amount=", ctx.event().data().object_struct().fields().at("amount").string_value()));
    return absl::OkStatus();
  });
  ASSERT_TRUE(router.Check().ok()) << router.Check();
  EXPECT_EQ(router.Dispatch(PaymentIntentWithAmountThatDidNotFit()).outcome(), Ack::OK);
  EXPECT_THAT(seen, ElementsAre("evt_pi misses=amount,metadata.order amount=4900"));
}

TEST(TypedRouter, StatusOfTheTypedFunctionDecidesTheAck) {
  Router router;
  router.On<stripe::v1::PaymentIntent>(
      "payment_intent.succeeded", [](const EventContext&, const stripe::v1::PaymentIntent& pi) {
        if (pi.currency() != "usd") return PermanentError("only usd");
        if (pi.amount() > 1000) return absl::UnavailableError("ledger busy");
        return absl::OkStatus();
      });
  EXPECT_EQ(router.Dispatch(PaymentIntentSucceeded(10, "usd")).outcome(), Ack::OK);
  EXPECT_EQ(router.Dispatch(PaymentIntentSucceeded(10, "eur")).outcome(), Ack::REJECT);
  EXPECT_EQ(router.Dispatch(PaymentIntentSucceeded(5000, "usd")).outcome(), Ack::RETRY);
}

TEST(TypedRouter, MismatchedTypeFailsCheckWithAClearMessage) {
  auto ok_pi = [](const EventContext&, const stripe::v1::PaymentIntent&) {
    return absl::OkStatus();
  };
  auto ok_charge = [](const EventContext&, const stripe::v1::Charge&) { return absl::OkStatus(); };
  Router router;
  router.On<stripe::v1::PaymentIntent>("charge.succeeded", ok_pi);
  router.On<stripe::v1::Charge>("charge.*", ok_charge);
  router.On<stripe::v1::Charge>("charge.succeeded", ok_charge);  // fine
  const absl::Status status = router.Check();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("On<stripe.v1.PaymentIntent>(\"charge.succeeded\"): \"charge.succeeded\" "
                        "matches charge.succeeded, which carries"));
  EXPECT_THAT(status.message(), HasSubstr("On<stripe.v1.Charge>(\"charge.*\"): \"charge.*\" "
                                          "matches charge.dispute."));
  EXPECT_THAT(router.EventTypes(), ElementsAre("charge.succeeded"));
}

TEST(TypedRouter, MessageThatIsNoTypedPayloadFailsCheck) {
  Router router;
  router.On<google::protobuf::Struct>(
      "customer.created",
      [](const EventContext&, const google::protobuf::Struct&) { return absl::OkStatus(); });
  EXPECT_THAT(
      router.Check().message(),
      HasSubstr("google.protobuf.Struct is not a typed payload of switchboard.v1.EventData"));
}

TEST(TypedRouter, UnknownEventTypeCannotBeTyped) {
  Router router;
  router.On<stripe::v1::PaymentIntent>(
      "payment_intent.teleported",
      [](const EventContext&, const stripe::v1::PaymentIntent&) { return absl::OkStatus(); });
  EXPECT_THAT(router.Check().message(), HasSubstr("matches no known Stripe event type"));
}

}  // namespace
}  // namespace switchboard::sdk
