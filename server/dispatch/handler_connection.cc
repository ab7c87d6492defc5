#include "server/dispatch/handler_connection.h"

#include <utility>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"

namespace switchboard::server::dispatch {

using ::google::protobuf::internal::WireFormatLite;

EncodedDelivery EncodedDelivery::Make(std::string delivery_id, int32_t attempt,
                                      const std::string& subscription,
                                      std::shared_ptr<const std::string> event) {
  EncodedDelivery out;
  {
    google::protobuf::io::StringOutputStream stream(&out.head);
    google::protobuf::io::CodedOutputStream coded(&stream);
    // Field numbers and types of switchboard.v1.Delivery (handler.proto); proto3 leaves
    // default values out, as SerializeToString would.
    if (!delivery_id.empty()) WireFormatLite::WriteString(1, delivery_id, &coded);
    if (attempt != 0) WireFormatLite::WriteInt32(2, attempt, &coded);
    if (!subscription.empty()) WireFormatLite::WriteString(4, subscription, &coded);
    WireFormatLite::WriteTag(3, WireFormatLite::WIRETYPE_LENGTH_DELIMITED, &coded);
    coded.WriteVarint32(static_cast<uint32_t>(event->size()));
  }
  out.delivery_id = std::move(delivery_id);
  out.event = std::move(event);
  return out;
}

EncodedDelivery EncodedDelivery::FromDelivery(const switchboard::v1::Delivery& delivery) {
  return Make(delivery.delivery_id(), delivery.attempt(), delivery.subscription(),
              std::make_shared<const std::string>(delivery.event().SerializeAsString()));
}

bool EncodedDelivery::Decode(switchboard::v1::Delivery* out) const {
  return out->ParseFromString(head + *event);
}

}  // namespace switchboard::server::dispatch
