#include "server/base/files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/base/status_matchers.h"

namespace switchboard::base {
namespace {

std::string Tmp() { return std::getenv("TEST_TMPDIR"); }

TEST(MakeDirectories, CreatesParentsWithMode0700AndAcceptsExisting) {
  const std::string dir = Tmp() + "/a/b/c";
  ASSERT_OK(MakeDirectories(dir));
  ASSERT_OK(MakeDirectories(dir));
  struct stat st;
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700);
}

TEST(MakeDirectories, RefusesAFileInTheWay) {
  const std::string file = Tmp() + "/plain_file";
  std::ofstream(file) << "x";
  EXPECT_FALSE(MakeDirectories(file).ok());
  EXPECT_FALSE(MakeDirectories(file + "/below").ok());
}

TEST(ReadFileToString, ReadsBytesExactlyAndNamesAMissingFile) {
  const std::string file = Tmp() + "/bytes";
  std::ofstream(file, std::ios::binary) << std::string("a\0b\n", 4);
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFileToString(file));
  EXPECT_EQ(text, std::string("a\0b\n", 4));
  absl::StatusOr<std::string> missing = ReadFileToString(Tmp() + "/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope"), absl::string_view::npos);
}

TEST(FileSizeOrZero, SizeOfAFileAndZeroForNone) {
  const std::string file = Tmp() + "/sized";
  std::ofstream(file) << std::string(1234, 'x');
  EXPECT_EQ(FileSizeOrZero(file), 1234);
  EXPECT_EQ(FileSizeOrZero(Tmp() + "/never_written"), 0);
}

TEST(FreeDiskBytes, ReadsTheFilesystemAndFailsForAMissingPath) {
  ASSERT_OK_AND_ASSIGN(int64_t free, FreeDiskBytes(Tmp()));
  EXPECT_GT(free, 0);
  EXPECT_FALSE(FreeDiskBytes(Tmp() + "/no/such/dir").ok());
}

TEST(FileLock, OneHolderAtATimeAndReleasedWhenDestroyed) {
  const std::string path = Tmp() + "/LOCK";
  {
    ASSERT_OK_AND_ASSIGN(FileLock held, FileLock::Acquire(path));
    absl::StatusOr<FileLock> second = FileLock::Acquire(path);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(second.status().message().find(absl::StrCat("pid ", getpid())), std::string::npos)
        << second.status();
    FileLock moved = std::move(held);  // still held by the moved-to value
    EXPECT_FALSE(FileLock::Acquire(path).ok());
  }
  EXPECT_OK(FileLock::Acquire(path).status());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST(FileLock, ReplacesAStalePidLeftByAnEarlierHolder) {
  const std::string path = Tmp() + "/STALE_LOCK";
  std::ofstream(path) << "1234567890\n";  // longer than any pid this test will have
  ASSERT_OK_AND_ASSIGN(FileLock held, FileLock::Acquire(path));
  absl::StatusOr<FileLock> second = FileLock::Acquire(path);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find(absl::StrCat("(pid ", getpid(), ")")), std::string::npos)
      << second.status();
}

TEST(FileLock, NamesAPathItCannotOpen) {
  absl::StatusOr<FileLock> lock = FileLock::Acquire(Tmp() + "/missing/dir/LOCK");
  ASSERT_FALSE(lock.ok());
  EXPECT_NE(lock.status().message().find("missing/dir/LOCK"), std::string::npos);
}

}  // namespace
}  // namespace switchboard::base
