// Line output for handlers and the SDK itself.
//
// PrintLine writes one line to stdout for handler functions that report what they did (the
// example handlers log each event this way). LogInfo / LogWarning write the SDK's own
// structured lines to stderr, `<UTC time> <LEVEL> <event> key=value ...`, like the gateway.
// Every line goes out with one write(2), so lines from concurrent handler calls never mix.
//
// Example:
//   sdk::PrintLine(absl::StrCat("PaymentIntent for ", pi.amount(), " was successful"));
//   sdk::LogWarning(absl::StrCat("sdk_reject id=evt_1 reason=", sdk::Quoted(message)));
//
// Thread-safety: thread-safe.
#ifndef SWITCHBOARD_SDK_LOG_H_
#define SWITCHBOARD_SDK_LOG_H_

#include <string>

#include "absl/strings/string_view.h"

namespace switchboard::sdk {

// Writes `line` and a newline to stdout in one write (a short write is retried).
void PrintLine(absl::string_view line);

// Writes `<UTC time> INFO|WARN <text>` and a newline to stderr in one write. Control characters
// in `text` are written as \n, \r, \t or \xNN: one call is always one line.
void LogInfo(absl::string_view text);
void LogWarning(absl::string_view text);

// `"value"` with `"` and `\` escaped, for a value from outside (an error message, a handler's
// reason) in a key=value line: it cannot end early and fake a key=value after it. The gateway's
// logs quote the same way.
std::string Quoted(absl::string_view value);

}  // namespace switchboard::sdk

#endif  // SWITCHBOARD_SDK_LOG_H_
