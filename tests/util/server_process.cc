#include "tests/util/server_process.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

extern char** environ;

namespace switchboard::testing {

std::string NewTempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(base ? base : "/tmp", "/", name, "_", ::getpid(), "_",
                                 absl::ToUnixNanos(absl::Now()));
  ::mkdir(dir.c_str(), 0700);
  return dir;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Stop(SIGKILL).IgnoreError();
  if (reader_.joinable()) reader_.join();
}

absl::Status ServerProcess::Start() {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return absl::InternalError("pipe failed");
  std::vector<std::string> args = {
      options_.binary,           "--http_addr=127.0.0.1:0", "--grpc_addr=127.0.0.1:0",
      "--ops_addr=127.0.0.1:0", absl::StrCat("--data_dir=", options_.data_dir)};
  args.insert(args.end(), options_.extra_flags.begin(), options_.extra_flags.end());
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  for (const auto& [k, v] : options_.env) env.push_back(absl::StrCat(k, "=", v));

  pid_ = ::fork();
  if (pid_ < 0) return absl::InternalError("fork failed");
  if (pid_ == 0) {
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    std::fprintf(stderr, "execve %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  {
    absl::MutexLock lock(&mu_);
    log_.clear();
    eof_ = false;
  }
  if (reader_.joinable()) reader_.join();
  reader_ = std::thread([this, fd = pipe_fds[0]] { ReadLog(fd); });

  static const std::regex kListening(
      R"(listening http=[^ ]+:(\d+) grpc=[^ ]+:(\d+) ops=[^ ]+:(\d+))");
  absl::MutexLock lock(&mu_);
  std::smatch match;
  auto ready = [&] { return eof_ || std::regex_search(log_, match, kListening); };
  mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(60));
  if (!std::regex_search(log_, match, kListening)) {
    return absl::UnavailableError(absl::StrCat("server did not start; its log:\n", log_));
  }
  http_port_ = std::stoi(match[1]);
  grpc_port_ = std::stoi(match[2]);
  ops_port_ = std::stoi(match[3]);
  return absl::OkStatus();
}

void ServerProcess::ReadLog(int fd) {
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    ssize_t unused = ::write(STDERR_FILENO, buf, static_cast<size_t>(n));
    (void)unused;
    absl::MutexLock lock(&mu_);
    log_.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  absl::MutexLock lock(&mu_);
  eof_ = true;
}

absl::Status ServerProcess::Stop(int signal) {
  if (pid_ <= 0) return absl::FailedPreconditionError("not running");
  ::kill(pid_, signal);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  if (signal == SIGKILL && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
    return absl::OkStatus();
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("server exited with status ", status));
}

std::string ServerProcess::Log() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

}  // namespace switchboard::testing
