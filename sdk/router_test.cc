// Router without sockets: which function a delivery reaches, and which Ack it earns.
// (Typed registrations against the Stripe messages: typed_router_test.cc.)
#include "sdk/router.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/unknown_field_set.h"
#include "gtest/gtest.h"
#include "sdk/status.h"
#include "tests/util/capture_stderr.h"

namespace switchboard::sdk {
namespace {

using ::switchboard::v1::Ack;
using ::switchboard::v1::Delivery;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Delivery MakeDelivery(absl::string_view type, absl::string_view id = "evt_1", int attempt = 1) {
  Delivery d;
  d.set_delivery_id(absl::StrCat("d-", id, "-", attempt));
  d.set_attempt(attempt);
  d.set_subscription("test");
  d.mutable_event()->set_id(std::string(id));
  d.mutable_event()->set_type(std::string(type));
  d.mutable_event()->set_object("event");
  return d;
}

// A raw function that records which registration ran.
EventFn Record(std::vector<std::string>* calls, std::string name, absl::Status result = {}) {
  return [calls, name, result](const EventContext& ctx) {
    calls->push_back(absl::StrCat(name, ":", ctx.type()));
    return result;
  };
}

TEST(Router, ExactBeatsPrefixBeatsCatchAll) {
  std::vector<std::string> calls;
  Router router;
  router.OnEvent("*", Record(&calls, "all"))
      .OnEvent("payment_intent.*", Record(&calls, "prefix"))
      .OnEvent("payment_intent.succeeded", Record(&calls, "exact"));
  ASSERT_TRUE(router.Check().ok()) << router.Check();

  for (const char* type :
       {"payment_intent.succeeded", "payment_intent.created", "charge.succeeded"}) {
    EXPECT_EQ(router.Dispatch(MakeDelivery(type)).outcome(), Ack::OK);
  }
  EXPECT_THAT(calls, ElementsAre("exact:payment_intent.succeeded", "prefix:payment_intent.created",
                                 "all:charge.succeeded"));
}

TEST(Router, LongestPrefixWinsWhateverTheRegistrationOrder) {
  std::vector<std::string> calls;
  Router router;
  router.OnEvent("charge.*", Record(&calls, "charge"))
      .OnEvent("charge.dispute.*", Record(&calls, "dispute"));
  router.Dispatch(MakeDelivery("charge.dispute.created"));
  router.Dispatch(MakeDelivery("charge.refunded"));
  EXPECT_THAT(calls, ElementsAre("dispute:charge.dispute.created", "charge:charge.refunded"));
}

TEST(Router, PrefixNeedsSomethingAfterTheDot) {
  std::vector<std::string> calls;
  Router router;
  router.OnEvent("charge.*", Record(&calls, "charge"));
  // "charge." and "chargeback.x" are not under "charge.*"; nothing else is registered.
  const Ack ack = router.Dispatch(MakeDelivery("chargeback.created"));
  EXPECT_EQ(ack.outcome(), Ack::RETRY);
  EXPECT_THAT(ack.message(), HasSubstr("no handler for chargeback.created"));
  EXPECT_TRUE(calls.empty());
}

TEST(Router, UnmatchedEventIsAnsweredRetrySoAnotherInstanceCanHandleIt) {
  // An older instance in a rolling deploy: a newer one registered invoice.paid, and the
  // gateway spreads those deliveries over both. An OK here would lose the event.
  Router router;
  router.OnEvent("payment_intent.succeeded", [](const EventContext&) { return absl::OkStatus(); });
  const Ack ack = router.Dispatch(MakeDelivery("invoice.paid"));
  EXPECT_EQ(ack.delivery_id(), "d-evt_1-1");
  EXPECT_EQ(ack.outcome(), Ack::RETRY);
  EXPECT_FALSE(ack.has_retry_after());
  EXPECT_EQ(ack.message(),
            "UNIMPLEMENTED: no handler for invoice.paid in this instance (version skew in a "
            "rolling deploy, or a subscription widened by hand)");
}

TEST(Router, UnmatchedEventsAreLoggedAtTheFirstSecondFourthOfEachType) {
  Router router;
  router.OnEvent("payment_intent.succeeded", [](const EventContext&) { return absl::OkStatus(); });
  const std::string text = testing::CaptureStderr([&] {
    for (int i = 0; i < 5; ++i) router.Dispatch(MakeDelivery("invoice.paid", "evt_i"));
    router.Dispatch(MakeDelivery("customer.created", "evt_c"));
    router.Dispatch(MakeDelivery("payment_intent.succeeded", "evt_p"));
  });
  const std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << text;
  EXPECT_THAT(lines[0], HasSubstr("WARN sdk_no_handler type=invoice.paid count=1 id=evt_i "
                                  "subscription=test answered=RETRY"));
  EXPECT_THAT(lines[0], HasSubstr("version skew"));
  EXPECT_THAT(lines[1], HasSubstr("sdk_no_handler type=invoice.paid count=2 "));
  EXPECT_THAT(lines[2], HasSubstr("sdk_no_handler type=invoice.paid count=4 "));
  EXPECT_THAT(lines[3], HasSubstr("sdk_no_handler type=customer.created count=1 "));
}

TEST(Router, UnmatchedEventLogStaysBoundedWhateverTheTypes) {
  Router router;
  router.OnEvent("payment_intent.succeeded", [](const EventContext&) { return absl::OkStatus(); });
  const std::string text = testing::CaptureStderr([&] {
    for (int i = 0; i < 1000; ++i) router.Dispatch(MakeDelivery(absl::StrCat("made.up", i)));
  });
  const std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  // One line for each of the first 256 types, then the rest counted together: 257th, 258th,
  // 260th, ..., 1000th is the 744th of those, logged at 1, 2, 4, ..., 512.
  ASSERT_EQ(lines.size(), 256u + 10u) << text.substr(0, 2000);
  EXPECT_THAT(lines.back(), HasSubstr("(among other types, counted together) count=512 "));
}

TEST(Router, AckMapsTheReturnedStatus) {
  Router router;
  router.OnEvent("a.ok", [](const EventContext&) { return absl::OkStatus(); })
      .OnEvent("a.retry", [](const EventContext&) { return absl::UnavailableError("db down"); })
      .OnEvent("a.later",
               [](const EventContext&) { return RetryAfter(absl::Milliseconds(1500), "quota"); })
      .OnEvent("a.reject", [](const EventContext&) { return PermanentError("bad metadata"); })
      .OnEvent("a.wrapped", [](const EventContext&) {
        return MakePermanent(absl::InvalidArgumentError("no such customer"));
      });

  Ack ok = router.Dispatch(MakeDelivery("a.ok", "evt_ok"));
  EXPECT_EQ(ok.outcome(), Ack::OK);
  EXPECT_EQ(ok.delivery_id(), "d-evt_ok-1");
  EXPECT_EQ(ok.message(), "");
  EXPECT_FALSE(ok.has_retry_after());

  Ack retry = router.Dispatch(MakeDelivery("a.retry"));
  EXPECT_EQ(retry.outcome(), Ack::RETRY);
  EXPECT_EQ(retry.message(), "UNAVAILABLE: db down");
  EXPECT_FALSE(retry.has_retry_after());

  Ack later = router.Dispatch(MakeDelivery("a.later"));
  EXPECT_EQ(later.outcome(), Ack::RETRY);
  EXPECT_EQ(later.retry_after().seconds(), 1);
  EXPECT_EQ(later.retry_after().nanos(), 500000000);

  Ack reject = router.Dispatch(MakeDelivery("a.reject"));
  EXPECT_EQ(reject.outcome(), Ack::REJECT);
  EXPECT_THAT(reject.message(), HasSubstr("bad metadata"));

  Ack wrapped = router.Dispatch(MakeDelivery("a.wrapped"));
  EXPECT_EQ(wrapped.outcome(), Ack::REJECT);
  EXPECT_EQ(wrapped.message(), "INVALID_ARGUMENT: no such customer");
}

TEST(Router, EventContextShowsTheEnvelope) {
  Delivery d = MakeDelivery("customer.updated", "evt_ctx", 3);
  d.mutable_event()->set_livemode(true);
  d.mutable_event()->set_account("acct_123");
  (*d.mutable_event()->mutable_data()->mutable_previous_attributes()->mutable_fields())["email"]
      .set_string_value("old@example.com");
  Router router;
  router.OnEvent("customer.updated", [](const EventContext& ctx) {
    EXPECT_EQ(ctx.id(), "evt_ctx");
    EXPECT_EQ(ctx.type(), "customer.updated");
    EXPECT_EQ(ctx.attempt(), 3);
    EXPECT_TRUE(ctx.livemode());
    EXPECT_TRUE(ctx.has_account());
    EXPECT_EQ(ctx.account(), "acct_123");
    EXPECT_EQ(ctx.subscription(), "test");
    EXPECT_EQ(ctx.delivery_id(), "d-evt_ctx-3");
    EXPECT_NE(ctx.previous_attributes(), nullptr);
    EXPECT_EQ(ctx.previous_attributes()->fields().at("email").string_value(), "old@example.com");
    EXPECT_EQ(ctx.event().object(), "event");
    return absl::OkStatus();
  });
  EXPECT_EQ(router.Dispatch(d).outcome(), Ack::OK);

  Router plain;
  plain.OnEvent("*", [](const EventContext& ctx) {
    EXPECT_EQ(ctx.previous_attributes(), nullptr);
    EXPECT_FALSE(ctx.has_account());
    EXPECT_EQ(ctx.account(), "");
    return absl::OkStatus();
  });
  EXPECT_EQ(plain.Dispatch(MakeDelivery("customer.created")).outcome(), Ack::OK);
}

TEST(Router, BadRegistrationsAreAllReportedByCheck) {
  Router router;
  router.OnEvent("payment_intent.succeeded", [](const EventContext&) { return absl::OkStatus(); })
      .OnEvent("payment_intent.succeeded", [](const EventContext&) { return absl::OkStatus(); })
      .OnEvent("*.succeeded", [](const EventContext&) { return absl::OkStatus(); })
      .OnEvent("", [](const EventContext&) { return absl::OkStatus(); })
      .OnEvent("charge.*", nullptr);
  const absl::Status status = router.Check();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("OnEvent(\"payment_intent.succeeded\"): \"payment_intent.succeeded\" is "
                        "already registered"));
  EXPECT_THAT(status.message(), HasSubstr("OnEvent(\"*.succeeded\"): event type pattern"));
  EXPECT_THAT(status.message(), HasSubstr("OnEvent(\"\"): empty event type pattern"));
  EXPECT_THAT(status.message(), HasSubstr("OnEvent(\"charge.*\"): the handler function is empty"));
  // The first registration of a pattern stays in force.
  EXPECT_THAT(router.EventTypes(), ElementsAre("payment_intent.succeeded"));
}

TEST(Router, CheckRefusesAnEmptyRouter) {
  Router router;
  EXPECT_EQ(router.Check().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Router, EventTypesAreTheRegisteredPatterns) {
  Router router;
  auto ok = [](const EventContext&) { return absl::OkStatus(); };
  router.OnEvent("payment_method.attached", ok)
      .OnEvent("invoice.*", ok)
      .OnEvent("charge.succeeded", ok);
  EXPECT_THAT(router.EventTypes(),
              ElementsAre("charge.succeeded", "invoice.*", "payment_method.attached"));
  router.OnEvent("*", ok);
  EXPECT_THAT(router.EventTypes(), ElementsAre("*"));
}

TEST(Router, RetryMessageIsValidUtf8AndShort) {
  Router router;
  router.OnEvent("*", [](const EventContext&) {
    return absl::InternalError(absl::StrCat("bad \xff\xfe bytes ", std::string(5000, 'x')));
  });
  const Ack ack = router.Dispatch(MakeDelivery("x.y"));
  EXPECT_EQ(ack.outcome(), Ack::RETRY);
  EXPECT_LE(ack.message().size(), 512u);
  EXPECT_THAT(ack.message(), HasSubstr("bad ?? bytes"));
  // Serializes and parses back (a proto3 string with invalid UTF-8 would not parse).
  Ack parsed;
  ASSERT_TRUE(parsed.ParseFromString(ack.SerializeAsString()));
  EXPECT_EQ(parsed.message(), ack.message());
}

TEST(Router, AFunctionThatThrowsIsAnsweredRetryNotACrash) {
  Router router;
  router.OnEvent("invoice.paid", [](const EventContext&) -> absl::Status {
    throw std::runtime_error("db \xff driver " + std::string(5000, 'x'));
  });
  router.OnEvent("*", [](const EventContext&) -> absl::Status { throw 42; });

  const Ack ack = router.Dispatch(MakeDelivery("invoice.paid"));
  EXPECT_EQ(ack.delivery_id(), "d-evt_1-1");
  EXPECT_EQ(ack.outcome(), Ack::RETRY);
  EXPECT_THAT(ack.message(), ::testing::StartsWith("handler threw: db ? driver xxx"));
  EXPECT_LE(ack.message().size(), 512u);
  Ack parsed;
  ASSERT_TRUE(parsed.ParseFromString(ack.SerializeAsString()));

  const Ack other = router.Dispatch(MakeDelivery("charge.succeeded"));
  EXPECT_EQ(other.outcome(), Ack::RETRY);
  EXPECT_THAT(other.message(), HasSubstr("handler threw"));
}

TEST(Router, SerializedDeliveryIsDispatched) {
  std::vector<std::string> calls;
  Router router;
  router.OnEvent("*", Record(&calls, "all"));
  std::optional<Ack> ack =
      router.DispatchSerialized(MakeDelivery("invoice.paid", "evt_s").SerializeAsString());
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->outcome(), Ack::OK);
  EXPECT_EQ(ack->delivery_id(), "d-evt_s-1");
  EXPECT_THAT(calls, ElementsAre("all:invoice.paid"));
}

TEST(Router, UndecodableDeliveryIsRejectedNotHandled) {
  std::vector<std::string> calls;
  Router router;
  router.OnEvent("*", Record(&calls, "all"));

  // Delivery{delivery_id: "d-bad", attempt: 1, event: Event{id: "evt_\xff"}}: field 1 of the
  // Event is a proto3 string with invalid UTF-8, which the generated parser refuses.
  google::protobuf::UnknownFieldSet event;
  event.AddLengthDelimited(1, "evt_\xff\xfe");
  event.AddLengthDelimited(2, "invoice.paid");
  google::protobuf::UnknownFieldSet delivery;
  delivery.AddLengthDelimited(1, "d-bad");
  delivery.AddVarint(2, 1);
  std::string event_bytes;
  ASSERT_TRUE(event.SerializeToString(&event_bytes));
  delivery.AddLengthDelimited(3, event_bytes);
  std::string bytes;
  ASSERT_TRUE(delivery.SerializeToString(&bytes));
  ASSERT_FALSE(Delivery().ParseFromString(bytes));

  std::optional<Ack> ack = router.DispatchSerialized(bytes);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->delivery_id(), "d-bad");
  EXPECT_EQ(ack->outcome(), Ack::REJECT);
  EXPECT_THAT(ack->message(), HasSubstr("does not decode"));
  EXPECT_TRUE(calls.empty());

  // Not protobuf at all: nothing can be acknowledged.
  EXPECT_FALSE(router.DispatchSerialized("\xff\xff\xff\xff").has_value());
}

TEST(Status, PermanentAndRetryAfterAreDistinguishable) {
  EXPECT_TRUE(IsPermanentError(PermanentError("x")));
  EXPECT_FALSE(IsPermanentError(absl::InvalidArgumentError("x")));
  EXPECT_FALSE(IsPermanentError(MakePermanent(absl::OkStatus())));
  EXPECT_TRUE(MakePermanent(absl::OkStatus()).ok());
  EXPECT_EQ(MakePermanent(absl::NotFoundError("gone")).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(RetryAfterOf(absl::UnavailableError("x")).has_value());
  EXPECT_EQ(RetryAfterOf(RetryAfter(absl::Seconds(7), "x")), absl::Seconds(7));
  EXPECT_EQ(RetryAfterOf(RetryAfter(absl::Seconds(-7), "x")), absl::ZeroDuration());
  EXPECT_FALSE(IsPermanentError(RetryAfter(absl::Seconds(1), "x")));
}

}  // namespace
}  // namespace switchboard::sdk
