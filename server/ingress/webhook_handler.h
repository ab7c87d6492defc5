// WebhookHandler: the rules of the public webhook listener, as a pure function
// HttpRequest -> HttpResponse (no sockets), so every status code is unit-tested.
//
// For POST on a configured endpoint path it: checks the source address against the optional
// allow-list (403), the framing (Content-Length required;
// chunked 411, any Content-Encoding 415, over the cap 413, non-JSON Content-Type 415), verifies
// Stripe-Signature against that endpoint's secrets, checks the body as an Event and reads its
// envelope (EventConverter::Inspect: the same checks as a conversion, which happens later, at
// delivery), appends it to the EventStore (blocking until durable) and answers 200 — also for a
// duplicate event id. A store failure answers 503 so Stripe retries. GET /healthz and /readyz
// answer here too. The full table is in docs/HTTP.md (binding: DESIGN.md §3.2).
//
// HttpServer calls CheckHeaders() before reading the body (so a refused request costs no body
// read) and Handle() once the body is in.
//
// Example:
//   ASSIGN_OR_RETURN(auto handler, WebhookHandler::Create(options, deps));
//   HttpResponse response = handler->Handle(request);
//
// Thread-safety: Handle and CheckHeaders are const and safe to call concurrently.
#ifndef SWITCHBOARD_SERVER_INGRESS_WEBHOOK_HANDLER_H_
#define SWITCHBOARD_SERVER_INGRESS_WEBHOOK_HANDLER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/base/clock.h"
#include "server/convert/event_converter.h"
#include "server/ingress/http_types.h"
#include "server/ingress/network_allowlist.h"
#include "server/metrics/metrics.h"
#include "server/store/event_store.h"
#include "server/verify/signature_verifier.h"

namespace switchboard::server::ingress {

class WebhookHandler {
 public:
  struct Endpoint {
    std::string path;  // e.g. "/webhook"
    std::unique_ptr<verify::SignatureVerifier> verifier;
    // Filled by the handler: the request counter of each outcome, created up front so the hot
    // path never locks the registry and every series shows (as 0) in /metrics.
    absl::flat_hash_map<std::string, metrics::Counter*> outcomes;
  };

  struct Options {
    std::vector<Endpoint> endpoints;  // REQUIRES: at least one, distinct paths starting with '/'
    int64_t max_body_bytes = 1 << 20;
    // When set, only these source networks may POST to the endpoints (403 otherwise).
    std::optional<NetworkAllowlist> allowlist;
    // Take the client address from the last X-Forwarded-For entry, of all the lines of that
    // header (behind a trusted proxy).
    bool trust_forwarded_for = false;
  };

  struct Deps {
    store::EventStore* store = nullptr;                  // must outlive the handler
    const convert::EventConverter* converter = nullptr;  // must outlive the handler
    const base::Clock* clock = nullptr;                  // must outlive the handler
    metrics::Registry* metrics = nullptr;                // must outlive the handler
    // OK when the gateway is ready to take events (listeners up, store writable, not draining).
    std::function<absl::Status()> readiness;
    // Called after an event was newly stored (not for a duplicate), before the 200 is sent: the
    // server wakes the dispatcher with it. Must be cheap and must not block; may be empty.
    std::function<void()> on_stored;
  };

  // kInvalidArgument when the options are inconsistent (no endpoint, bad path, duplicate path,
  // an endpoint without a verifier) or a dependency is missing.
  static absl::StatusOr<std::unique_ptr<WebhookHandler>> Create(Options options, Deps deps);

  // The response for a request whose headers are known but whose body has not been read, when
  // the headers alone decide it (wrong path or method, bad framing, too large); nullopt when the
  // body should be read and passed to Handle().
  std::optional<HttpResponse> CheckHeaders(const HttpRequest& request) const;

  // The full decision for a request with its body.
  HttpResponse Handle(const HttpRequest& request) const;

 private:
  WebhookHandler(Options options, Deps deps);
  const Endpoint* FindEndpoint(absl::string_view path) const;
  static void Count(const Endpoint& endpoint, absl::string_view outcome);
  HttpResponse Reject(const Endpoint& endpoint, int status, absl::string_view reason,
                      absl::string_view message) const;

  Options options_;
  Deps deps_;
  metrics::Counter* not_found_;  // requests to paths that are no endpoint
  metrics::Histogram* append_latency_;
  metrics::Histogram* handle_latency_;
};

}  // namespace switchboard::server::ingress

#endif  // SWITCHBOARD_SERVER_INGRESS_WEBHOOK_HANDLER_H_
