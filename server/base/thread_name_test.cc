#include "server/base/thread_name.h"

#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace switchboard::base {
namespace {

std::string NameSetOnNewThread(const std::string& name) {
  std::string seen;
  std::thread t([&] {
    SetThreadName(name);
    seen = CurrentThreadName();
  });
  t.join();
  return seen;
}

TEST(ThreadNameTest, NamesTheCallingThreadOnly) {
  const std::string before = CurrentThreadName();
  EXPECT_EQ(NameSetOnNewThread("sb-writer"), "sb-writer");
  EXPECT_EQ(CurrentThreadName(), before);
}

TEST(ThreadNameTest, CutsNamesToTheKernelsFifteenBytes) {
  EXPECT_EQ(NameSetOnNewThread("sb-a-name-much-longer-than-fifteen"), "sb-a-name-much-");
}

}  // namespace
}  // namespace switchboard::base
