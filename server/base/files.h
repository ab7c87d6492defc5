// Small filesystem helpers shared by the gateway's packages.
//
// Example:
//   RETURN_IF_ERROR(base::MakeDirectories("/var/lib/switchboard"));   // mkdir -p, mode 0700
//   ASSIGN_OR_RETURN(std::string pem, base::ReadFileToString("/etc/switchboard/tls/ca.pem"));
//   ASSIGN_OR_RETURN(int64_t free, base::FreeDiskBytes("/var/lib/switchboard"));
//
// Thread-safety: plain functions.
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

}  // namespace switchboard::base

#endif  // SWITCHBOARD_SERVER_BASE_FILES_H_
