// Runs flags_test_main, a handler binary built on sdk/flags.h, as a child process: --help and
// ParseFlags's exits cannot be watched in-process.
#include <stdio.h>
#include <sys/wait.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::sdk {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

struct ChildRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs the test binary (a runfiles-relative path: tests run in the runfiles root) with `args`.
ChildRun RunTestHandler(const std::string& args) {
  ChildRun run;
  FILE* pipe = ::popen(("sdk/flags_test_main " + args + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) run.output.append(buffer, n);
  const int status = ::pclose(pipe);
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  return run;
}

TEST(ParseFlags, HelpShowsTheUsageTheSdkFlagsAndTheHandlersOwnButNotAbseils) {
  const ChildRun run = RunTestHandler("--help");
  EXPECT_THAT(run.output, StartsWith("flags_test_main: a test handler for sdk/flags_test.\n"));
  EXPECT_THAT(run.output, HasSubstr("SWITCHBOARD_GATEWAY_TOKEN"));
  EXPECT_THAT(run.output, HasSubstr("Flags from sdk/flags.cc:"));
  EXPECT_THAT(run.output, HasSubstr("--gateway ("));
  EXPECT_THAT(run.output, HasSubstr("--listen ("));
  EXPECT_THAT(run.output, HasSubstr("Flags from sdk/flags_test_main.cc:"));
  EXPECT_THAT(run.output, HasSubstr("--table ("));
  EXPECT_THAT(run.output, Not(HasSubstr("--flagfile")));
  EXPECT_THAT(run.output, Not(HasSubstr("SetProgramUsageMessage() never called")));
  EXPECT_THAT(run.output, Not(HasSubstr("No flags matched")));
}

TEST(ParseFlags, ParsesTheFlagsAndReturnsThePositionalArguments) {
  const ChildRun run = RunTestHandler("--workers=3 --table=ledger extra");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output, "table=ledger workers=3 subscription=flags-test positional=2\n");
}

TEST(ParseFlags, AnUnknownFlagStopsTheBinary) {
  const ChildRun run = RunTestHandler("--no_such_flag=1");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("no_such_flag"));
}

}  // namespace
}  // namespace switchboard::sdk
