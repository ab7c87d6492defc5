// Dependency directions the build's visibility cannot enforce, read from the lists genquery
// writes at build time:
//   - the gateway (//server:server) never depends on the handler SDK (//sdk) or the example
//     handlers: they are its clients, built on the public protos, and a gateway that linked them
//     would tie its releases to theirs;
//   - the SDK's public targets never depend on the gateway (//server/...): a handler built on it
//     must not pull in the gateway's code.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

// The labels in `file` that start with any of `prefixes`. Fails the test if the file is missing
// or lists suspiciously few labels (the query did not run as meant).
std::vector<std::string> LabelsStartingWith(const std::string& file,
                                            const std::vector<std::string>& prefixes) {
  std::ifstream in(file);
  EXPECT_TRUE(in) << file << ": genquery output missing";
  std::vector<std::string> found;
  int labels = 0;
  for (std::string label; std::getline(in, label);) {
    ++labels;
    for (const std::string& prefix : prefixes) {
      if (absl::StartsWith(label, prefix)) found.push_back(label);
    }
  }
  EXPECT_GT(labels, 10) << file;
  return found;
}

TEST(Layering, TheGatewayDependsOnNeitherTheSdkNorTheHandlers) {
  EXPECT_THAT(LabelsStartingWith("tests/layering/server_deps", {"//sdk", "//handlers"}),
              ::testing::IsEmpty());
}

TEST(Layering, TheSdkDoesNotDependOnTheGateway) {
  EXPECT_THAT(LabelsStartingWith("tests/layering/sdk_deps", {"//server"}), ::testing::IsEmpty());
}

}  // namespace
