// The example Stripe webhook bodies in tests/testdata/events, for tests (depend on
// //tests/testdata:example_events, which brings the files as runfiles).
//
// Example:
//   for (const std::string& file : ExampleEventFiles()) {
//     const std::string body = ReadExampleEvent(file);
//     ...
//   }
#ifndef SWITCHBOARD_TESTS_TESTDATA_EXAMPLE_EVENTS_H_
#define SWITCHBOARD_TESTS_TESTDATA_EXAMPLE_EVENTS_H_

#include <string>
#include <vector>

namespace switchboard::testdata {

// Runfiles-relative directory of the examples.
inline constexpr char kExampleEventsDir[] = "tests/testdata/events";

// Every example, as paths relative to kExampleEventsDir ("charge.succeeded.json",
// "api_2025-03-31.basil/invoice.paid.json", ...), sorted.
std::vector<std::string> ExampleEventFiles();

// The bytes of one example (relative path as above). Adds a test failure if it cannot be read.
std::string ReadExampleEvent(const std::string& relative_path);

}  // namespace switchboard::testdata

#endif  // SWITCHBOARD_TESTS_TESTDATA_EXAMPLE_EVENTS_H_
