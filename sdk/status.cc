#include "sdk/status.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace switchboard::sdk {
namespace {

// Payload type URLs (absl::Status payloads are keyed by a URL-like string).
constexpr char kPermanentUrl[] = "type.switchboard.dev/sdk.Permanent";
constexpr char kRetryAfterUrl[] = "type.switchboard.dev/sdk.RetryAfterNanos";

}  // namespace

absl::Status PermanentError(absl::string_view message) {
  return MakePermanent(absl::FailedPreconditionError(message));
}

absl::Status MakePermanent(absl::Status status) {
  if (status.ok()) return status;
  status.SetPayload(kPermanentUrl, absl::Cord("1"));
  return status;
}

bool IsPermanentError(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kPermanentUrl).has_value();
}

absl::Status RetryAfter(absl::Duration delay, absl::string_view message) {
  absl::Status status = absl::UnavailableError(message);
  const int64_t nanos = absl::ToInt64Nanoseconds(std::max(delay, absl::ZeroDuration()));
  status.SetPayload(kRetryAfterUrl, absl::Cord(absl::StrCat(nanos)));
  return status;
}

std::optional<absl::Duration> RetryAfterOf(const absl::Status& status) {
  auto payload = status.GetPayload(kRetryAfterUrl);
  if (!payload.has_value()) return std::nullopt;
  int64_t nanos = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &nanos) || nanos < 0) return std::nullopt;
  return absl::Nanoseconds(nanos);
}

}  // namespace switchboard::sdk
