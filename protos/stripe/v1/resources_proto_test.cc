// Checks the shape conventions of the generated stripe.v1 messages that the converter's
// descriptor-driven walker (server/convert/typed_walker.h) and docs/MAPPING.md rely on.
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "protos/stripe/v1/event_types.h"
#include "protos/stripe/v1/resources.pb.h"

namespace stripe::v1 {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::OneofDescriptor;

const FileDescriptor* File() { return Charge::descriptor()->file(); }

bool IsWrapper(const Descriptor* d) {
  return d->real_oneof_decl_count() == 1 && d->oneof_decl(0)->name() == "value" &&
         d->oneof_decl(0)->field_count() == d->field_count();
}

TEST(StripeProtos, EveryMessageFollowsTheMappingConventions) {
  const FileDescriptor* file = File();
  ASSERT_GE(file->message_type_count(), 100);
  for (int i = 0; i < file->message_type_count(); ++i) {
    const Descriptor* d = file->message_type(i);
    SCOPED_TRACE(d->full_name());
    for (int n = 0; n < d->nested_type_count(); ++n) {
      EXPECT_TRUE(d->nested_type(n)->options().map_entry()) << d->nested_type(n)->name();
    }
    EXPECT_EQ(d->enum_type_count(), 0);  // Stripe enums are strings.
    if (IsWrapper(d)) {
      const OneofDescriptor* value = d->oneof_decl(0);
      if (d->FindFieldByName("id") != nullptr) {  // A reference in a list: {id, object}.
        ASSERT_EQ(value->field_count(), 2);
        EXPECT_EQ(d->FindFieldByName("id")->type(), FieldDescriptor::TYPE_STRING);
        ASSERT_NE(d->FindFieldByName("object"), nullptr);
        EXPECT_EQ(d->FindFieldByName("object")->type(), FieldDescriptor::TYPE_MESSAGE);
      } else {  // One arm per object kind, each a message.
        for (int f = 0; f < value->field_count(); ++f) {
          EXPECT_EQ(value->field(f)->type(), FieldDescriptor::TYPE_MESSAGE)
              << value->field(f)->name();
        }
      }
      continue;
    }
    EXPECT_EQ(d->FindOneofByName("value"), nullptr);
    for (int o = 0; o < d->real_oneof_decl_count(); ++o) {
      // An expandable reference: exactly `<key>_id` (string) and `<key>_object` (message).
      const OneofDescriptor* oneof = d->oneof_decl(o);
      SCOPED_TRACE(oneof->name());
      ASSERT_EQ(oneof->field_count(), 2);
      EXPECT_EQ(oneof->field(0)->name(), oneof->name() + "_id");
      EXPECT_EQ(oneof->field(0)->type(), FieldDescriptor::TYPE_STRING);
      EXPECT_EQ(oneof->field(1)->name(), oneof->name() + "_object");
      EXPECT_EQ(oneof->field(1)->type(), FieldDescriptor::TYPE_MESSAGE);
      EXPECT_EQ(d->FindFieldByName(oneof->name()), nullptr);
    }
    for (int f = 0; f < d->field_count(); ++f) {
      const FieldDescriptor* field = d->field(f);
      EXPECT_NE(field->type(), FieldDescriptor::TYPE_ENUM) << field->name();
      EXPECT_NE(field->type(), FieldDescriptor::TYPE_INT32) << field->name();
      EXPECT_NE(field->type(), FieldDescriptor::TYPE_FLOAT) << field->name();
      // Every singular scalar has presence: unset means null or absent, never a real zero.
      if (!field->is_repeated() && field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
        EXPECT_TRUE(field->has_presence()) << field->name();
      }
      if (field->is_map()) {
        EXPECT_EQ(field->message_type()->map_key()->type(), FieldDescriptor::TYPE_STRING);
      }
    }
  }
}

TEST(StripeProtos, ResourcesUseStripeTypesForCommonFields) {
  const Descriptor* pi = PaymentIntent::descriptor();
  EXPECT_EQ(pi->FindFieldByName("amount")->type(), FieldDescriptor::TYPE_INT64);
  EXPECT_EQ(pi->FindFieldByName("created")->type(), FieldDescriptor::TYPE_INT64);
  EXPECT_EQ(pi->FindFieldByName("status")->type(), FieldDescriptor::TYPE_STRING);
  EXPECT_TRUE(pi->FindFieldByName("metadata")->is_map());
  // Nullable scalars have presence; expandable references are oneofs.
  EXPECT_TRUE(pi->FindFieldByName("description")->has_presence());
  EXPECT_TRUE(pi->FindFieldByName("canceled_at")->has_presence());
  ASSERT_NE(pi->FindOneofByName("customer"), nullptr);
  EXPECT_EQ(pi->FindFieldByName("customer_object")->message_type(), Customer::descriptor());
  EXPECT_EQ(pi->FindFieldByName("latest_charge_object")->message_type(), Charge::descriptor());
  // A reference to a resource without a message keeps the expanded form as a Struct.
  EXPECT_EQ(pi->FindFieldByName("application_object")->message_type(),
            google::protobuf::Struct::descriptor());
}

TEST(StripeProtos, BothApiVersionShapesAreInTheModel) {
  // 2024-06-20 and earlier.
  EXPECT_NE(Invoice::descriptor()->FindOneofByName("subscription"), nullptr);
  EXPECT_NE(Invoice::descriptor()->FindFieldByName("paid"), nullptr);
  EXPECT_NE(Subscription::descriptor()->FindFieldByName("current_period_start"), nullptr);
  EXPECT_NE(Product::descriptor()->FindFieldByName("features"), nullptr);
  // 2025-03-31.basil and later.
  EXPECT_EQ(Invoice::descriptor()->FindFieldByName("parent")->message_type(),
            InvoiceParent::descriptor());
  EXPECT_NE(SubscriptionItem::descriptor()->FindFieldByName("current_period_start"), nullptr);
  EXPECT_NE(LineItem::descriptor()->FindFieldByName("pricing"), nullptr);
  EXPECT_NE(Subscription::descriptor()->FindFieldByName("discounts"), nullptr);
  EXPECT_NE(Product::descriptor()->FindFieldByName("marketing_features"), nullptr);
}

TEST(StripeProtos, PolymorphicObjectsAreWrappers) {
  const Descriptor* source = PaymentSource::descriptor();
  ASSERT_TRUE(IsWrapper(source));
  EXPECT_EQ(source->FindFieldByName("card")->message_type(), Card::descriptor());
  EXPECT_EQ(source->FindFieldByName("bank_account")->message_type(), BankAccount::descriptor());
  EXPECT_EQ(source->FindFieldByName("source")->message_type(), Source::descriptor());
  EXPECT_EQ(source->FindFieldByName("account")->message_type(), Account::descriptor());
  EXPECT_EQ(Customer::descriptor()->FindFieldByName("default_source_object")->message_type(),
            source);
  EXPECT_TRUE(IsWrapper(ExternalAccount::descriptor()));
  // Deleted stubs ({id, object, deleted: true}) fit the resource's own message.
  EXPECT_NE(Customer::descriptor()->FindFieldByName("deleted"), nullptr);
}

TEST(StripeProtos, EveryTypedEventKindHasAMessageInThisFile) {
  std::set<std::string> kinds;
  for (const EventTypeInfo& info : AllEventTypes()) {
    for (absl::string_view kind : info.possible_kinds) {
      const Descriptor* message = MessageForObjectKind(kind);
      if (message == nullptr) continue;
      EXPECT_EQ(message->file(), File()) << kind;
      EXPECT_FALSE(IsWrapper(message)) << kind;
      EXPECT_NE(message->FindFieldByName("object"), nullptr) << kind;
      kinds.emplace(kind);
    }
  }
  EXPECT_GE(kinds.size(), 20u);
}

}  // namespace
}  // namespace stripe::v1
