// CaptureStderr: what a piece of code writes to the process's stderr (file descriptor 2), for
// tests of log output. The descriptor is pointed at a file under TEST_TMPDIR while `write` runs,
// then restored; output of other threads meanwhile is captured too.
//
// Example:
//   const std::string text = testing::CaptureStderr([] { SB_LOG(INFO) << "x"; });
//
// Thread-safety: one capture at a time per process.
#ifndef SWITCHBOARD_TESTS_UTIL_CAPTURE_STDERR_H_
#define SWITCHBOARD_TESTS_UTIL_CAPTURE_STDERR_H_

#include <functional>
#include <string>

namespace switchboard::testing {

std::string CaptureStderr(const std::function<void()>& write);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_UTIL_CAPTURE_STDERR_H_
