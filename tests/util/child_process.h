// ChildProcess: runs a binary (a handler, the gateway, the Python handler) as a child of a test,
// with its stdout and stderr captured together (Log()) and copied to the test's stderr.
// ServerProcess (server_process.h) builds the gateway on it.
//
// Example:
//   ChildProcess handler({.argv = {"tests/e2e/test_handler", "--record=" + path}});
//   ASSERT_TRUE(handler.Start().ok());
//   ASSERT_TRUE(handler.WaitForLog("sdk_serving", absl::Seconds(60)));
//   EXPECT_EQ(handler.Stop(SIGTERM), 0);
//   ChildProcess::Finished ctl = RunToExit({.argv = {"tools/ctl/ctl", "subs", "list"}});
//
// Thread-safety: one test thread drives it; Log() and WaitForLog() may be used from any thread.
#ifndef SWITCHBOARD_TESTS_UTIL_CHILD_PROCESS_H_
#define SWITCHBOARD_TESTS_UTIL_CHILD_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace switchboard::testing {

class ChildProcess {
 public:
  struct Options {
    std::vector<std::string> argv;           // argv[0]: a path (runfiles-relative is fine)
    std::map<std::string, std::string> env;  // added to the test's environment
  };

  explicit ChildProcess(Options options) : options_(std::move(options)) {}
  // Kills (SIGKILL) a child still running.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Forks and execs. kInternal when fork/pipe fails (exec failures show in the log and exit
  // status 127).
  absl::Status Start();

  // Waits until the log contains `text`, the child's output ends, or `timeout` passes. True
  // when the text was seen.
  bool WaitForLog(const std::string& text, absl::Duration timeout);

  // Sends `signal`, waits for the exit and returns the wait status decoded: the exit code, or
  // 128 + the signal number when killed by a signal; -1 when not running.
  int Stop(int signal);
  // Waits for the child to end by itself; the same return value as Stop.
  int Wait();

  struct Finished {
    int exit_code = -1;  // as Stop returns it; -1 when it could not start
    std::string output;  // stdout and stderr together
  };

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  std::string Log() const;

 private:
  void ReadOutput(int fd);

  Options options_;
  pid_t pid_ = -1;
  std::thread reader_;
  mutable absl::Mutex mu_;
  std::string log_ ABSL_GUARDED_BY(mu_);
  bool eof_ ABSL_GUARDED_BY(mu_) = false;
};

// Runs a command to its end (a command-line tool under test).
ChildProcess::Finished RunToExit(ChildProcess::Options options);

// A fresh directory under TEST_TMPDIR (the name plus a unique suffix), mode 0700.
std::string NewTempDir(const std::string& name);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_UTIL_CHILD_PROCESS_H_
