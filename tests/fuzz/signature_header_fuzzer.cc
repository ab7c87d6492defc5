// Fuzz target: Stripe-Signature header parsing and verification with arbitrary headers/bodies.
// Input: header bytes, a NUL, then body bytes (no NUL: all of it is the header).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/verify/signature_verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using switchboard::server::verify::SignatureVerifier;
  static const SignatureVerifier* verifier = [] {
    SignatureVerifier::Options options;
    options.secrets = {"whsec_fuzz_one", "whsec_fuzz_two"};
    return SignatureVerifier::Create(options).value().release();
  }();
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const absl::string_view header = input.substr(0, nul);
  const absl::string_view body =
      nul == absl::string_view::npos ? absl::string_view() : input.substr(nul + 1);
  switchboard::server::verify::ParsedSignatureHeader parsed;
  switchboard::server::verify::ParseSignatureHeader(header, &parsed);
  verifier->Verify(header, body, absl::FromUnixSeconds(1700000000));
  return 0;
}
