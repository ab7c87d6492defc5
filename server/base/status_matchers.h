// GoogleTest helpers for absl::Status, spelled like later abseil's so they can be swapped.
//
// Example:
//   EXPECT_OK(store->Append(event));
//   ASSERT_OK_AND_ASSIGN(auto event, converter.Convert(body));
//   EXPECT_THAT(result.status(), StatusIs(absl::StatusCode::kInvalidArgument));
#ifndef SWITCHBOARD_SERVER_BASE_STATUS_MATCHERS_H_
#define SWITCHBOARD_SERVER_BASE_STATUS_MATCHERS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::base {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER_P(StatusIs, code, "has status code " + testing::PrintToString(code)) {
  const absl::Status& status = ::switchboard::base::GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code;
}

}  // namespace switchboard::base

#define EXPECT_OK(expr) EXPECT_TRUE(::switchboard::base::GetStatus(expr).ok()) \
    << ::switchboard::base::GetStatus(expr)
#define ASSERT_OK(expr) ASSERT_TRUE(::switchboard::base::GetStatus(expr).ok()) \
    << ::switchboard::base::GetStatus(expr)

#define SB_MATCHERS_CONCAT_INNER_(a, b) a##b
#define SB_MATCHERS_CONCAT_(a, b) SB_MATCHERS_CONCAT_INNER_(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  SB_ASSERT_OK_AND_ASSIGN_IMPL_(SB_MATCHERS_CONCAT_(sb_statusor_, __LINE__), lhs, rexpr)
#define SB_ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  ASSERT_TRUE(statusor.ok()) << statusor.status();          \
  lhs = std::move(statusor).value()

#endif  // SWITCHBOARD_SERVER_BASE_STATUS_MATCHERS_H_
