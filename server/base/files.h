// Small filesystem helpers shared by the gateway's packages.
//
// Example:
//   RETURN_IF_ERROR(base::MakeDirectories("/var/lib/switchboard"));   // mkdir -p, mode 0700
//   ASSIGN_OR_RETURN(std::string pem, base::ReadFileToString("/etc/switchboard/tls/ca.pem"));
//   ASSIGN_OR_RETURN(int64_t free, base::FreeDiskBytes("/var/lib/switchboard"));
//   ASSIGN_OR_RETURN(base::FileLock lock, base::FileLock::Acquire("/var/lib/switchboard/LOCK"));
//
// Thread-safety: plain functions; a FileLock is a value owned by one thread at a time.
#ifndef SWITCHBOARD_SERVER_BASE_FILES_H_
#define SWITCHBOARD_SERVER_BASE_FILES_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace switchboard::base {

// Creates `dir` and any missing parents with mode 0700 (they may hold events and secrets).
// OK when it exists as a directory. The errno's code (e.g. kPermissionDenied) when a part cannot
// be created; kFailedPrecondition when `dir` exists but is not a directory. Empty is OK.
absl::Status MakeDirectories(const std::string& dir);

// The whole file. kNotFound (or the errno's code) with the path and reason when unreadable.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// The size of `path` in bytes; 0 when it does not exist (a WAL between restarts) or cannot be
// read.
int64_t FileSizeOrZero(const std::string& path);

// Bytes an unprivileged process may still write on the filesystem holding `path` (statvfs
// f_bavail); the errno's code when it cannot be read.
absl::StatusOr<int64_t> FreeDiskBytes(const std::string& path);

// Under `bazel run`, which starts a binary in its runfiles tree, enters the directory the
// command was typed in (BUILD_WORKING_DIRECTORY), so relative paths in flags, a --flagfile and
// config files mean what the user meant. Call it before parsing flags. OK, doing nothing, when the
// variable is unset or empty; the errno's code naming the directory when it cannot be entered.
absl::Status EnterBuildWorkingDirectory();

// An exclusive advisory lock (flock) on a file, created with mode 0600 if missing, held until
// the FileLock is destroyed or the process ends in any way (the kernel drops it on SIGKILL, so a
// crash never leaves a stale lock). The file holds the owner's pid, for the operator. Locks taken
// through separate Acquire calls conflict even within one process.
class FileLock {
 public:
  // kFailedPrecondition naming the path (and the holder's pid when readable) if another holder
  // has it; the errno's code when the file cannot be opened.
  static absl::StatusOr<FileLock> Acquire(const std::string& path);

  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace switchboard::base

#endif  // SWITCHBOARD_SERVER_BASE_FILES_H_
