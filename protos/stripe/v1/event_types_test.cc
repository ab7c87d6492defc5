#include "protos/stripe/v1/event_types.h"

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protos/stripe/v1/resources.pb.h"

namespace stripe::v1 {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> Types(const std::vector<const EventTypeInfo*>& infos) {
  std::vector<std::string> types;
  for (const EventTypeInfo* info : infos) types.emplace_back(info->type);
  return types;
}

TEST(EventTypeTable, HoldsAll265V1TypesSortedAndUnique) {
  const std::vector<EventTypeInfo>& all = AllEventTypes();
  ASSERT_EQ(all.size(), 265u);
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].type, all[i].type);
  for (const EventTypeInfo& info : all) {
    SCOPED_TRACE(std::string(info.type));
    EXPECT_EQ(FindEventType(info.type), &info);
    EXPECT_FALSE(info.object_kind.empty());
    ASSERT_FALSE(info.possible_kinds.empty());
    if (info.polymorphic()) {
      EXPECT_EQ(info.message, nullptr);
    } else {
      EXPECT_EQ(info.possible_kinds[0], info.object_kind);
      EXPECT_EQ(info.message, MessageForObjectKind(info.object_kind));
    }
  }
}

TEST(EventTypeTable, MapsTypesToTheObjectTheyCarry) {
  struct Case {
    const char* type;
    const char* kind;
    const google::protobuf::Descriptor* message;
  };
  const Case cases[] = {
      {"payment_intent.succeeded", "payment_intent", PaymentIntent::descriptor()},
      {"charge.succeeded", "charge", Charge::descriptor()},
      {"charge.dispute.created", "dispute", Dispute::descriptor()},
      {"charge.refund.updated", "refund", Refund::descriptor()},
      {"customer.subscription.updated", "subscription", Subscription::descriptor()},
      {"checkout.session.completed", "checkout.session", CheckoutSession::descriptor()},
      {"invoice.paid", "invoice", Invoice::descriptor()},
      {"customer.created", "customer", Customer::descriptor()},
      {"payment_method.attached", "payment_method", PaymentMethod::descriptor()},
      {"setup_intent.succeeded", "setup_intent", SetupIntent::descriptor()},
      {"payout.paid", "payout", Payout::descriptor()},
      {"product.created", "product", Product::descriptor()},
      {"price.created", "price", Price::descriptor()},
      {"account.updated", "account", Account::descriptor()},
      {"refund.created", "refund", Refund::descriptor()},
      {"customer.discount.created", "discount", Discount::descriptor()},
      {"customer.tax_id.created", "tax_id", TaxId::descriptor()},
      {"application_fee.created", "application_fee", nullptr},
      {"issuing_card.created", "issuing.card", nullptr},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.type);
    const EventTypeInfo* info = FindEventType(c.type);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->object_kind, c.kind);
    EXPECT_EQ(info->message, c.message);
    EXPECT_FALSE(info->polymorphic());
  }
}

TEST(EventTypeTable, PolymorphicFamiliesListEveryPossibleKind) {
  const EventTypeInfo* external = FindEventType("account.external_account.created");
  ASSERT_NE(external, nullptr);
  EXPECT_TRUE(external->polymorphic());
  EXPECT_EQ(external->object_kind, "bank_account|card");
  EXPECT_THAT(external->possible_kinds, ElementsAre("bank_account", "card"));
  EXPECT_EQ(external->message, nullptr);

  const EventTypeInfo* source = FindEventType("customer.source.updated");
  ASSERT_NE(source, nullptr);
  EXPECT_THAT(source->possible_kinds, ElementsAre("account", "bank_account", "card", "source"));
  for (absl::string_view kind : source->possible_kinds) {
    EXPECT_NE(MessageForObjectKind(kind), nullptr) << kind;
  }
}

TEST(EventTypeTable, UnknownTypesAreNotFound) {
  EXPECT_EQ(FindEventType(""), nullptr);
  EXPECT_EQ(FindEventType("payment_intent"), nullptr);
  EXPECT_EQ(FindEventType("payment_intent.succeeded2"), nullptr);
  EXPECT_EQ(FindEventType("v2.core.account.updated"), nullptr);  // Thin types are not v1.
  EXPECT_EQ(FindEventType("*"), nullptr);
}

TEST(EventTypeTable, MessageForObjectKind) {
  EXPECT_EQ(MessageForObjectKind("payment_intent"), PaymentIntent::descriptor());
  EXPECT_EQ(MessageForObjectKind("checkout.session"), CheckoutSession::descriptor());
  EXPECT_EQ(MessageForObjectKind("bank_account"), BankAccount::descriptor());
  EXPECT_EQ(MessageForObjectKind("card"), Card::descriptor());
  EXPECT_EQ(MessageForObjectKind("balance_transaction"), BalanceTransaction::descriptor());
  EXPECT_EQ(MessageForObjectKind("issuing.card"), nullptr);
  EXPECT_EQ(MessageForObjectKind(""), nullptr);
  EXPECT_EQ(MessageForObjectKind("CHARGE"), nullptr);
}

TEST(EventTypeTable, EveryRequiredResourceIsTyped) {
  for (const char* kind : {"payment_intent", "payment_method", "charge", "refund", "customer",
                           "invoice", "subscription", "checkout.session", "dispute", "payout",
                           "product", "price", "setup_intent", "account", "balance_transaction"}) {
    const google::protobuf::Descriptor* message = MessageForObjectKind(kind);
    ASSERT_NE(message, nullptr) << kind;
    EXPECT_EQ(message->file()->package(), "stripe.v1");
  }
}

TEST(MatchingEventTypes, ExactPrefixAndAll) {
  EXPECT_THAT(Types(MatchingEventTypes("payment_intent.succeeded")),
              ElementsAre("payment_intent.succeeded"));
  EXPECT_EQ(MatchingEventTypes("*").size(), 265u);

  const std::vector<std::string> charge = Types(MatchingEventTypes("charge.*"));
  EXPECT_THAT(charge, testing::Contains("charge.succeeded"));
  EXPECT_THAT(charge, testing::Contains("charge.dispute.created"));
  EXPECT_THAT(charge, testing::Contains("charge.refund.updated"));
  for (const std::string& type : charge) EXPECT_TRUE(absl::StartsWith(type, "charge.")) << type;

  EXPECT_THAT(Types(MatchingEventTypes("charge.dispute.*")),
              ElementsAre("charge.dispute.closed", "charge.dispute.created",
                          "charge.dispute.funds_reinstated", "charge.dispute.funds_withdrawn",
                          "charge.dispute.updated"));
  // `customer.*` includes `customer.subscription.*` but not `customer_cash_balance_transaction.*`.
  for (const std::string& type : Types(MatchingEventTypes("customer.*"))) {
    EXPECT_TRUE(absl::StartsWith(type, "customer.")) << type;
  }
}

TEST(MatchingEventTypes, NonPatternsMatchNothing) {
  for (const char* pattern : {"", "charge*", "*.succeeded", "charge.*.created", ".*", "charge.",
                              "charge", "**", "unknown.event", "unknown.*", "CHARGE.*"}) {
    EXPECT_THAT(MatchingEventTypes(pattern), IsEmpty()) << pattern;
  }
}

TEST(CheckTypedRegistration, AcceptsExactTypesCarryingTheMessage) {
  EXPECT_TRUE(CheckTypedRegistration("payment_intent.succeeded", PaymentIntent::descriptor()).ok());
  EXPECT_TRUE(CheckTypedRegistration("charge.dispute.created", Dispute::descriptor()).ok());
  EXPECT_TRUE(
      CheckTypedRegistration("customer.subscription.updated", Subscription::descriptor()).ok());
  EXPECT_TRUE(
      CheckTypedRegistration("checkout.session.completed", CheckoutSession::descriptor()).ok());
}

TEST(CheckTypedRegistration, AcceptsPrefixesWhoseEveryTypeCarriesTheMessage) {
  EXPECT_TRUE(CheckTypedRegistration("payment_intent.*", PaymentIntent::descriptor()).ok());
  EXPECT_TRUE(CheckTypedRegistration("charge.dispute.*", Dispute::descriptor()).ok());
  EXPECT_TRUE(CheckTypedRegistration("customer.subscription.*", Subscription::descriptor()).ok());
  EXPECT_TRUE(CheckTypedRegistration("invoice.*", Invoice::descriptor()).ok());
}

TEST(CheckTypedRegistration, RejectsChargePrefixForCharge) {
  const absl::Status status = CheckTypedRegistration("charge.*", Charge::descriptor());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  // The first offending type in sorted order, and what it carries.
  EXPECT_THAT(status.message(), HasSubstr("charge.dispute.closed"));
  EXPECT_THAT(status.message(), HasSubstr("stripe.v1.Dispute"));
  EXPECT_THAT(status.message(), HasSubstr("not stripe.v1.Charge"));
}

TEST(CheckTypedRegistration, RejectsExactTypeCarryingAnotherMessage) {
  const absl::Status status = CheckTypedRegistration("charge.refund.updated", Charge::descriptor());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("charge.refund.updated"));
  EXPECT_THAT(status.message(), HasSubstr("stripe.v1.Refund"));
}

TEST(CheckTypedRegistration, RejectsUntypedKinds) {
  const absl::Status status =
      CheckTypedRegistration("application_fee.created", Charge::descriptor());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("`application_fee` objects (no typed message)"));
}

TEST(CheckTypedRegistration, PolymorphicFamiliesNeedEveryKindToMatch) {
  const absl::Status status =
      CheckTypedRegistration("account.external_account.*", BankAccount::descriptor());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("account.external_account.created"));
  EXPECT_THAT(status.message(), HasSubstr("bank_account or card objects"));
  EXPECT_THAT(status.message(), HasSubstr("stripe.v1.Card"));
}

TEST(CheckTypedRegistration, WildcardIsNeverTyped) {
  EXPECT_EQ(CheckTypedRegistration("*", Charge::descriptor()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CheckTypedRegistration, RejectsUnknownPatternsAndNullDescriptor) {
  const absl::Status unknown = CheckTypedRegistration("charge.exploded", Charge::descriptor());
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.message(), HasSubstr("matches no known Stripe event type"));
  EXPECT_EQ(CheckTypedRegistration("charge*", Charge::descriptor()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckTypedRegistration("charge.succeeded", nullptr).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CheckTypedRegistration, EveryTypedExactTypeAcceptsItsOwnMessage) {
  int typed = 0;
  for (const EventTypeInfo& info : AllEventTypes()) {
    if (info.message == nullptr) continue;
    ++typed;
    EXPECT_TRUE(CheckTypedRegistration(info.type, info.message).ok()) << info.type;
    const google::protobuf::Descriptor* other =
        info.message == Charge::descriptor() ? Refund::descriptor() : Charge::descriptor();
    EXPECT_FALSE(CheckTypedRegistration(info.type, other).ok()) << info.type;
  }
  EXPECT_GE(typed, 60);
}

}  // namespace
}  // namespace stripe::v1
