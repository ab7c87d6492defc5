#include "server/base/thread_name.h"

#include <pthread.h>

#include <string>

namespace switchboard::base {

// The kernel's limit (TASK_COMM_LEN) less the terminating NUL.
constexpr size_t kMaxNameBytes = 15;

void SetThreadName(absl::string_view name) {
  const std::string cut(name.substr(0, kMaxNameBytes));
  pthread_setname_np(pthread_self(), cut.c_str());
}

std::string CurrentThreadName() {
  char name[kMaxNameBytes + 1] = {};
  if (pthread_getname_np(pthread_self(), name, sizeof(name)) != 0) return "";
  return name;
}

}  // namespace switchboard::base
