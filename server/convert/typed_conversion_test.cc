// The typed `oneof object` of switchboard.v1.EventData: example events, expandable references,
// metadata, null versus absent, and values that do not fit (typed misses, never an error).
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "protos/stripe/v1/event_types.h"
#include "protos/stripe/v1/resources.pb.h"
#include "protos/switchboard/v1/event.pb.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/base/status_matchers.h"
#include "server/convert/event_converter.h"
#include "server/convert/typed_walker.h"

namespace switchboard::server::convert {
namespace {

using ::switchboard::v1::Event;
using ::switchboard::v1::EventData;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

std::string ReadEvent(const std::string& name) {
  std::ifstream in("tests/testdata/events/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << name;
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::StatusOr<Event> Convert(absl::string_view body) { return EventConverter().Convert(body); }

// `body` with data.object's member `key` replaced (or added) by the raw JSON text `value`,
// which may hold numbers RapidJSON could not round-trip (2^70) or duplicate keys.
std::string WithMember(const std::string& body, const std::string& key, const std::string& value) {
  rapidjson::Document document;
  document.Parse(body.c_str());
  EXPECT_FALSE(document.HasParseError());
  rapidjson::Value& object = document["data"]["object"];
  object.RemoveMember(key.c_str());
  object.AddMember(rapidjson::Value(key.c_str(), document.GetAllocator()),
                   rapidjson::Value("@@RAW@@"), document.GetAllocator());
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  document.Accept(writer);
  return absl::StrReplaceAll(buffer.GetString(), {{"\"@@RAW@@\"", value}});
}

// A snapshot event of `type` around `data_object` (JSON text).
std::string EventWithObject(const std::string& type, const std::string& data_object) {
  return absl::StrCat(R"({"id":"evt_1","object":"event","type":")", type,
                      R"(","created":1719830505,"data":{"object":)", data_object, "}}");
}

const google::protobuf::Value& StructField(const Event& event, const std::string& key) {
  return event.data().object_struct().fields().at(key);
}

// ---------------------------------------------------------------------------------------------
// Example events.

TEST(TypedExamples, EachKindFillsItsOwnArm) {
  struct Case {
    const char* file;
    EventData::ObjectCase arm;
  };
  const Case cases[] = {
      {"payment_intent.succeeded.json", EventData::kPaymentIntent},
      {"payment_intent.created.json", EventData::kPaymentIntent},
      {"payment_intent.payment_failed.json", EventData::kPaymentIntent},
      {"charge.succeeded.json", EventData::kCharge},
      {"charge.refunded.json", EventData::kCharge},
      {"charge.dispute.created.json", EventData::kDispute},
      {"checkout.session.completed.json", EventData::kCheckoutSession},
      {"customer.created.json", EventData::kCustomer},
      {"customer.updated.json", EventData::kCustomer},
      {"customer.subscription.created.json", EventData::kSubscription},
      {"customer.subscription.updated.json", EventData::kSubscription},
      {"customer.subscription.deleted.json", EventData::kSubscription},
      {"api_2025-03-31.basil/customer.subscription.updated.json", EventData::kSubscription},
      {"invoice.finalized.json", EventData::kInvoice},
      {"invoice.paid.json", EventData::kInvoice},
      {"invoice.payment_failed.json", EventData::kInvoice},
      {"api_2025-03-31.basil/invoice.paid.json", EventData::kInvoice},
      {"payment_method.attached.json", EventData::kPaymentMethod},
      {"payout.paid.json", EventData::kPayout},
      {"price.created.json", EventData::kPrice},
      {"product.created.json", EventData::kProduct},
      {"setup_intent.succeeded.json", EventData::kSetupIntent},
      {"account.updated.json", EventData::kAccount},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    ASSERT_OK_AND_ASSIGN(Event event, Convert(ReadEvent(c.file)));
    EXPECT_EQ(event.data().object_case(), c.arm);
    EXPECT_THAT(event.data().typed_misses(), IsEmpty());
    // The Struct is filled as before.
    EXPECT_EQ(StructField(event, "id").string_value(), event.data().object_id());
  }
}

TEST(TypedExamples, PaymentIntentSucceeded) {
  ASSERT_OK_AND_ASSIGN(Event event, Convert(ReadEvent("payment_intent.succeeded.json")));
  const stripe::v1::PaymentIntent& pi = event.data().payment_intent();
  EXPECT_EQ(pi.id(), "pi_3P5vStQx4mT9aZrEmImVraX0");
  EXPECT_EQ(pi.object(), "payment_intent");
  EXPECT_EQ(pi.amount(), 4900);
  EXPECT_EQ(pi.amount_received(), 4900);
  EXPECT_TRUE(pi.has_amount_capturable());  // A real 0, not a missing value.
  EXPECT_EQ(pi.amount_capturable(), 0);
  EXPECT_EQ(pi.currency(), "usd");
  EXPECT_EQ(pi.status(), "succeeded");
  EXPECT_EQ(pi.created(), 1719834000);
  EXPECT_EQ(pi.latest_charge_case(), stripe::v1::PaymentIntent::kLatestChargeId);
  EXPECT_EQ(pi.latest_charge_id(), "ch_3P5vStQx4mT9aZrEmImVraX0");
  EXPECT_EQ(pi.customer_id(), "cus_QFHBVRRYa5Khz8");
  EXPECT_EQ(pi.payment_method_id(), "pm_1PuqFyQx4mT9aZrENdjEINKd");
  EXPECT_THAT(pi.metadata(), UnorderedElementsAre(Pair("order_id", "ord_6735")));
  EXPECT_THAT(pi.payment_method_types(), ElementsAre("card", "link"));
  EXPECT_EQ(pi.payment_method_options().card().request_three_d_secure(), "automatic");
  EXPECT_TRUE(pi.automatic_payment_methods().enabled());
  // `"description": null` and `"canceled_at": null`: unset.
  EXPECT_FALSE(pi.has_description());
  EXPECT_FALSE(pi.has_canceled_at());
  EXPECT_EQ(pi.application_case(), stripe::v1::PaymentIntent::APPLICATION_NOT_SET);
  EXPECT_FALSE(pi.has_last_payment_error());
}

TEST(TypedExamples, PaymentIntentPaymentFailedEmbedsAPaymentMethod) {
  ASSERT_OK_AND_ASSIGN(Event event, Convert(ReadEvent("payment_intent.payment_failed.json")));
  const stripe::v1::PaymentIntent& pi = event.data().payment_intent();
  ASSERT_TRUE(pi.has_last_payment_error());
  EXPECT_EQ(pi.last_payment_error().code(), "card_declined");
  EXPECT_EQ(pi.last_payment_error().decline_code(), "insufficient_funds");
  EXPECT_EQ(pi.last_payment_error().payment_method().id(), "pm_1PuqFyQx4mT9aZrENdjEINKd");
  EXPECT_EQ(pi.last_payment_error().payment_method().card().brand(), "visa");
}

TEST(TypedExamples, ChargeSucceeded) {
  ASSERT_OK_AND_ASSIGN(Event event, Convert(ReadEvent("charge.succeeded.json")));
  const stripe::v1::Charge& charge = event.data().charge();
  EXPECT_EQ(charge.id(), "ch_3P5vStQx4mT9aZrEmImVraX0");
  EXPECT_EQ(charge.amount(), 4900);
  EXPECT_TRUE(charge.captured());
  EXPECT_EQ(charge.balance_transaction_id(), "txn_3P5vStQx4mT9aZrEmImVraX0");
  EXPECT_EQ(charge.payment_intent_id(), "pi_3P5vStQx4mT9aZrEmImVraX0");
  EXPECT_EQ(charge.payment_method_details().type(), "card");
  EXPECT_EQ(charge.payment_method_details().card().brand(), "visa");
  EXPECT_EQ(charge.payment_method_details().card().last4(), "4242");
  EXPECT_EQ(charge.payment_method_details().card().exp_year(), 2027);
  EXPECT_EQ(charge.payment_method_details().card().checks().address_postal_code_check(), "pass");
  EXPECT_FALSE(charge.payment_method_details().card().checks().has_cvc_check());
  EXPECT_EQ(charge.payment_method_details().card().overcapture().maximum_amount_capturable(), 4900);
  EXPECT_EQ(charge.outcome().risk_score(), 27);
  EXPECT_EQ(charge.outcome().network_status(), "approved_by_network");
  EXPECT_EQ(charge.billing_details().address().postal_code(), "94103");
  EXPECT_FALSE(charge.billing_details().address().has_city());
  EXPECT_TRUE(charge.has_fraud_details());  // `{}`: present and empty.
  EXPECT_FALSE(charge.has_shipping());      // null.
}

TEST(TypedExamples, DisputeWithItsBalanceTransactions) {
  ASSERT_OK_AND_ASSIGN(Event event, Convert(ReadEvent("charge.dispute.created.json")));
  const stripe::v1::Dispute& dispute = event.data().dispute();
  EXPECT_EQ(dispute.id(), "du_1PFeDhQx4mT9aZrErlSqJkaf");
  EXPECT_EQ(dispute.charge_id(), "ch_3P5vStQx4mT9aZrEmImVraX0");
  EXPECT_EQ(dispute.reason(), "fraudulent");
  EXPECT_EQ(dispute.evidence_details().due_by(), 1721907600);
  ASSERT_GE(dispute.balance_transactions_size(), 1);
  EXPECT_EQ(dispute.balance_transactions(0).id(), "txn_1P1Y5mQx4mT9aZrEwXltVFmI");
  ASSERT_GE(dispute.balance_transactions(0).fee_details_size(), 1);
  EXPECT_EQ(dispute.balance_transactions(0).fee_details(0).amount(), 1500);
  EXPECT_EQ(dispute.balance_transactions(0).fee_details(0).description(), "Dispute fee");
}

TEST(TypedExamples, InvoiceLinesBeforeBasil) {
  ASSERT_OK_AND_ASSIGN(Event event, Convert(ReadEvent("invoice.paid.json")));
  const stripe::v1::Invoice& invoice = event.data().invoice();
  EXPECT_EQ(invoice.id(), "in_1P7iyOQx4mT9aZrE8o7Kzs7w");
  EXPECT_EQ(invoice.charge_id(), "ch_3PVwKkQx4mT9aZrEi2x2BBvy");
  EXPECT_EQ(invoice.subscription_id(), "sub_1Pl8QsQx4mT9aZrEZ2up13Jm");
  EXPECT_TRUE(invoice.paid());
  EXPECT_EQ(invoice.customer_email(), "jenny.rosen@example.com");
  EXPECT_EQ(invoice.status_transitions().paid_at(), 1719830522);
  EXPECT_FALSE(invoice.has_parent());
  EXPECT_EQ(invoice.lines().total_count(), 1);
  EXPECT_FALSE(invoice.lines().has_more());
  ASSERT_EQ(invoice.lines().data_size(), 1);
  const stripe::v1::LineItem& line = invoice.lines().data(0);
  EXPECT_EQ(line.id(), "il_1P3I2PQx4mT9aZrE8RRRexv9");
  EXPECT_EQ(line.amount(), 2000);
  EXPECT_EQ(line.period().end(), 1722508920);
  EXPECT_EQ(line.price().id(), "price_1PlviuQx4mT9aZrEommLlsY7");
  EXPECT_EQ(line.price().unit_amount(), 2000);
  EXPECT_THAT(invoice.discounts(), IsEmpty());
}

TEST(TypedExamples, InvoiceParentAndPricingFromBasil) {
  ASSERT_OK_AND_ASSIGN(Event event, Convert(ReadEvent("api_2025-03-31.basil/invoice.paid.json")));
  const stripe::v1::Invoice& invoice = event.data().invoice();
  EXPECT_EQ(invoice.charge_case(), stripe::v1::Invoice::CHARGE_NOT_SET);  // Gone in basil.
  EXPECT_FALSE(invoice.has_paid());
  EXPECT_EQ(invoice.parent().type(), "subscription_details");
  EXPECT_EQ(invoice.parent().subscription_details().subscription_id(),
            "sub_1Pl8QsQx4mT9aZrEZ2up13Jm");
  EXPECT_FALSE(invoice.parent().has_quote_details());
  EXPECT_EQ(invoice.issuer().type(), "self");
  EXPECT_TRUE(invoice.has_amount_overpaid());
  ASSERT_EQ(invoice.lines().data_size(), 1);
  const stripe::v1::LineItem& line = invoice.lines().data(0);
  EXPECT_EQ(line.parent().subscription_item_details().subscription_item(), "si_QUyWj81lkm6nLY");
  EXPECT_EQ(line.pricing().price_details().price(), "price_1PlviuQx4mT9aZrEommLlsY7");
  EXPECT_EQ(line.pricing().unit_amount_decimal(), "2000");
}

TEST(TypedExamples, SubscriptionItemsInBothShapes) {
  ASSERT_OK_AND_ASSIGN(Event before, Convert(ReadEvent("customer.subscription.updated.json")));
  const stripe::v1::Subscription& old_shape = before.data().subscription();
  EXPECT_EQ(old_shape.id(), "sub_1Pl8QsQx4mT9aZrEZ2up13Jm");
  EXPECT_EQ(old_shape.current_period_start(), 1719830520);
  EXPECT_EQ(old_shape.default_payment_method_id(), "pm_1PuqFyQx4mT9aZrENdjEINKd");
  ASSERT_EQ(old_shape.items().data_size(), 1);
  EXPECT_EQ(old_shape.items().data(0).id(), "si_QUyWj81lkm6nLY");
  EXPECT_EQ(old_shape.items().data(0).price().unit_amount(), 2000);
  EXPECT_EQ(old_shape.items().data(0).price().recurring().interval(), "month");
  EXPECT_FALSE(old_shape.items().data(0).has_current_period_start());
  EXPECT_FALSE(old_shape.has_discount());  // null

  ASSERT_OK_AND_ASSIGN(
      Event after, Convert(ReadEvent("api_2025-03-31.basil/customer.subscription.updated.json")));
  const stripe::v1::Subscription& new_shape = after.data().subscription();
  EXPECT_FALSE(new_shape.has_current_period_start());
  ASSERT_EQ(new_shape.items().data_size(), 1);
  EXPECT_EQ(new_shape.items().data(0).current_period_start(), 1719830520);
  EXPECT_EQ(new_shape.items().data(0).current_period_end(), 1722508920);
}

TEST(TypedExamples, CheckoutSessionCompleted) {
  ASSERT_OK_AND_ASSIGN(Event event, Convert(ReadEvent("checkout.session.completed.json")));
  const stripe::v1::CheckoutSession& session = event.data().checkout_session();
  EXPECT_EQ(session.object(), "checkout.session");
  EXPECT_EQ(session.customer_details().email(), "jenny.rosen@example.com");
  EXPECT_EQ(session.amount_total(), 4900);
  EXPECT_EQ(session.payment_intent_id(), "pi_3P5vStQx4mT9aZrEmImVraX0");
  EXPECT_EQ(session.mode(), "payment");
  EXPECT_EQ(session.payment_status(), "paid");
  EXPECT_THAT(session.metadata(), UnorderedElementsAre(Pair("order_id", "ord_6735")));
  EXPECT_FALSE(session.custom_text().has_submit());
}

TEST(TypedExamples, AccountWithItsExternalAccounts) {
  ASSERT_OK_AND_ASSIGN(Event event, Convert(ReadEvent("account.updated.json")));
  const stripe::v1::Account& account = event.data().account();
  EXPECT_EQ(account.id(), "acct_1PHk27LpW0sNgnu6");
  EXPECT_EQ(account.type(), "express");
  EXPECT_EQ(account.business_profile().mcc(), "4121");
  // The 2023 schema says non-null; 2024-06-20 sends null: presence keeps it honest.
  EXPECT_TRUE(account.settings().has_bacs_debit_payments());
  EXPECT_FALSE(account.settings().bacs_debit_payments().has_display_name());
  ASSERT_GE(account.external_accounts().data_size(), 1);
  EXPECT_EQ(account.external_accounts().data(0).value_case(),
            stripe::v1::ExternalAccount::kBankAccount);
  EXPECT_EQ(account.external_accounts().data(0).bank_account().id(), "ba_1PtV4pHk27LpW0sNxfSie4nN");
}

TEST(TypedExamples, OtherResources) {
  ASSERT_OK_AND_ASSIGN(Event customer, Convert(ReadEvent("customer.updated.json")));
  EXPECT_EQ(customer.data().customer().email(), "jenny@rosen.example.com");
  EXPECT_THAT(customer.data().customer().preferred_locales(), ElementsAre("en"));
  EXPECT_EQ(customer.data().customer().invoice_settings().default_payment_method_id(),
            "pm_1PuqFyQx4mT9aZrENdjEINKd");
  EXPECT_FALSE(customer.data().customer().has_address());

  ASSERT_OK_AND_ASSIGN(Event pm, Convert(ReadEvent("payment_method.attached.json")));
  EXPECT_EQ(pm.data().payment_method().card().last4(), "4242");
  EXPECT_THAT(pm.data().payment_method().card().networks().available(), ElementsAre("visa"));
  EXPECT_TRUE(pm.data().payment_method().card().three_d_secure_usage().supported());

  ASSERT_OK_AND_ASSIGN(Event payout, Convert(ReadEvent("payout.paid.json")));
  EXPECT_EQ(payout.data().payout().amount(), 184523);
  EXPECT_EQ(payout.data().payout().destination_id(), "ba_1P2lGCQx4mT9aZrE43ihRV0o");

  ASSERT_OK_AND_ASSIGN(Event price, Convert(ReadEvent("price.created.json")));
  EXPECT_EQ(price.data().price().unit_amount_decimal(), "2000");
  EXPECT_EQ(price.data().price().product_id(), "prod_QmZ6UkSXvAY92F");

  ASSERT_OK_AND_ASSIGN(Event setup, Convert(ReadEvent("setup_intent.succeeded.json")));
  EXPECT_EQ(setup.data().setup_intent().usage(), "off_session");
  EXPECT_THAT(setup.data().setup_intent().flow_directions(), IsEmpty());  // null
}

// ---------------------------------------------------------------------------------------------
// Expandable references.

TEST(TypedReferences, AStringFillsTheIdArmAndAnObjectTheObjectArm) {
  const std::string body = ReadEvent("payment_intent.succeeded.json");
  const std::string expanded = WithMember(
      WithMember(body, "customer",
                 R"({"id": "cus_QFHBVRRYa5Khz8", "object": "customer", "email": "j@example.com",
                     "balance": -250, "metadata": {"tier": "pro"}, "brand_new_key": [1, 2]})"),
      "latest_charge",
      R"({"id": "ch_1", "object": "charge", "amount": 4900,
          "payment_method_details": {"type": "card", "card": {"brand": "amex"}}})");

  ASSERT_OK_AND_ASSIGN(Event event, Convert(expanded));
  const stripe::v1::PaymentIntent& pi = event.data().payment_intent();
  ASSERT_EQ(pi.customer_case(), stripe::v1::PaymentIntent::kCustomerObject);
  EXPECT_EQ(pi.customer_object().id(), "cus_QFHBVRRYa5Khz8");
  EXPECT_EQ(pi.customer_object().email(), "j@example.com");
  EXPECT_EQ(pi.customer_object().balance(), -250);
  EXPECT_THAT(pi.customer_object().metadata(), UnorderedElementsAre(Pair("tier", "pro")));
  EXPECT_FALSE(pi.has_customer_id());
  ASSERT_EQ(pi.latest_charge_case(), stripe::v1::PaymentIntent::kLatestChargeObject);
  EXPECT_EQ(pi.latest_charge_object().payment_method_details().card().brand(), "amex");
  EXPECT_THAT(event.data().typed_misses(), IsEmpty());
  // The Struct has the expanded object, unknown key included.
  EXPECT_EQ(StructField(event, "customer")
                .struct_value()
                .fields()
                .at("brand_new_key")
                .list_value()
                .values_size(),
            2);

  ASSERT_OK_AND_ASSIGN(Event plain, Convert(body));
  EXPECT_EQ(plain.data().payment_intent().customer_case(), stripe::v1::PaymentIntent::kCustomerId);
}

TEST(TypedReferences, AnExpandedResourceWithoutAMessageIsAStruct) {
  ASSERT_OK_AND_ASSIGN(
      Event event,
      Convert(WithMember(ReadEvent("charge.succeeded.json"), "application",
                         R"({"id": "ca_1", "object": "application", "name": "Rocket Rides"})")));
  const stripe::v1::Charge& charge = event.data().charge();
  ASSERT_EQ(charge.application_case(), stripe::v1::Charge::kApplicationObject);
  EXPECT_EQ(charge.application_object().fields().at("name").string_value(), "Rocket Rides");
}

TEST(TypedReferences, PolymorphicReferencesPickTheArmByObjectKind) {
  const std::string customer = ReadEvent("customer.created.json");
  ASSERT_OK_AND_ASSIGN(
      Event card, Convert(WithMember(customer, "default_source",
                                     R"({"id": "card_1", "object": "card", "brand": "Visa"})")));
  const stripe::v1::Customer& c = card.data().customer();
  ASSERT_EQ(c.default_source_case(), stripe::v1::Customer::kDefaultSourceObject);
  EXPECT_EQ(c.default_source_object().value_case(), stripe::v1::PaymentSource::kCard);
  EXPECT_EQ(c.default_source_object().card().brand(), "Visa");

  ASSERT_OK_AND_ASSIGN(
      Event bank,
      Convert(WithMember(customer, "default_source",
                         R"({"id": "ba_1", "object": "bank_account", "last4": "6789"})")));
  EXPECT_EQ(bank.data().customer().default_source_object().bank_account().last4(), "6789");

  ASSERT_OK_AND_ASSIGN(Event id, Convert(WithMember(customer, "default_source", R"("card_9")")));
  EXPECT_EQ(id.data().customer().default_source_id(), "card_9");

  // A kind the wrapper does not know: a typed miss; the Struct keeps it.
  ASSERT_OK_AND_ASSIGN(Event unknown,
                       Convert(WithMember(customer, "default_source",
                                          R"({"id": "aa_1", "object": "alipay_account"})")));
  EXPECT_EQ(unknown.data().customer().default_source_case(),
            stripe::v1::Customer::DEFAULT_SOURCE_NOT_SET);
  EXPECT_THAT(unknown.data().typed_misses(), ElementsAre("default_source"));
  EXPECT_EQ(StructField(unknown, "default_source").struct_value().fields().at("id").string_value(),
            "aa_1");
}

TEST(TypedReferences, ReferencesInAListTakeBothForms) {
  ASSERT_OK_AND_ASSIGN(Event event,
                       Convert(WithMember(ReadEvent("invoice.paid.json"), "discounts",
                                          R"(["di_1", {"id": "di_2", "object": "discount",
                             "coupon": {"id": "co_1", "object": "coupon", "percent_off": 12.5}},
                             7])")));
  const stripe::v1::Invoice& invoice = event.data().invoice();
  ASSERT_EQ(invoice.discounts_size(), 2);
  EXPECT_EQ(invoice.discounts(0).id(), "di_1");
  EXPECT_EQ(invoice.discounts(1).object().id(), "di_2");
  EXPECT_EQ(invoice.discounts(1).object().coupon().percent_off(), 12.5);
  EXPECT_THAT(event.data().typed_misses(), ElementsAre("discounts[2]"));
}

TEST(TypedReferences, PolymorphicFamiliesDispatchOnTheObjectsKind) {
  ASSERT_OK_AND_ASSIGN(Event bank,
                       Convert(EventWithObject("account.external_account.created",
                                               R"({"id": "ba_1", "object": "bank_account",
                                                   "bank_name": "STRIPE TEST BANK"})")));
  EXPECT_EQ(bank.data().object_case(), EventData::kBankAccount);
  EXPECT_EQ(bank.data().bank_account().bank_name(), "STRIPE TEST BANK");

  ASSERT_OK_AND_ASSIGN(Event card, Convert(EventWithObject("account.external_account.created",
                                                           R"({"id": "card_1", "object": "card",
                                                               "exp_month": 4})")));
  EXPECT_EQ(card.data().object_case(), EventData::kCard);
  EXPECT_EQ(card.data().card().exp_month(), 4);
}

TEST(TypedReferences, TheObjectKindNotTheEventTypeChoosesTheArm) {
  ASSERT_OK_AND_ASSIGN(Event event, Convert(EventWithObject(
                                        "charge.refund.updated",
                                        R"({"id": "re_1", "object": "refund", "amount": 100})")));
  EXPECT_EQ(event.data().object_case(), EventData::kRefund);
  EXPECT_EQ(event.data().refund().amount(), 100);
}

TEST(TypedReferences, KindsWithoutAMessageConvertWithOnlyTheStruct) {
  for (const char* object :
       {R"({"id": "fee_1", "object": "application_fee", "amount": "not typed"})",
        R"({"id": "x_1"})", R"({"id": "x_1", "object": 7})", R"({"object": "PAYMENT_INTENT"})",
        R"({"object": "checkout_session"})"}) {
    SCOPED_TRACE(object);
    ASSERT_OK_AND_ASSIGN(Event event, Convert(EventWithObject("application_fee.created", object)));
    EXPECT_EQ(event.data().object_case(), EventData::OBJECT_NOT_SET);
    EXPECT_THAT(event.data().typed_misses(), IsEmpty());
    EXPECT_FALSE(event.data().object_struct().fields().empty());
  }
}

TEST(TypedReferences, EveryTypedEventKindHasAnArmAndEveryArmAKind) {
  const internal::TypedWalker& walker = internal::TypedWalker::Get();
  for (const stripe::v1::EventTypeInfo& info : stripe::v1::AllEventTypes()) {
    for (absl::string_view kind : info.possible_kinds) {
      const google::protobuf::Descriptor* message = stripe::v1::MessageForObjectKind(kind);
      const google::protobuf::FieldDescriptor* arm = walker.ArmForKind(kind);
      EXPECT_EQ(arm != nullptr, message != nullptr) << info.type;
      if (arm != nullptr) {
        EXPECT_EQ(arm->message_type(), message) << info.type;
      }
    }
  }
  const google::protobuf::OneofDescriptor* oneof =
      EventData::descriptor()->FindOneofByName("object");
  for (int i = 0; i < oneof->field_count(); ++i) {
    const std::string kind = oneof->field(i)->name() == "checkout_session"
                                 ? "checkout.session"
                                 : oneof->field(i)->name();
    EXPECT_EQ(walker.ArmForKind(kind), oneof->field(i)) << kind;
    EXPECT_GE(oneof->field(i)->number(), 100);
  }
}

// ---------------------------------------------------------------------------------------------
// Metadata, null versus absent.

TEST(TypedValues, MetadataIsAStringMap) {
  const std::string body = ReadEvent("customer.created.json");
  ASSERT_OK_AND_ASSIGN(Event event,
                       Convert(WithMember(body, "metadata",
                                          R"({"a": "1", "b": "", "nul\u0000key": "x\u0000y",
                                          "n": 5, "skip": null, "a": "2"})")));
  EXPECT_THAT(event.data().customer().metadata(),
              UnorderedElementsAre(Pair("a", "2"), Pair("b", ""),
                                   Pair(std::string("nul\0key", 7), std::string("x\0y", 3))));
  EXPECT_THAT(event.data().typed_misses(), ElementsAre("metadata.n"));

  ASSERT_OK_AND_ASSIGN(Event empty, Convert(WithMember(body, "metadata", "{}")));
  EXPECT_THAT(empty.data().customer().metadata(), IsEmpty());
  EXPECT_THAT(empty.data().typed_misses(), IsEmpty());
}

TEST(TypedValues, NullAndAbsentLeaveFieldsUnsetAndZeroIsAValue) {
  const std::string base = EventWithObject(
      "payment_intent.created",
      R"({"id": "pi_1", "object": "payment_intent", "amount": 0, "description": null,
          "livemode": false, "shipping": null, "customer": null, "payment_method_types": null})");
  ASSERT_OK_AND_ASSIGN(Event event, Convert(base));
  const stripe::v1::PaymentIntent& pi = event.data().payment_intent();
  EXPECT_TRUE(pi.has_amount());
  EXPECT_EQ(pi.amount(), 0);
  EXPECT_TRUE(pi.has_livemode());
  EXPECT_FALSE(pi.livemode());
  EXPECT_FALSE(pi.has_description());  // null
  EXPECT_FALSE(pi.has_currency());     // absent
  EXPECT_FALSE(pi.has_shipping());
  EXPECT_EQ(pi.customer_case(), stripe::v1::PaymentIntent::CUSTOMER_NOT_SET);
  EXPECT_THAT(pi.payment_method_types(), IsEmpty());
  EXPECT_THAT(event.data().typed_misses(), IsEmpty());
  // The Struct tells null from absent.
  EXPECT_EQ(StructField(event, "description").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(event.data().object_struct().fields().count("currency"), 0u);
}

TEST(TypedValues, UnknownKeysAreIgnoredAndUnknownEnumValuesKept) {
  ASSERT_OK_AND_ASSIGN(
      Event event, Convert(WithMember(WithMember(ReadEvent("payment_intent.succeeded.json"),
                                                 "status", R"("requires_quantum_confirmation")"),
                                      "field_from_2031", R"({"deep": {"er": [1, {"x": null}]}})")));
  EXPECT_EQ(event.data().payment_intent().status(), "requires_quantum_confirmation");
  EXPECT_THAT(event.data().typed_misses(), IsEmpty());
  EXPECT_TRUE(event.data().object_struct().fields().contains("field_from_2031"));
}

// ---------------------------------------------------------------------------------------------
// Values that do not fit: a typed miss, never an error.

TEST(TypedMisses, MisfitsLeaveTheFieldUnsetAndKeepTheEvent) {
  struct Case {
    const char* key;
    const char* value;
    const char* miss;
  };
  const Case cases[] = {
      {"amount", R"("4900")", "amount"},               // a string where an int belongs
      {"amount", "1180591620717411303424", "amount"},  // 2^70
      {"amount", "18446744073709551615", "amount"},    // 2^64-1: beyond int64
      {"amount", "-9223372036854775809", "amount"},    // below int64
      {"amount", "4900.5", "amount"},                  // a fraction
      {"amount", "4.9e3", "amount"},                   // an exponent
      {"amount", "1e400", "amount"},                   // beyond double
      {"amount", "true", "amount"},
      {"amount", "{}", "amount"},
      {"currency", "{\"code\": \"usd\"}", "currency"},  // an object where a string belongs
      {"currency", "[\"usd\"]", "currency"},
      {"currency", "840", "currency"},
      {"livemode", R"("false")", "livemode"},
      {"metadata", R"(["a", "b"])", "metadata"},
      {"metadata", R"("order_id=1")", "metadata"},
      {"payment_method_types", R"("card")", "payment_method_types"},
      {"customer", "42", "customer"},
      {"customer", "[]", "customer"},
      {"customer", "true", "customer"},
      {"shipping", R"("123 Main St")", "shipping"},
      {"shipping", "[{}]", "shipping"},
      {"latest_charge", R"({"id": "ch_1", "object": "charge", "amount": "x"})",
       "latest_charge.amount"},
      {"payment_method_options", R"({"card": {"request_three_d_secure": 3}})",
       "payment_method_options.card.request_three_d_secure"},
      {"last_payment_error", R"({"payment_method": {"card": {"exp_year": 1e400}}})",
       "last_payment_error.payment_method.card.exp_year"},
  };
  const std::string body = ReadEvent("payment_intent.succeeded.json");
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.key, ": ", c.value));
    const std::string hostile = WithMember(body, c.key, c.value);
    ASSERT_OK_AND_ASSIGN(Event event, Convert(hostile));
    ASSERT_EQ(event.data().object_case(), EventData::kPaymentIntent);
    EXPECT_THAT(event.data().typed_misses(), ElementsAre(c.miss));
    EXPECT_EQ(event.raw_json(), hostile);
    EXPECT_TRUE(event.data().object_struct().fields().contains(c.key));
    const stripe::v1::PaymentIntent& pi = event.data().payment_intent();
    EXPECT_EQ(pi.id(), "pi_3P5vStQx4mT9aZrEmImVraX0");  // The rest still converts.
    EXPECT_EQ(pi.currency().empty(), std::string(c.key) == "currency");
  }
}

TEST(TypedMisses, FieldsAreUnsetAfterAMiss) {
  const std::string body = ReadEvent("payment_intent.succeeded.json");
  ASSERT_OK_AND_ASSIGN(Event amount, Convert(WithMember(body, "amount", "1180591620717411303424")));
  EXPECT_FALSE(amount.data().payment_intent().has_amount());
  // The Struct holds the double; raw_json the exact digits.
  EXPECT_EQ(StructField(amount, "amount").number_value(), 1180591620717411303424.0);

  ASSERT_OK_AND_ASSIGN(Event customer, Convert(WithMember(body, "customer", "42")));
  EXPECT_EQ(customer.data().payment_intent().customer_case(),
            stripe::v1::PaymentIntent::CUSTOMER_NOT_SET);

  ASSERT_OK_AND_ASSIGN(Event types, Convert(WithMember(body, "payment_method_types",
                                                       R"(["card", 7, null, "link"])")));
  EXPECT_THAT(types.data().payment_intent().payment_method_types(), ElementsAre("card", "link"));
  EXPECT_THAT(types.data().typed_misses(),
              ElementsAre("payment_method_types[1]", "payment_method_types[2]"));

  ASSERT_OK_AND_ASSIGN(Event nested,
                       Convert(WithMember(body, "latest_charge",
                                          R"({"id": "ch_1", "object": "charge", "amount": "x"})")));
  ASSERT_TRUE(nested.data().payment_intent().has_latest_charge_object());
  EXPECT_EQ(nested.data().payment_intent().latest_charge_object().id(), "ch_1");
  EXPECT_FALSE(nested.data().payment_intent().latest_charge_object().has_amount());
}

TEST(TypedMisses, PathsNameListIndexesAndNestedKeys) {
  ASSERT_OK_AND_ASSIGN(Event event,
                       Convert(WithMember(ReadEvent("invoice.paid.json"), "lines",
                                          R"({"object": "list", "has_more": "no", "data": [
                               {"id": "il_1", "amount": 1},
                               {"id": "il_2", "period": {"start": 1, "end": "soon"},
                                "metadata": {"k": {"v": 1}}}]})")));
  EXPECT_THAT(event.data().typed_misses(), ElementsAre("lines.has_more", "lines.data[1].period.end",
                                                       "lines.data[1].metadata.k"));
  const stripe::v1::Invoice& invoice = event.data().invoice();
  ASSERT_EQ(invoice.lines().data_size(), 2);
  EXPECT_EQ(invoice.lines().data(1).period().start(), 1);
  EXPECT_FALSE(invoice.lines().data(1).period().has_end());
}

TEST(TypedMisses, DuplicateKeysLastOccurrenceWins) {
  const std::string body =
      EventWithObject("payment_intent.created",
                      R"({"object": "payment_intent", "amount": "x", "amount": 5, "currency": "usd",
          "currency": 7, "customer": {"id": "cus_1"}, "customer": "cus_2",
          "shipping": {"name": "A", "phone": "1"}, "shipping": {"name": "B"}})");
  ASSERT_OK_AND_ASSIGN(Event event, Convert(body));
  const stripe::v1::PaymentIntent& pi = event.data().payment_intent();
  EXPECT_EQ(pi.amount(), 5);
  EXPECT_FALSE(pi.has_currency());
  EXPECT_EQ(pi.customer_id(), "cus_2");
  EXPECT_EQ(pi.shipping().name(), "B");
  EXPECT_FALSE(pi.shipping().has_phone());  // Replaced, not merged.
  // A miss is recorded where it happened, even if a later duplicate fits.
  EXPECT_THAT(event.data().typed_misses(), ElementsAre("amount", "currency"));
}

TEST(TypedMisses, DeepAndLargeInputsStayBoundedAndClean) {
  // Nesting at the document limit (32) through typed fields and a Struct field (level3).
  std::string deep = "1";
  for (int i = 0; i < 26; ++i) deep = absl::StrCat(R"({"k":)", deep, "}");
  ASSERT_OK_AND_ASSIGN(
      Event event,
      Convert(EventWithObject(
          "charge.succeeded",
          absl::StrCat(R"({"object": "charge", "level3": )", deep, R"(, "metadata": )", deep,
                       R"(, "customer": {"object": "customer", "metadata": )", deep, "}}"))));
  EXPECT_TRUE(event.data().charge().has_level3());
  EXPECT_THAT(event.data().typed_misses(), ElementsAre("metadata.k", "customer.metadata.k"));

  // A long array of misfits: every one is recorded, none is kept.
  std::string many = "[";
  for (int i = 0; i < 20000; ++i) absl::StrAppend(&many, i == 0 ? "" : ",", "{}");
  many += "]";
  ASSERT_OK_AND_ASSIGN(Event large, Convert(WithMember(ReadEvent("payment_intent.succeeded.json"),
                                                       "payment_method_types", many)));
  EXPECT_EQ(large.data().typed_misses_size(), 20000);
  EXPECT_EQ(large.data().typed_misses(19999), "payment_method_types[19999]");
  EXPECT_THAT(large.data().payment_intent().payment_method_types(), IsEmpty());
}

TEST(TypedMisses, EveryTopLevelFieldOfEveryResourceSurvivesEveryWrongType) {
  // Each known key of each typed kind, given each JSON type: never an error, never a crash.
  const char* const values[] = {"null", "true",
                                "-1",   "1180591620717411303424",
                                "1.5",  "\"s\"",
                                "[]",   "[1, \"s\", {}, null]",
                                "{}",   R"({"object": "card"})"};
  const internal::TypedWalker& walker = internal::TypedWalker::Get();
  const google::protobuf::OneofDescriptor* oneof =
      EventData::descriptor()->FindOneofByName("object");
  for (int i = 0; i < oneof->field_count(); ++i) {
    const google::protobuf::Descriptor* message = oneof->field(i)->message_type();
    const std::string kind = oneof->field(i)->name() == "checkout_session"
                                 ? "checkout.session"
                                 : oneof->field(i)->name();
    ASSERT_NE(walker.ArmForKind(kind), nullptr) << kind;
    for (int f = 0; f < message->field_count(); ++f) {
      const google::protobuf::FieldDescriptor* field = message->field(f);
      const google::protobuf::OneofDescriptor* ref = field->real_containing_oneof();
      const std::string key = ref != nullptr ? ref->name() : field->name();
      if (key == "object") continue;
      for (const char* value : values) {
        const std::string body = EventWithObject(
            "thing.happened",
            absl::StrCat(R"({"object": ")", kind, R"(", ")", key, R"(": )", value, "}"));
        absl::StatusOr<Event> event = Convert(body);
        ASSERT_TRUE(event.ok()) << body << ": " << event.status();
        EXPECT_EQ(static_cast<int>(event->data().object_case()), oneof->field(i)->number()) << body;
        EXPECT_LE(event->data().typed_misses_size(), 4) << body;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Options, arenas.

TEST(TypedOptions, FillTypedOffLeavesTheOneofAndMissesEmpty) {
  EventConverter::Options options;
  options.fill_typed = false;
  ASSERT_OK_AND_ASSIGN(Event event, EventConverter(options).Convert(WithMember(
                                        ReadEvent("charge.succeeded.json"), "amount", "\"x\"")));
  EXPECT_EQ(event.data().object_case(), EventData::OBJECT_NOT_SET);
  EXPECT_THAT(event.data().typed_misses(), IsEmpty());
  EXPECT_EQ(event.data().object_kind(), "charge");
}

TEST(TypedOptions, ArenaAndHeapConversionsAgree) {
  const std::string body = WithMember(ReadEvent("invoice.paid.json"), "amount_due", "\"x\"");
  ASSERT_OK_AND_ASSIGN(Event heap, Convert(body));
  google::protobuf::Arena arena;
  Event* on_arena = google::protobuf::Arena::CreateMessage<Event>(&arena);
  ASSERT_OK(EventConverter().Convert(body, on_arena));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(heap, *on_arena));
  EXPECT_EQ(on_arena->data().invoice().lines().data(0).amount(), 2000);
  EXPECT_THAT(on_arena->data().typed_misses(), ElementsAre("amount_due"));

  // Converting again into the same Event replaces the typed object and the misses.
  ASSERT_OK(EventConverter().Convert(ReadEvent("charge.succeeded.json"), on_arena));
  EXPECT_EQ(on_arena->data().object_case(), EventData::kCharge);
  EXPECT_THAT(on_arena->data().typed_misses(), IsEmpty());
}

TEST(TypedOptions, TypedEventSurvivesABinaryRoundTrip) {
  ASSERT_OK_AND_ASSIGN(Event event, Convert(ReadEvent("api_2025-03-31.basil/invoice.paid.json")));
  std::string bytes;
  ASSERT_TRUE(event.SerializeToString(&bytes));
  Event parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(event, parsed));
  EXPECT_EQ(parsed.data().invoice().parent().subscription_details().subscription_id(),
            "sub_1Pl8QsQx4mT9aZrEZ2up13Jm");
}

}  // namespace
}  // namespace switchboard::server::convert
