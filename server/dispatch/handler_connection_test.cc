#include "server/dispatch/handler_connection.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "protos/switchboard/v1/handler.pb.h"

namespace switchboard::server::dispatch {
namespace {

switchboard::v1::Delivery Sample() {
  switchboard::v1::Delivery d;
  d.set_delivery_id("0123abcd-42");
  d.set_attempt(3);
  d.set_subscription("billing");
  d.mutable_event()->set_id("evt_1");
  d.mutable_event()->set_type("charge.succeeded");
  d.mutable_event()->set_raw_json(std::string(300, 'x'));  // a length over one varint byte
  return d;
}

TEST(EncodedDelivery, IsExactlyTheSerializedDelivery) {
  const switchboard::v1::Delivery d = Sample();
  const EncodedDelivery e = EncodedDelivery::FromDelivery(d);
  EXPECT_EQ(e.delivery_id, "0123abcd-42");
  EXPECT_EQ(e.size(), d.ByteSizeLong());
  switchboard::v1::Delivery back;
  ASSERT_TRUE(e.Decode(&back));
  EXPECT_EQ(back.SerializeAsString(), d.SerializeAsString());
}

TEST(EncodedDelivery, SharesTheEventBytes) {
  auto event = std::make_shared<const std::string>(Sample().event().SerializeAsString());
  const EncodedDelivery a = EncodedDelivery::Make("d-1", 1, "one", event);
  const EncodedDelivery b = EncodedDelivery::Make("d-2", 2, "two", event);
  EXPECT_EQ(a.event.get(), b.event.get());
  switchboard::v1::Delivery da;
  switchboard::v1::Delivery db;
  ASSERT_TRUE(a.Decode(&da));
  ASSERT_TRUE(b.Decode(&db));
  EXPECT_EQ(da.attempt(), 1);
  EXPECT_EQ(db.attempt(), 2);
  EXPECT_EQ(db.subscription(), "two");
  EXPECT_EQ(da.event().id(), "evt_1");
  EXPECT_EQ(db.event().type(), "charge.succeeded");
}

TEST(EncodedDelivery, LeavesDefaultFieldsOut) {
  switchboard::v1::Delivery d;
  d.mutable_event();
  const EncodedDelivery e = EncodedDelivery::FromDelivery(d);
  EXPECT_EQ(e.head, std::string("\x1a\x00", 2));  // only the (empty) event field
  EXPECT_EQ(e.size(), d.ByteSizeLong());
}

}  // namespace
}  // namespace switchboard::server::dispatch
