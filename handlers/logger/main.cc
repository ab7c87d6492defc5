// `bazel run //handlers/logger -- --gateway=127.0.0.1:50051`: logs every event. Flags: sdk/flags.h.
#include "handlers/logger/logger.h"
#include "sdk/flags.h"
#include "sdk/log.h"

int main(int argc, char** argv) {
  switchboard::sdk::ParseFlags(argc, argv, "logs every event it receives.");
  switchboard::sdk::Router router;
  switchboard::handlers::logger::Register(router, switchboard::sdk::PrintLine);
  return switchboard::sdk::ServeFromFlags(router, "logger");
}
