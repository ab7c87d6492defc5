// Fuzz target: the JSON -> switchboard.v1.Event converter on arbitrary bytes. Whatever it
// accepts must serialize and parse back (protobuf refuses invalid UTF-8 and deep nesting, which
// the converter promises to have rejected).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "protos/switchboard/v1/event.pb.h"
#include "server/convert/event_converter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const switchboard::server::convert::EventConverter converter;
  switchboard::v1::Event event;
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  if (converter.Convert(body, &event).ok()) {
    std::string wire;
    if (!event.SerializeToString(&wire)) std::abort();
    switchboard::v1::Event back;
    if (!back.ParseFromString(wire)) std::abort();
  }
  return 0;
}
