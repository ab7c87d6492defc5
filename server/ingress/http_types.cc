#include "server/ingress/http_types.h"

#include "absl/strings/str_cat.h"

namespace switchboard::server::ingress {

std::optional<std::string> HttpRequest::CombinedHeader(absl::string_view name) const {
  std::optional<std::string> combined;
  for (const auto& [k, v] : headers) {
    if (!absl::EqualsIgnoreCase(k, name)) continue;
    if (combined) {
      absl::StrAppend(&*combined, ",", v);
    } else {
      combined = v;
    }
  }
  return combined;
}

HttpResponse ErrorResponse(int status, absl::string_view message) {
  HttpResponse response;
  response.status = status;
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped.push_back('\\');
    if (static_cast<unsigned char>(c) < 0x20) continue;
    escaped.push_back(c);
  }
  response.body = absl::StrCat("{\"error\":\"", escaped, "\"}\n");
  return response;
}

std::optional<HttpResponse> RequireGet(const HttpRequest& request) {
  if (request.method == "GET" || request.method == "HEAD") return std::nullopt;
  HttpResponse r = ErrorResponse(405, "method not allowed");
  r.headers.push_back({"Allow", "GET"});
  r.close_connection = true;
  return r;
}

bool IsHealthPath(absl::string_view path) { return path == "/healthz" || path == "/readyz"; }

HttpResponse HealthResponse(HealthDetail detail, const HttpRequest& request,
                            const std::function<absl::Status()>& readiness) {
  HttpResponse response;
  response.content_type = "text/plain; charset=utf-8";
  response.body = "ok\n";
  if (request.path == "/readyz") {
    const absl::Status ready = readiness ? readiness() : absl::OkStatus();
    response.status = ready.ok() ? 200 : 503;
    response.body = ready.ok() ? "ready\n"
                    : detail == HealthDetail::kReason
                        ? absl::StrCat("not ready: ", ready.message(), "\n")
                        : "not ready\n";
  }
  return response;
}

}  // namespace switchboard::server::ingress
