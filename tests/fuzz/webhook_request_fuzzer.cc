// Fuzz target: the whole webhook request path (framing headers, signature, conversion, store)
// through WebhookHandler::Handle, with an in-memory store.
// Input: byte 0 selects options, then header block and body separated by the first NUL:
//   header block: lines "Name: value" separated by '\n'.
//   option bit 0: replace Stripe-Signature with a correct one for the body, so the fuzzer
//   reaches the converter and the store.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/base/clock.h"
#include "server/convert/event_converter.h"
#include "server/ingress/webhook_handler.h"
#include "server/metrics/metrics.h"
#include "server/store/memory_event_store.h"
#include "server/verify/signature_verifier.h"
#include "server/verify/signing.h"

namespace {

using namespace switchboard::server;  // NOLINT: a fuzz harness

constexpr char kSecret[] = "whsec_fuzz_webhook";
constexpr int64_t kNow = 1700000000;

struct Harness {
  switchboard::base::FakeClock clock{absl::FromUnixSeconds(kNow)};
  metrics::Registry registry;
  convert::EventConverter converter;
  store::MemoryEventStore store;
  std::unique_ptr<ingress::WebhookHandler> handler;

  Harness() {
    verify::SignatureVerifier::Options vo;
    vo.secrets = {kSecret};
    ingress::WebhookHandler::Options options;
    options.endpoints.push_back({"/webhook", verify::SignatureVerifier::Create(vo).value()});
    options.max_body_bytes = 64 * 1024;
    ingress::WebhookHandler::Deps deps;
    deps.store = &store;
    deps.converter = &converter;
    deps.clock = &clock;
    deps.metrics = &registry;
    handler = ingress::WebhookHandler::Create(std::move(options), std::move(deps)).value();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness* harness = new Harness();
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const absl::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t nul = input.find('\0');
  const absl::string_view header_block = input.substr(0, nul);
  ingress::HttpRequest request;
  request.method = (flags & 2) ? "GET" : "POST";
  request.path = (flags & 4) ? "/readyz" : "/webhook";
  if (nul != absl::string_view::npos) request.body = std::string(input.substr(nul + 1));
  for (absl::string_view line : absl::StrSplit(header_block, '\n', absl::SkipEmpty())) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    request.headers.emplace_back(
        std::string(line.substr(0, colon)),
        std::string(absl::StripLeadingAsciiWhitespace(line.substr(colon + 1))));
  }
  if (flags & 1) {
    request.headers.emplace_back("Content-Length", std::to_string(request.body.size()));
    request.headers.emplace_back("Stripe-Signature",
                                 verify::SignatureHeader(kSecret, kNow, request.body));
  }
  ingress::HttpResponse response = harness->handler->Handle(request);
  if (response.status < 200 || response.status > 599) std::abort();
  return 0;
}
