// OpsHandler: the operations listener (--ops_addr), kept off the public webhook port.
//
//   GET /metrics  Prometheus text format (metrics::Registry::Render)
//   GET /healthz  200 while the process is up
//   GET /readyz   200 when ready to take events, 503 with the reason otherwise
// Anything else is 404 (405 for other methods on these paths).
//
// Thread-safety: Handle is const and safe to call concurrently.
#ifndef SWITCHBOARD_SERVER_INGRESS_OPS_HANDLER_H_
#define SWITCHBOARD_SERVER_INGRESS_OPS_HANDLER_H_

#include <functional>
#include <optional>

#include "absl/status/status.h"
#include "server/ingress/http_types.h"
#include "server/metrics/metrics.h"

namespace switchboard::server::ingress {

class OpsHandler {
 public:
  // `metrics` must outlive the handler; `readiness` as in WebhookHandler::Deps.
  OpsHandler(const metrics::Registry* metrics, std::function<absl::Status()> readiness)
      : metrics_(metrics), readiness_(std::move(readiness)) {}

  // Requests here carry no body: anything but GET/HEAD on a known path is answered (and the
  // connection closed) before a body is read.
  std::optional<HttpResponse> CheckHeaders(const HttpRequest& request) const;
  HttpResponse Handle(const HttpRequest& request) const;

 private:
  const metrics::Registry* metrics_;
  std::function<absl::Status()> readiness_;
};

}  // namespace switchboard::server::ingress

#endif  // SWITCHBOARD_SERVER_INGRESS_OPS_HANDLER_H_
