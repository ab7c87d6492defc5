// For flags_test: a handler binary's main, with one flag of its own, that prints what it parsed.
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "sdk/flags.h"

ABSL_FLAG(std::string, table, "payments", "Where this test handler would record its events.");

int main(int argc, char** argv) {
  std::vector<char*> positional =
      switchboard::sdk::ParseFlags(argc, argv, "a test handler for sdk/flags_test.");
  absl::StatusOr<switchboard::sdk::ServeOptions> options =
      switchboard::sdk::OptionsFromFlags("flags-test");
  if (!options.ok()) {
    std::cout << options.status() << "\n";
    return 2;
  }
  std::cout << "table=" << absl::GetFlag(FLAGS_table) << " workers=" << options->workers
            << " subscription=" << options->subscription << " positional=" << positional.size()
            << "\n";
  return 0;
}
