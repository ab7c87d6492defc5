// A handler for end-to-end tests, built on the SDK like any handler. It records every delivery
// it answers as one line in --record (appended with one write each):
//
//   <event id> <type> attempt=<n> outcome=<ok|retry|reject> typed=<message|-> object=<id|->
//
// and can be told to fail: --retry=evt_a:2 answers RETRY while the attempt is <= 2;
// --reject=evt_b:1 answers REJECT to the first delivery of evt_b this process sees. Each pattern
// in --types is registered typed (On<T>) when the Stripe event-type table gives all its events
// one of the messages below, else raw (OnEvent). SDK flags (--gateway, --subscription, ...)
// apply as in any handler.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "protos/stripe/v1/event_types.h"
#include "protos/stripe/v1/resources.pb.h"
#include "sdk/flags.h"
#include "sdk/log.h"
#include "sdk/router.h"
#include "sdk/serve.h"

ABSL_FLAG(std::string, record, "", "File to append one line per answered delivery to.");
ABSL_FLAG(std::vector<std::string>, types, {"*"}, "Event type patterns to handle.");
ABSL_FLAG(std::vector<std::string>, retry, {}, "evt_id:N: answer RETRY while attempt <= N.");
ABSL_FLAG(std::vector<std::string>, reject, {},
          "evt_id:N: answer REJECT to the first N deliveries of evt_id seen by this process.");
ABSL_FLAG(absl::Duration, delay, absl::ZeroDuration(), "Time each handler call takes.");
ABSL_FLAG(absl::Duration, initial_backoff, absl::ZeroDuration(),
          "Subscription retry policy: first backoff (0: gateway default).");
ABSL_FLAG(absl::Duration, max_backoff, absl::ZeroDuration(),
          "Subscription retry policy: backoff cap (0: gateway default).");

namespace switchboard::testing {
namespace {

std::map<std::string, int> ParseCounts(const std::vector<std::string>& specs) {
  std::map<std::string, int> out;
  for (const std::string& spec : specs) {
    std::vector<std::string> parts = absl::StrSplit(spec, ':');
    int n = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &n)) {
      sdk::LogWarning(absl::StrCat("test_handler: bad spec ", spec));
      std::exit(2);
    }
    out[parts[0]] = n;
  }
  return out;
}

class Recorder {
 public:
  Recorder(const std::string& path, std::map<std::string, int> retry,
           std::map<std::string, int> reject, absl::Duration delay)
      : retry_(std::move(retry)), reject_(std::move(reject)), delay_(delay) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      sdk::LogWarning(absl::StrCat("test_handler: cannot open ", path));
      std::exit(2);
    }
  }

  absl::Status Handle(const sdk::EventContext& ctx, absl::string_view typed,
                      absl::string_view object) {
    if (delay_ > absl::ZeroDuration()) absl::SleepFor(delay_);
    const std::string id(ctx.id());
    absl::Status status;
    if (auto it = retry_.find(id); it != retry_.end() && ctx.attempt() <= it->second) {
      status = absl::UnavailableError("told to retry");
    } else if (RejectThisTime(id)) {
      status = sdk::PermanentError("told to reject");
    }
    const char* outcome = status.ok() ? "ok" : sdk::IsPermanentError(status) ? "reject" : "retry";
    const std::string line = absl::StrCat(
        id, " ", ctx.type(), " attempt=", ctx.attempt(), " outcome=", outcome,
        " typed=", typed.empty() ? "-" : typed, " object=", object.empty() ? "-" : object, "\n");
    // One write per line: O_APPEND keeps concurrent lines whole.
    if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      return absl::InternalError("record write failed");
    }
    return status;
  }

 private:
  bool RejectThisTime(const std::string& id) {
    absl::MutexLock lock(&mu_);
    auto it = reject_.find(id);
    if (it == reject_.end() || it->second <= 0) return false;
    --it->second;
    return true;
  }

  int fd_ = -1;
  const std::map<std::string, int> retry_;
  absl::Mutex mu_;
  std::map<std::string, int> reject_ ABSL_GUARDED_BY(mu_);
  const absl::Duration delay_;
};

// Registers `pattern` typed as T when the event-type table allows it. True if it did.
template <typename T>
bool TryTyped(sdk::Router& router, const std::string& pattern, Recorder* recorder) {
  if (!stripe::v1::CheckTypedRegistration(pattern, T::descriptor()).ok()) return false;
  router.On<T>(pattern, [recorder](const sdk::EventContext& ctx, const T& object) {
    return recorder->Handle(ctx, T::descriptor()->full_name(), object.id());
  });
  return true;
}

int Main() {
  const std::string path = absl::GetFlag(FLAGS_record);
  if (path.empty()) {
    sdk::LogWarning("test_handler: --record is required");
    return 2;
  }
  Recorder recorder(path, ParseCounts(absl::GetFlag(FLAGS_retry)),
                    ParseCounts(absl::GetFlag(FLAGS_reject)), absl::GetFlag(FLAGS_delay));
  sdk::Router router;
  for (const std::string& pattern : absl::GetFlag(FLAGS_types)) {
    if (TryTyped<stripe::v1::PaymentIntent>(router, pattern, &recorder) ||
        TryTyped<stripe::v1::Charge>(router, pattern, &recorder) ||
        TryTyped<stripe::v1::Invoice>(router, pattern, &recorder) ||
        TryTyped<stripe::v1::Customer>(router, pattern, &recorder) ||
        TryTyped<stripe::v1::PaymentMethod>(router, pattern, &recorder)) {
      continue;
    }
    router.OnEvent(pattern, [&recorder](const sdk::EventContext& ctx) {
      return recorder.Handle(ctx, "", "");
    });
  }

  absl::StatusOr<sdk::ServeOptions> options = sdk::OptionsFromFlags("e2e");
  if (!options.ok()) {
    sdk::LogWarning(options.status().ToString());
    return 2;
  }
  options->retry_policy.initial_backoff = absl::GetFlag(FLAGS_initial_backoff);
  options->retry_policy.max_backoff = absl::GetFlag(FLAGS_max_backoff);
  const absl::Status status = sdk::Serve(router, *std::move(options));
  if (!status.ok()) {
    sdk::LogWarning(absl::StrCat("test_handler: ", status.ToString()));
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace switchboard::testing

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return switchboard::testing::Main();
}
