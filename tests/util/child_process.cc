#include "tests/util/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace switchboard::testing {

ChildProcess::~ChildProcess() {
  if (pid_ > 0) Stop(SIGKILL);
  if (reader_.joinable()) reader_.join();
}

absl::Status ChildProcess::Start() {
  if (pid_ > 0) return absl::FailedPreconditionError("already running");
  int fds[2];
  // Close-on-exec, so other children (started later) do not hold this pipe open.
  if (::pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  std::vector<std::string> env;
  // Options::env replaces inherited variables of the same name (getenv finds the first).
  for (char** e = environ; *e != nullptr; ++e) {
    const absl::string_view entry(*e);
    if (options_.env.count(std::string(entry.substr(0, entry.find('=')))) == 0) {
      env.emplace_back(entry);
    }
  }
  for (const auto& [k, v] : options_.env) env.push_back(absl::StrCat(k, "=", v));
  std::vector<std::string> args = options_.argv;

  pid_ = ::fork();
  if (pid_ < 0) return absl::InternalError("fork failed");
  if (pid_ == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    std::fprintf(stderr, "execve %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(fds[1]);
  if (reader_.joinable()) reader_.join();
  {
    absl::MutexLock lock(&mu_);
    log_.clear();
    eof_ = false;
  }
  reader_ = std::thread([this, fd = fds[0]] { ReadOutput(fd); });
  return absl::OkStatus();
}

void ChildProcess::ReadOutput(int fd) {
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
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

bool ChildProcess::WaitForLog(const std::string& text, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return eof_ || absl::StrContains(log_, text);
  };
  mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  return absl::StrContains(log_, text);
}

int ChildProcess::Stop(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  return Wait();
}

int ChildProcess::Wait() {
  if (pid_ <= 0) return -1;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string ChildProcess::Log() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

ChildProcess::Finished RunToExit(ChildProcess::Options options) {
  ChildProcess child(std::move(options));
  if (absl::Status started = child.Start(); !started.ok()) {
    return {-1, std::string(started.message())};
  }
  const int exit_code = child.Wait();
  return {exit_code, child.Log()};
}

std::string NewTempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(base ? base : "/tmp", "/", name, "_", ::getpid(), "_",
                                 absl::ToUnixNanos(absl::Now()));
  ::mkdir(dir.c_str(), 0700);
  return dir;
}

}  // namespace switchboard::testing
