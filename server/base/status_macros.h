// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status and absl::StatusOr.
//
// Debian's abseil (20220623) has no status macros; these are spelled like the ones later abseil
// versions ship so they can be swapped for them. Thread-safe (they are macros).
//
// Example:
//   RETURN_IF_ERROR(store->Flush());
//   ASSIGN_OR_RETURN(auto event, converter.Convert(body));
#ifndef SWITCHBOARD_SERVER_BASE_STATUS_MACROS_H_
#define SWITCHBOARD_SERVER_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SB_STATUS_CONCAT_INNER_(a, b) a##b
#define SB_STATUS_CONCAT_(a, b) SB_STATUS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                      \
  do {                                             \
    absl::Status sb_status_ = (expr);              \
    if (!sb_status_.ok()) return sb_status_;       \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, rexpr) \
  SB_ASSIGN_OR_RETURN_IMPL_(SB_STATUS_CONCAT_(sb_statusor_, __LINE__), lhs, rexpr)

#define SB_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                              \
  if (!statusor.ok()) return statusor.status();         \
  lhs = std::move(statusor).value()

#endif  // SWITCHBOARD_SERVER_BASE_STATUS_MACROS_H_
