#include "server/ingress/http_types.h"

#include "absl/strings/str_cat.h"

namespace switchboard::server::ingress {

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

}  // namespace switchboard::server::ingress
