#include "server/ingress/ops_handler.h"

namespace switchboard::server::ingress {
namespace {

bool KnownPath(const std::string& path) { return path == "/metrics" || IsHealthPath(path); }

HttpResponse Text(int status, std::string body, const char* content_type) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.content_type = content_type;
  return response;
}

}  // namespace

std::optional<HttpResponse> OpsHandler::CheckHeaders(const HttpRequest& request) const {
  if (!KnownPath(request.path)) {
    HttpResponse r = ErrorResponse(404, "not found");
    r.close_connection = request.method != "GET" && request.method != "HEAD";
    return r;
  }
  return RequireGet(request);
}

HttpResponse OpsHandler::Handle(const HttpRequest& request) const {
  if (std::optional<HttpResponse> early = CheckHeaders(request)) return *std::move(early);
  if (request.path == "/metrics") {
    return Text(200, metrics_->Render(), "text/plain; version=0.0.4; charset=utf-8");
  }
  return HealthResponse(HealthDetail::kReason, request, readiness_);
}

}  // namespace switchboard::server::ingress
