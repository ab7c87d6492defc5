#include "tests/util/server_process.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace switchboard::testing {

absl::Status ServerProcess::Start() {
  std::vector<std::string> argv = {options_.binary, "--http_addr=127.0.0.1:0",
                                   "--grpc_addr=127.0.0.1:0", "--ops_addr=127.0.0.1:0",
                                   absl::StrCat("--data_dir=", options_.data_dir)};
  argv.insert(argv.end(), options_.extra_flags.begin(), options_.extra_flags.end());
  child_ = std::make_unique<ChildProcess>(ChildProcess::Options{std::move(argv), options_.env});
  if (absl::Status started = child_->Start(); !started.ok()) return started;

  static const std::regex kListening(
      R"(listening http=[^ ]+:(\d+) grpc=[^ ]+:(\d+) ops=[^ ]+:(\d+))");
  child_->WaitForLog("listening http=", absl::Seconds(60));
  const std::string log = child_->Log();
  std::smatch match;
  if (!std::regex_search(log, match, kListening)) {
    return absl::UnavailableError(absl::StrCat("server did not start; its log:\n", log));
  }
  http_port_ = std::stoi(match[1]);
  grpc_port_ = std::stoi(match[2]);
  ops_port_ = std::stoi(match[3]);
  return absl::OkStatus();
}

absl::Status ServerProcess::Stop(int signal) {
  if (child_ == nullptr || !child_->running()) {
    return absl::FailedPreconditionError("not running");
  }
  const int code = child_->Stop(signal);
  if (code == 0 || (signal == SIGKILL && code == 128 + SIGKILL)) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("server exited with code ", code));
}

}  // namespace switchboard::testing
