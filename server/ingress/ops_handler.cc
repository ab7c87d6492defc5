#include "server/ingress/ops_handler.h"

#include "absl/strings/str_cat.h"

namespace switchboard::server::ingress {
namespace {

bool KnownPath(const std::string& path) {
  return path == "/metrics" || path == "/healthz" || path == "/readyz";
}

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
  if (request.method != "GET" && request.method != "HEAD") {
    HttpResponse r = ErrorResponse(405, "method not allowed");
    r.headers.push_back({"Allow", "GET"});
    r.close_connection = true;
    return r;
  }
  return std::nullopt;
}

HttpResponse OpsHandler::Handle(const HttpRequest& request) const {
  if (std::optional<HttpResponse> early = CheckHeaders(request)) return *std::move(early);
  if (request.path == "/metrics") {
    return Text(200, metrics_->Render(), "text/plain; version=0.0.4; charset=utf-8");
  }
  if (request.path == "/healthz") return Text(200, "ok\n", "text/plain; charset=utf-8");
  absl::Status ready = readiness_ ? readiness_() : absl::OkStatus();
  if (!ready.ok()) {
    return Text(503, absl::StrCat("not ready: ", ready.message(), "\n"),
                "text/plain; charset=utf-8");
  }
  return Text(200, "ready\n", "text/plain; charset=utf-8");
}

}  // namespace switchboard::server::ingress
