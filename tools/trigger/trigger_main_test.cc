// The trigger binary as `bazel run` starts it: in its runfiles tree, with BUILD_WORKING_DIRECTORY
// naming the directory the command was typed in.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/child_process.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using Result = ::switchboard::testing::ChildProcess::Finished;

// Runs tools/trigger/trigger from the test's working directory (its runfiles tree, like `bazel
// run`) with `env` on top of the test's environment.
Result RunTrigger(std::vector<std::string> args, std::map<std::string, std::string> env) {
  args.insert(args.begin(), "tools/trigger/trigger");
  return ::switchboard::testing::RunToExit({std::move(args), std::move(env)});
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

constexpr char kEvent[] = R"({"id":"evt_from_my_file","object":"event","type":"invoice.paid"})";

TEST(TriggerUnderBazelRun, ReadsRelativePathsFromTheDirectoryTheCommandWasTypedIn) {
  const std::string dir = ::switchboard::testing::NewTempDir("typed_in");
  WriteFile(dir + "/my_event.json", kEvent);
  WriteFile(dir + "/secret.txt", "whsec_from_a_relative_file\n");
  const Result r = RunTrigger({"--file=my_event.json", "--secret_file=secret.txt", "--print"},
                              {{"BUILD_WORKING_DIRECTORY", dir}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr(kEvent));
  EXPECT_THAT(r.output, HasSubstr("signing with the secret from secret.txt"));

  // The same command outside `bazel run` looks in the current directory, which has no such file.
  const Result plain = RunTrigger({"--file=my_event.json", "--secret_file=secret.txt", "--print"},
                                  {{"BUILD_WORKING_DIRECTORY", ""}});
  EXPECT_EQ(plain.exit_code, 1) << plain.output;
  EXPECT_THAT(plain.output, HasSubstr("cannot read"));
}

TEST(TriggerUnderBazelRun, BuiltInExamplesNeedNothingFromTheRunfiles) {
  const Result r =
      RunTrigger({"payment_intent.succeeded", "--print"},
                 {{"BUILD_WORKING_DIRECTORY", ::switchboard::testing::NewTempDir("elsewhere")},
                  {"STRIPE_WEBHOOK_SECRET", "whsec_test"}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\"type\": \"payment_intent.succeeded\""));
  EXPECT_THAT(r.output, HasSubstr("Stripe-Signature: t="));
}

TEST(TriggerUnderBazelRun, AWorkingDirectoryThatCannotBeEnteredIsAnError) {
  const std::string missing = ::switchboard::testing::NewTempDir("gone") + "/not_there";
  const Result r =
      RunTrigger({"payment_intent.succeeded", "--print"},
                 {{"BUILD_WORKING_DIRECTORY", missing}, {"STRIPE_WEBHOOK_SECRET", "whsec_test"}});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("cannot enter BUILD_WORKING_DIRECTORY " + missing));
  EXPECT_THAT(r.output, Not(HasSubstr("Stripe-Signature")));
}

}  // namespace
