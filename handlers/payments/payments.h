// The payments handler: Stripe's webhook sample (the `switch (event.type)` in its Node server)
// as a typed Switchboard handler.
//
//   payment_intent.succeeded  -> "PaymentIntent for <amount> <currency> was successful"
//   payment_method.attached   -> "PaymentMethod <id> (<type>) attached to <customer>"
//
// Each function gets the stripe.v1 message, not JSON. This is where fulfilment would go; the
// sample only logs. docs/HANDLERS.md walks through this handler from BUILD to a running process.
//
// Example:
//   sdk::Router router;
//   handlers::payments::Register(router, sdk::PrintLine);
//   return sdk::ServeFromFlags(router, "payments");
//
// Thread-safety: the registered functions are thread-safe when `print` is.
#ifndef SWITCHBOARD_HANDLERS_PAYMENTS_PAYMENTS_H_
#define SWITCHBOARD_HANDLERS_PAYMENTS_PAYMENTS_H_

#include <functional>

#include "absl/strings/string_view.h"
#include "sdk/router.h"

namespace switchboard::handlers::payments {

// Registers the handler's functions, writing its log lines with `print`.
void Register(sdk::Router& router, std::function<void(absl::string_view)> print);

}  // namespace switchboard::handlers::payments

#endif  // SWITCHBOARD_HANDLERS_PAYMENTS_PAYMENTS_H_
