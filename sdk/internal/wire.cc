#include "sdk/internal/wire.h"

#include "google/protobuf/unknown_field_set.h"

namespace switchboard::sdk::internal {
namespace {

// Length of the valid UTF-8 sequence starting at text[i], or 0 if it is not one (overlongs,
// surrogates and code points above U+10FFFF are invalid, as for protobuf).
size_t Utf8SequenceLength(absl::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    if (b0 == 0xe0) lo = 0xa0;
    if (b0 == 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    if (b0 == 0xf0) lo = 0x90;
    if (b0 == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  }
  return len;
}

bool IsValidUtf8(absl::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t len = Utf8SequenceLength(text, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

}  // namespace

std::optional<std::string> DeliveryIdOf(absl::string_view serialized_delivery) {
  google::protobuf::UnknownFieldSet fields;
  if (!fields.ParseFromArray(serialized_delivery.data(),
                             static_cast<int>(serialized_delivery.size()))) {
    return std::nullopt;
  }
  std::optional<std::string> id;
  for (int i = 0; i < fields.field_count(); ++i) {
    const google::protobuf::UnknownField& field = fields.field(i);
    // The last occurrence wins, as in a normal parse.
    if (field.number() == 1 &&
        field.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      id = field.length_delimited();
    }
  }
  if (id.has_value() && !IsValidUtf8(*id)) return std::nullopt;
  return id;
}

std::string SafeUtf8(absl::string_view text, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  for (size_t i = 0; i < text.size();) {
    size_t len = Utf8SequenceLength(text, i);
    absl::string_view piece = len == 0 ? absl::string_view("?") : text.substr(i, len);
    if (out.size() + piece.size() > max_bytes) break;
    out.append(piece.data(), piece.size());
    i += len == 0 ? 1 : len;
  }
  return out;
}

}  // namespace switchboard::sdk::internal
