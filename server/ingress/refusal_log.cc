#include "server/ingress/refusal_log.h"

#include <utility>

#include "server/base/log.h"

namespace switchboard::server::ingress {

absl::StatusOr<std::unique_ptr<RefusalLog>> RefusalLog::Create(Options options, Deps deps) {
  if (deps.metrics == nullptr || deps.clock == nullptr) {
    return absl::InvalidArgumentError("RefusalLog: metrics and clock are required");
  }
  if (options.listener.empty()) {
    return absl::InvalidArgumentError("RefusalLog: listener must be named");
  }
  if (options.log_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("RefusalLog: log_interval must not be negative");
  }
  return std::unique_ptr<RefusalLog>(new RefusalLog(std::move(options), deps));
}

RefusalLog::RefusalLog(Options options, Deps deps) : options_(std::move(options)), deps_(deps) {
  for (absl::string_view reason : HttpServer::kRefusalReasons) {
    counters_[reason] = deps_.metrics->AddCounter(
        "switchboard_http_refused_total",
        "Requests and connections an HTTP listener refused before any handler saw them.",
        {{"listener", options_.listener}, {"reason", std::string(reason)}});
    absl::MutexLock lock(&mu_);
    log_states_[reason] = LogState();
  }
}

void RefusalLog::Record(absl::string_view reason, int status) {
  auto counter = counters_.find(reason);
  if (counter == counters_.end()) {
    // Every reason HttpServer reports is registered up front; a missing one is a bug there.
    SB_LOG(ERROR) << "uncounted_refusal listener=" << options_.listener << " reason=" << reason;
    return;
  }
  counter->second->Increment();

  const absl::Time now = deps_.clock->Monotonic();
  int64_t suppressed = 0;
  {
    absl::MutexLock lock(&mu_);
    LogState& state = log_states_[reason];
    if (now - state.last_line < options_.log_interval) {
      ++state.suppressed;
      return;
    }
    suppressed = std::exchange(state.suppressed, 0);
    state.last_line = now;
  }
  // Outside the lock: a slow stderr must not hold up the other workers' refusals.
  if (reason == "too_many_connections") {
    SB_LOG(ERROR) << "http_refused listener=" << options_.listener << " reason=" << reason
                  << " status=" << status << " suppressed=" << suppressed;
  } else {
    SB_LOG(WARNING) << "http_refused listener=" << options_.listener << " reason=" << reason
                    << " status=" << status << " suppressed=" << suppressed;
  }
}

HttpServer::RefusedFn RefusalLog::Callback() {
  return [this](absl::string_view reason, int status) { Record(reason, status); };
}

}  // namespace switchboard::server::ingress
