// The logger handler: one line per event it receives (id, type, attempt), for every event type.
// A starting point and a debugging aid: run it next to the gateway to watch deliveries.
//
// Example:
//   sdk::Router router;
//   handlers::logger::Register(router, sdk::PrintLine);
//   // line: "event id=evt_1 type=payment_intent.succeeded attempt=1"
//
// Thread-safety: the registered function is thread-safe when `print` is.
#ifndef SWITCHBOARD_HANDLERS_LOGGER_LOGGER_H_
#define SWITCHBOARD_HANDLERS_LOGGER_LOGGER_H_

#include <functional>

#include "absl/strings/string_view.h"
#include "sdk/router.h"

namespace switchboard::handlers::logger {

// Registers the logger for every event type ("*"), writing each line with `print`.
void Register(sdk::Router& router, std::function<void(absl::string_view)> print);

}  // namespace switchboard::handlers::logger

#endif  // SWITCHBOARD_HANDLERS_LOGGER_LOGGER_H_
