// Plain HTTP request/response values shared by the pure handlers (WebhookHandler, OpsHandler)
// and the socket adapter (HttpServer), so request rules are unit-tested without sockets.
//
// Thread-safety: plain values.
#ifndef SWITCHBOARD_SERVER_INGRESS_HTTP_TYPES_H_
#define SWITCHBOARD_SERVER_INGRESS_HTTP_TYPES_H_

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace switchboard::server::ingress {

struct HttpRequest {
  std::string method;
  std::string path;  // without the query string
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_addr;

  // The first header named `name` (case-insensitive), if any. For a list-valued field that a
  // proxy may send on a line of its own (X-Forwarded-For), use CombinedHeader.
  std::optional<absl::string_view> Header(absl::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (absl::EqualsIgnoreCase(k, name)) return absl::string_view(v);
    }
    return std::nullopt;
  }
  // Every header line named `name` (case-insensitive), in the order received, joined with ","
  // as RFC 7230 section 3.2.2 combines a repeated list field; nullopt when there is none.
  std::optional<std::string> CombinedHeader(absl::string_view name) const;
  int HeaderCount(absl::string_view name) const {
    int n = 0;
    for (const auto& [k, v] : headers) n += absl::EqualsIgnoreCase(k, name) ? 1 : 0;
    return n;
  }
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  // Close the connection after this response (the request body may not have been read).
  bool close_connection = false;
};

// `{"error": "<message>"}` with `status`. `message` must not contain secrets or body bytes.
HttpResponse ErrorResponse(int status, absl::string_view message);

// 405 (Allow: GET, connection closed) for a method other than GET/HEAD; nullopt otherwise.
std::optional<HttpResponse> RequireGet(const HttpRequest& request);

// True for /healthz and /readyz, served the same way on every listener.
bool IsHealthPath(absl::string_view path);

// The answer to GET /healthz (200 while the process runs) or /readyz (200, or 503 with the
// reason from `readiness`, which may be empty). The webhook listener faces the internet, so it
// answers `not ready` alone (the detail names files and SQL); the ops listener gives the reason.
// REQUIRES: IsHealthPath(request.path).
enum class HealthDetail { kNone, kReason };
HttpResponse HealthResponse(HealthDetail detail, const HttpRequest& request,
                            const std::function<absl::Status()>& readiness);

}  // namespace switchboard::server::ingress

#endif  // SWITCHBOARD_SERVER_INGRESS_HTTP_TYPES_H_
