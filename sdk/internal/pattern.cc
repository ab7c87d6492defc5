#include "sdk/internal/pattern.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace switchboard::sdk::internal {

bool Pattern::Matches(absl::string_view type) const {
  switch (kind) {
    case Kind::kAll:
      return true;
    case Kind::kPrefix:
      return type.size() > text.size() && absl::StartsWith(type, text);
    case Kind::kExact:
      return type == text;
  }
  return false;
}

absl::StatusOr<Pattern> ParsePattern(absl::string_view pattern) {
  if (pattern.empty()) return absl::InvalidArgumentError("empty event type pattern");
  for (char c : pattern) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat("event type pattern \"", pattern, "\" contains whitespace"));
    }
  }
  if (pattern == "*") return Pattern{Pattern::Kind::kAll, ""};
  const size_t star = pattern.find('*');
  if (star == absl::string_view::npos) return Pattern{Pattern::Kind::kExact, std::string(pattern)};
  if (star == pattern.size() - 1 && pattern.size() >= 3 && pattern[star - 1] == '.') {
    return Pattern{Pattern::Kind::kPrefix, std::string(pattern.substr(0, star))};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("event type pattern \"", pattern,
                   "\": `*` is allowed only alone or as a final `.*` (`payment_intent.*`)"));
}

}  // namespace switchboard::sdk::internal
