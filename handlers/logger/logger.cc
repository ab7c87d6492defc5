#include "handlers/logger/logger.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace switchboard::handlers::logger {

void Register(sdk::Router& router, std::function<void(absl::string_view)> print) {
  router.OnEvent("*", [print = std::move(print)](const sdk::EventContext& ctx) {
    print(absl::StrCat("event id=", ctx.id(), " type=", ctx.type(), " attempt=", ctx.attempt()));
    return absl::OkStatus();
  });
}

}  // namespace switchboard::handlers::logger
