// Fuzz target: what a handler's Deliver stream receives, as the SDK handles it. The input is the
// raw bytes of one message on the stream; Router::DispatchSerialized (what the SDK's
// DeliverStream calls for each message, sdk/internal/deliver_service.cc) decodes it as a
// switchboard.v1.Delivery, answers an undecodable one REJECT by its raw delivery_id, finds the
// registration, decodes the typed payload and maps the function's status to the Ack.
//
// Two routers see every input: one with typed registrations (a REJECTing and an accepting
// typed-misses one), a prefix, an exact raw one and `*`; the same without `*`, so that the
// no-handler path (RETRY, the sdk_no_handler counts) is reached too. The functions read the
// typed messages and return every kind of status (OK, permanent, RetryAfter with a delay taken
// from the event, other errors with long messages taken from the event) and one throws.
//
// Invariants (abort when broken):
//   - a delivery that decodes gets an Ack with its delivery_id;
//   - one that does not decode gets none or a REJECT, with a valid UTF-8 delivery_id;
//   - the outcome is OK, RETRY or REJECT; the message is empty for OK, valid UTF-8 and at most
//     512 bytes; retry_after only on RETRY and a valid non-negative duration;
//   - the Ack serializes and parses back (what the gateway does with it).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/stubs/logging.h"
#include "protos/stripe/v1/resources.pb.h"
#include "protos/switchboard/v1/handler.pb.h"
#include "sdk/event_context.h"
#include "sdk/router.h"
#include "sdk/status.h"

namespace {

namespace sdk = ::switchboard::sdk;
using ::switchboard::v1::Ack;
using ::switchboard::v1::Delivery;

constexpr size_t kMaxAckMessageBytes = 512;

// A UTF-8 check of our own (not the SDK's, whose answer is under test): protobuf's rules, no
// overlongs, surrogates or code points above U+10FFFF.
bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return false;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n;
  }
  return true;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "sdk_delivery_fuzzer: invariant broken: %s\n", what);
    std::abort();
  }
}

// A status chosen by the event's content, so every Ack shape is reached.
// `selector` is unsigned so that sums of fuzzed amounts wrap instead of overflowing.
absl::Status StatusFor(uint64_t selector, absl::string_view text) {
  switch (selector % 6) {
    case 0:
      return absl::OkStatus();
    case 1:
      return sdk::PermanentError(absl::StrCat("bad object: ", text));
    case 2:
      return sdk::RetryAfter(absl::Milliseconds(static_cast<int64_t>(selector)), text);
    case 3:
      return absl::UnavailableError(absl::StrCat(text, text, text, text));  // long
    case 4:
      return sdk::MakePermanent(absl::InternalError(text));
    default:
      throw std::runtime_error(std::string(text));
  }
}

void RegisterAll(sdk::Router& router, bool with_star) {
  router.On<stripe::v1::PaymentIntent>(
      "payment_intent.succeeded",
      [](const sdk::EventContext& ctx, const stripe::v1::PaymentIntent& pi) {
        return StatusFor(
            static_cast<uint64_t>(pi.amount()) + static_cast<uint64_t>(pi.amount_received()),
            absl::StrCat(ctx.id(), " ", pi.currency(), " ", pi.description()));
      });
  router.On<stripe::v1::PaymentIntent>(
      "payment_intent.payment_failed",
      [](const sdk::EventContext& ctx, const stripe::v1::PaymentIntent& pi) {
        std::string text = absl::StrCat(ctx.typed_misses().size(), pi.id());
        for (const std::string& miss : ctx.typed_misses()) absl::StrAppend(&text, " ", miss);
        return StatusFor(static_cast<uint64_t>(pi.has_amount() ? pi.amount() : ctx.attempt()),
                         text);
      },
      sdk::TypedMisses::kAccept);
  router.On<stripe::v1::Invoice>(
      "invoice.paid", [](const sdk::EventContext& ctx, const stripe::v1::Invoice& invoice) {
        uint64_t lines = 0;
        for (const auto& line : invoice.lines().data())
          lines += static_cast<uint64_t>(line.amount());
        return StatusFor(lines + static_cast<uint64_t>(invoice.amount_paid()),
                         absl::StrCat(ctx.subscription(), invoice.number(), invoice.customer_id()));
      });
  router.OnEvent("customer.*", [](const sdk::EventContext& ctx) {
    const auto& fields = ctx.event().data().object_struct().fields();
    std::string text(ctx.account());
    for (const auto& [key, value] : fields) absl::StrAppend(&text, key, value.string_value());
    if (ctx.previous_attributes() != nullptr) absl::StrAppend(&text, "updated");
    return StatusFor(fields.size() + static_cast<uint64_t>(ctx.attempt()), text);
  });
  router.OnEvent("charge.succeeded", [](const sdk::EventContext& ctx) {
    return StatusFor(ctx.livemode() ? 1 : 0, ctx.event().raw_json());
  });
  if (with_star) {
    router.OnEvent(
        "*", [](const sdk::EventContext& ctx) { return StatusFor(ctx.type().size(), ctx.type()); });
  }
  if (!router.Check().ok()) {
    std::fprintf(stderr, "sdk_delivery_fuzzer: %s\n", router.Check().ToString().c_str());
    std::abort();
  }
}

void CheckAck(absl::string_view bytes, const std::optional<Ack>& ack) {
  Delivery delivery;
  const bool decodes = delivery.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  if (decodes) {
    Check(ack.has_value(), "a decodable delivery got no Ack");
    Check(ack->delivery_id() == delivery.delivery_id(), "delivery_id not echoed");
  } else if (ack.has_value()) {
    Check(ack->outcome() == Ack::REJECT, "an undecodable delivery was not REJECTed");
    Check(IsValidUtf8(ack->delivery_id()), "delivery_id of an undecodable delivery not UTF-8");
  }
  if (!ack.has_value()) return;
  Check(ack->outcome() == Ack::OK || ack->outcome() == Ack::RETRY || ack->outcome() == Ack::REJECT,
        "outcome not OK/RETRY/REJECT");
  Check(ack->message().size() <= kMaxAckMessageBytes, "Ack message over 512 bytes");
  Check(IsValidUtf8(ack->message()), "Ack message not valid UTF-8");
  Check(ack->outcome() != Ack::OK || ack->message().empty(), "OK with a message");
  if (ack->has_retry_after()) {
    Check(ack->outcome() == Ack::RETRY, "retry_after on an Ack that is not RETRY");
    Check(ack->retry_after().seconds() >= 0 && ack->retry_after().nanos() >= 0 &&
              ack->retry_after().nanos() < 1000000000,
          "retry_after not a valid non-negative duration");
  }
  std::string wire;
  Check(ack->SerializeToString(&wire), "Ack does not serialize");
  Ack back;
  Check(back.ParseFromString(wire), "Ack does not parse back");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const sdk::Router* with_star = [] {
    // Protobuf logs every delivery that does not parse (invalid UTF-8 in a string): noise here.
    google::protobuf::SetLogHandler(nullptr);
    auto* router = new sdk::Router();
    RegisterAll(*router, /*with_star=*/true);
    return router;
  }();
  static const sdk::Router* without_star = [] {
    auto* router = new sdk::Router();
    RegisterAll(*router, /*with_star=*/false);
    return router;
  }();
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  CheckAck(bytes, with_star->DispatchSerialized(bytes));
  CheckAck(bytes, without_star->DispatchSerialized(bytes));
  return 0;
}
