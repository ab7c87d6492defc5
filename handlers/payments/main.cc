// `bazel run //handlers/payments`: Stripe's webhook sample as a typed handler. Flags: sdk/flags.h.
#include "absl/flags/parse.h"
#include "handlers/payments/payments.h"
#include "sdk/flags.h"
#include "sdk/log.h"

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  switchboard::sdk::Router router;
  switchboard::handlers::payments::Register(router, switchboard::sdk::PrintLine);
  return switchboard::sdk::ServeFromFlags(router, "payments");
}
