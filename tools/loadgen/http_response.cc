#include "tools/loadgen/http_response.h"

#include <cstdint>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace switchboard::tools::loadgen {
namespace {

ParsedResponse Error(std::string message) {
  ParsedResponse r;
  r.state = ParseState::kError;
  r.error = std::move(message);
  return r;
}

// "HTTP/1.1 200 OK" -> status; also whether the version is 1.0.
bool ParseStatusLine(absl::string_view line, int* status, bool* http10) {
  if (!absl::ConsumePrefix(&line, "HTTP/1.")) return false;
  if (line.size() < 5 || (line[0] != '0' && line[0] != '1') || line[1] != ' ') return false;
  *http10 = line[0] == '0';
  line.remove_prefix(2);
  const absl::string_view code = line.substr(0, 3);
  if (line.size() > 3 && line[3] != ' ') return false;
  for (char c : code) {
    if (c < '0' || c > '9') return false;
  }
  *status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  return *status >= 100;
}

}  // namespace

ParsedResponse ParseResponse(absl::string_view data) {
  size_t offset = 0;
  for (;;) {
    const absl::string_view rest = data.substr(offset);
    const size_t head_end = rest.find("\r\n\r\n");
    if (head_end == absl::string_view::npos) {
      if (rest.size() > kMaxResponseHead) return Error("response head too large");
      return ParsedResponse{};
    }
    if (head_end + 4 > kMaxResponseHead) return Error("response head too large");
    const absl::string_view head = rest.substr(0, head_end);
    const size_t line_end = head.find("\r\n");
    int status = 0;
    bool http10 = false;
    if (!ParseStatusLine(head.substr(0, line_end), &status, &http10)) {
      return Error("bad status line");
    }
    std::optional<uint64_t> content_length;
    bool close = http10;
    if (line_end != absl::string_view::npos) {
      for (absl::string_view line : absl::StrSplit(head.substr(line_end + 2), "\r\n")) {
        const size_t colon = line.find(':');
        if (colon == absl::string_view::npos || colon == 0) return Error("bad header line");
        const absl::string_view name = line.substr(0, colon);
        const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
        if (absl::EqualsIgnoreCase(name, "content-length")) {
          uint64_t n = 0;
          if (value.empty() || value.find_first_not_of("0123456789") != absl::string_view::npos ||
              !absl::SimpleAtoi(value, &n)) {
            return Error("bad Content-Length");
          }
          if (content_length.has_value() && *content_length != n) {
            return Error("conflicting Content-Length");
          }
          content_length = n;
        } else if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
          return Error(absl::StrCat("unsupported Transfer-Encoding: ", value));
        } else if (absl::EqualsIgnoreCase(name, "connection")) {
          for (absl::string_view token : absl::StrSplit(value, ',')) {
            token = absl::StripAsciiWhitespace(token);
            if (absl::EqualsIgnoreCase(token, "close")) close = true;
            if (absl::EqualsIgnoreCase(token, "keep-alive")) close = false;
          }
        }
      }
    }
    const size_t head_length = head_end + 4;
    if (status < 200 && status != 101) {  // interim: the final response follows
      offset += head_length;
      continue;
    }
    if (status == 101) return Error("unexpected 101 Switching Protocols");
    uint64_t body = 0;
    if (status != 204 && status != 304) {
      if (!content_length.has_value()) return Error("response without Content-Length");
      body = *content_length;
    }
    if (body > kMaxResponseBody) return Error("response body too large");
    if (rest.size() < head_length + body) return ParsedResponse{};
    ParsedResponse r;
    r.state = ParseState::kComplete;
    r.status = status;
    r.length = offset + head_length + static_cast<size_t>(body);
    r.close = close;
    return r;
  }
}

}  // namespace switchboard::tools::loadgen
