// SetThreadName: names the calling thread, so `top -H`, `ps -L -o tid,comm`, perf and gdb tell
// the store's writer from an HTTP worker instead of showing every thread as the binary's name.
//
// Linux keeps at most 15 bytes of a name; longer names are cut. Best effort: a failure is
// ignored (a name is a diagnostic, never a reason to stop).
//
// Example:
//   writer_ = std::thread([this] {
//     base::SetThreadName("sb-writer");
//     WriterLoop();
//   });
//
// Thread-safety: names only the calling thread.
#ifndef SWITCHBOARD_SERVER_BASE_THREAD_NAME_H_
#define SWITCHBOARD_SERVER_BASE_THREAD_NAME_H_

#include <string>

#include "absl/strings/string_view.h"

namespace switchboard::base {

void SetThreadName(absl::string_view name);

// The calling thread's name as the kernel has it ("" when it cannot be read).
std::string CurrentThreadName();

}  // namespace switchboard::base

#endif  // SWITCHBOARD_SERVER_BASE_THREAD_NAME_H_
