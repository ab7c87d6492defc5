#include "server/store/event_store.h"

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace switchboard::server::store {

bool TypeMatches(absl::string_view pattern, absl::string_view type) {
  if (pattern == "*") return true;
  if (absl::EndsWith(pattern, ".*")) {
    // Keep the dot: `charge.*` matches `charge.dispute.created` but neither `charge` nor
    // `charges.x`.
    pattern.remove_suffix(1);
    return absl::StartsWith(type, pattern);
  }
  return pattern == type;
}

}  // namespace switchboard::server::store
