// SplitSecrets: how every secret source is read (STRIPE_WEBHOOK_SECRET, secrets files, gateway
// token files, the development secret), by the gateway and by tools/trigger alike, so a file that
// works for one works for the other.
//
// Example:
//   std::vector<std::string> secrets = base::SplitSecrets("# rotated\nwhsec_new, whsec_old\n");
//   // {"whsec_new", "whsec_old"}: during a rotation the first one signs.
//
// Thread-safety: a plain function.
#ifndef SWITCHBOARD_SERVER_BASE_SECRET_LIST_H_
#define SWITCHBOARD_SERVER_BASE_SECRET_LIST_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace switchboard::base {

// Splits a comma- or newline-separated list of secrets, trimming whitespace, dropping empties
// and lines that start with `#` (comments in a secrets file).
std::vector<std::string> SplitSecrets(absl::string_view text);

}  // namespace switchboard::base

#endif  // SWITCHBOARD_SERVER_BASE_SECRET_LIST_H_
