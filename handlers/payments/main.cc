// `bazel run //handlers/payments`: Stripe's webhook sample as a typed handler. Flags: sdk/flags.h.
#include "handlers/payments/payments.h"
#include "sdk/flags.h"
#include "sdk/log.h"

int main(int argc, char** argv) {
  switchboard::sdk::ParseFlags(argc, argv,
                               "Stripe's webhook sample as a typed handler (docs/HANDLERS.md).");
  switchboard::sdk::Router router;
  switchboard::handlers::payments::Register(router, switchboard::sdk::PrintLine);
  return switchboard::sdk::ServeFromFlags(router, "payments");
}
