// Writes the seed corpus of sdk_delivery_fuzzer: serialized switchboard.v1.Deliveries of a few
// example events (tests/testdata/events), converted by the gateway's EventConverter as the
// dispatcher does, so they reach every kind of registration in the fuzzer's router; plus a
// partial typed message (typed misses) and a delivery that does not decode.
//
// From the workspace root:
//   bazel run //tests/fuzz:sdk_delivery_seeds -- "$PWD/tests/testdata/events" "$OUT"
// with OUT="$PWD/tests/fuzz/corpus/sdk_delivery".
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "protos/switchboard/v1/handler.pb.h"
#include "server/convert/event_converter.h"

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

bool WriteFile(const std::string& path, absl::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: sdk_delivery_seeds EVENTS_DIR OUT_DIR\n");
    return 2;
  }
  const std::string events = argv[1];
  const std::string out = argv[2];
  const switchboard::server::convert::EventConverter converter;
  struct Seed {
    const char* name;
    const char* event_file;
    // Applied to the JSON before conversion (a value that does not fit its typed field).
    const char* from = nullptr;
    const char* to = nullptr;
    bool keep_raw_json = false;
  };
  const Seed seeds[] = {
      {"payment_intent_succeeded", "payment_intent.succeeded.json"},
      {"payment_intent_succeeded_typed_miss", "payment_intent.succeeded.json", "\"amount\": 4900",
       "\"amount\": \"4900\""},
      {"payment_intent_payment_failed_typed_miss", "payment_intent.payment_failed.json",
       "\"amount\": 2000", "\"amount\": \"2000\""},
      {"invoice_paid", "invoice.paid.json"},
      {"customer_updated", "customer.updated.json"},
      {"charge_succeeded", "charge.succeeded.json", nullptr, nullptr, /*keep_raw_json=*/true},
      {"payout_paid", "payout.paid.json"},
      {"thin_v2", "thin_v2_example.json"},
  };
  int n = 0;
  for (const Seed& seed : seeds) {
    std::string json = ReadFile(absl::StrCat(events, "/", seed.event_file));
    if (seed.from != nullptr) {
      const std::string changed = absl::StrReplaceAll(json, {{seed.from, seed.to}});
      if (changed == json) {
        std::fprintf(stderr, "%s: \"%s\" not found\n", seed.name, seed.from);
        return 1;
      }
      json = changed;
    }
    switchboard::v1::Delivery delivery;
    if (absl::Status s = converter.Convert(json, delivery.mutable_event()); !s.ok()) {
      std::fprintf(stderr, "%s: %s\n", seed.name, s.ToString().c_str());
      return 1;
    }
    // Small seeds: the raw JSON repeats what the Struct holds.
    if (!seed.keep_raw_json) delivery.mutable_event()->clear_raw_json();
    delivery.set_delivery_id(absl::StrCat("dlv_seed_", ++n));
    delivery.set_attempt(n);
    delivery.set_subscription("fuzz");
    if (!WriteFile(absl::StrCat(out, "/", seed.name), delivery.SerializeAsString())) return 1;
  }
  // A delivery the generated classes refuse (invalid UTF-8 in event.id, field 3.1) whose
  // delivery_id can still be read from the wire: answered REJECT.
  const std::string undecodable = std::string(
      "\x0a\x07"
      "dlv_bad"
      "\x1a\x04\x0a\x02\xc3\x28",
      13);
  if (!WriteFile(absl::StrCat(out, "/undecodable_event_id"), undecodable)) return 1;
  std::printf("wrote %d seeds to %s\n", n + 1, out.c_str());
  return 0;
}
