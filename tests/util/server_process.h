// ServerProcess: runs the real gateway binary (//server) as a ChildProcess for integration and
// end-to-end tests: ports 0, a temporary data dir, secrets through the environment.
//
// Start() waits for the `listening http=... grpc=... ops=...` line and parses the ports from it.
// Everything the child writes to stderr is kept (Log()) and copied to the test's stderr.
//
// Example:
//   ServerProcess server({.data_dir = dir, .env = {{"STRIPE_WEBHOOK_SECRET", "whsec_x"}}});
//   ASSERT_OK(server.Start());
//   httplib::Client http("127.0.0.1", server.http_port());
//   ASSERT_OK(server.Stop(SIGTERM));  // waits; OK only if the exit code was 0
//
// Thread-safety: one test thread drives it; Log() may be read from any thread.
#ifndef SWITCHBOARD_TESTS_UTIL_SERVER_PROCESS_H_
#define SWITCHBOARD_TESTS_UTIL_SERVER_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/util/child_process.h"

namespace switchboard::testing {

class ServerProcess {
 public:
  struct Options {
    std::string data_dir;
    std::map<std::string, std::string> env;  // added to the child's environment
    std::vector<std::string> extra_flags;
    // Runfiles-relative path of the binary.
    std::string binary = "server/server";
  };

  explicit ServerProcess(Options options) : options_(std::move(options)) {}

  // Starts the process and waits (up to 60 s, a safety net) for its listening line.
  absl::Status Start();
  // Sends `signal` and waits for exit. OK when the process exited with status 0 (or was killed
  // by SIGKILL when that was the signal sent).
  absl::Status Stop(int signal);

  int http_port() const { return http_port_; }
  int grpc_port() const { return grpc_port_; }
  int ops_port() const { return ops_port_; }
  pid_t pid() const { return child_ ? child_->pid() : -1; }
  std::string Log() const { return child_ ? child_->Log() : std::string(); }

 private:
  Options options_;
  std::unique_ptr<ChildProcess> child_;  // killed (SIGKILL) on destruction if still running
  int http_port_ = 0;
  int grpc_port_ = 0;
  int ops_port_ = 0;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_UTIL_SERVER_PROCESS_H_
