#include "tests/testdata/example_events.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace switchboard::testdata {

std::vector<std::string> ExampleEventFiles() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(
           kExampleEventsDir, std::filesystem::directory_options::follow_directory_symlink)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      // Lexically: runfiles are symlinks, which std::filesystem::relative would resolve.
      files.push_back(entry.path().lexically_relative(kExampleEventsDir).string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadExampleEvent(const std::string& relative_path) {
  const std::string path = std::string(kExampleEventsDir) + "/" + relative_path;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace switchboard::testdata
