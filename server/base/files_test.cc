#include "server/base/files.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

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

}  // namespace
}  // namespace switchboard::base
