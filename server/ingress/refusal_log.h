// RefusalLog: counts and logs what an HttpServer refuses by itself (HttpServer::Options::
// on_refused): the connection cap's 503, the 431s, a body on GET, requests httplib cannot parse,
// missed deadlines, failed TLS handshakes. The handlers count their own answers.
//
// Each refusal increments `switchboard_http_refused_total{listener,reason}`; every reason of
// HttpServer::kRefusalReasons is registered up front, so each series shows (as 0) before the
// first refusal. The log is rate-limited, since a flood of refusals must not become a flood of
// log lines: the first refusal of a reason is logged at once, later ones of that reason within
// `log_interval` of the last line only counted, and the first after it logged with how many were
// left out (`suppressed=N`). A 503 logs at ERROR (senders are being turned away: Stripe retries,
// `stripe listen` does not), the others at WARNING. Lines carry the listener, reason and status,
// never request bytes:
//   ... WARN http_refused listener=webhook reason=header_too_large status=431 suppressed=0
//
// Example:
//   ASSIGN_OR_RETURN(std::unique_ptr<RefusalLog> refusals,
//                    RefusalLog::Create({"webhook"}, {&registry, clock}));
//   options.on_refused = refusals->Callback();  // HttpServer::Options
//
// Thread-safety: Record (and the callback) may be called concurrently.
#ifndef SWITCHBOARD_SERVER_INGRESS_REFUSAL_LOG_H_
#define SWITCHBOARD_SERVER_INGRESS_REFUSAL_LOG_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/base/clock.h"
#include "server/ingress/http_server.h"
#include "server/metrics/metrics.h"

namespace switchboard::server::ingress {

class RefusalLog {
 public:
  struct Options {
    std::string listener;  // the `listener` label and log field, e.g. "webhook"; REQUIRES: set
    // At most one log line per reason this often.
    absl::Duration log_interval = absl::Seconds(5);
  };
  struct Deps {
    metrics::Registry* metrics = nullptr;  // must outlive the log
    const base::Clock* clock = nullptr;    // must outlive the log
  };

  // kInvalidArgument for an empty listener, a negative interval or a missing dependency.
  static absl::StatusOr<std::unique_ptr<RefusalLog>> Create(Options options, Deps deps);

  // Counts one refusal and logs it unless a line for `reason` went out within log_interval.
  // `reason` is one of HttpServer::kRefusalReasons; `status` the status sent (0: none).
  void Record(absl::string_view reason, int status);

  // Record as an HttpServer::Options::on_refused. The log must outlive the server.
  HttpServer::RefusedFn Callback();

 private:
  struct LogState {
    absl::Time last_line = absl::InfinitePast();
    int64_t suppressed = 0;  // refusals counted but not logged since last_line
  };

  RefusalLog(Options options, Deps deps);

  const Options options_;
  const Deps deps_;
  // One per reason, filled by the constructor and read-only after.
  absl::flat_hash_map<std::string, metrics::Counter*> counters_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, LogState> log_states_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::server::ingress

#endif  // SWITCHBOARD_SERVER_INGRESS_REFUSAL_LOG_H_
