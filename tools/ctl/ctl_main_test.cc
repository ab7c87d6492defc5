// The ctl binary as `bazel run` starts it (in its runfiles tree, with BUILD_WORKING_DIRECTORY
// naming the directory the command was typed in).
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs tools/ctl/ctl from the test's working directory (its runfiles tree, like `bazel run`)
// with `env` on top of the test's environment.
Result RunCtl(std::vector<std::string> args, const std::map<std::string, std::string>& env) {
  args.insert(args.begin(), "tools/ctl/ctl");
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (env.count(entry.substr(0, entry.find('='))) == 0) env_strings.push_back(entry);
  }
  for (const auto& [name, value] : env) env_strings.push_back(absl::StrCat(name, "=", value));
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  for (std::string& e : env_strings) envp.push_back(e.data());
  argv.push_back(nullptr);
  envp.push_back(nullptr);

  int fds[2];
  if (::pipe(fds) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  Result result;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof(buffer))) > 0;)
    result.output.append(buffer, n);
  ::close(fds[0]);
  int status = 0;
  if (pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  return result;
}

std::string NewDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name);
  ::mkdir(dir.c_str(), 0700);
  return dir;
}

TEST(CtlUnderBazelRun, ReadsRelativePathsFromTheDirectoryTheCommandWasTypedIn) {
  // An empty CA file is readable and means the system's roots, so ctl gets past dialing and
  // stops at the missing command: that shows which directory it read ca.pem from.
  const std::string dir = NewDir("typed_in");
  std::ofstream(dir + "/ca.pem").close();
  const Result r = RunCtl({"--ca_file=ca.pem"}, {{"BUILD_WORKING_DIRECTORY", dir}});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("no command"));
  EXPECT_THAT(r.output, Not(HasSubstr("cannot read")));

  // Outside `bazel run` the path is relative to the current directory, which has no ca.pem.
  const Result plain = RunCtl({"--ca_file=ca.pem"}, {{"BUILD_WORKING_DIRECTORY", ""}});
  EXPECT_EQ(plain.exit_code, 2) << plain.output;
  EXPECT_THAT(plain.output, HasSubstr("cannot read gateway CA file ca.pem"));
}

TEST(CtlUnderBazelRun, AWorkingDirectoryThatCannotBeEnteredIsAnError) {
  const std::string missing = NewDir("gone") + "/not_there";
  const Result r = RunCtl({"stats"}, {{"BUILD_WORKING_DIRECTORY", missing}});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("cannot enter BUILD_WORKING_DIRECTORY " + missing));
}

}  // namespace
