// Internal to //sdk: event type patterns as Subscription.event_types spells them: exact
// (`payment_intent.succeeded`), prefix (`payment_intent.*`, which matches every type starting
// with `payment_intent.`, so `charge.*` also matches `charge.dispute.created`) and all (`*`).
//
// Thread-safety: immutable values and pure functions.
#ifndef SWITCHBOARD_SDK_INTERNAL_PATTERN_H_
#define SWITCHBOARD_SDK_INTERNAL_PATTERN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::sdk::internal {

struct Pattern {
  enum class Kind { kExact, kPrefix, kAll };
  Kind kind = Kind::kExact;
  // kExact: the type; kPrefix: the type's start including the final '.'; kAll: empty.
  std::string text;

  bool Matches(absl::string_view type) const;
};

// Parses a pattern. kInvalidArgument when it is empty, contains whitespace or control
// characters, or uses `*` anywhere but as the whole pattern or as a final `.*` after a
// non-empty prefix.
absl::StatusOr<Pattern> ParsePattern(absl::string_view pattern);

}  // namespace switchboard::sdk::internal

#endif  // SWITCHBOARD_SDK_INTERNAL_PATTERN_H_
