// HTTP/1.1 response framing for the load generator's client (tools/loadgen/http_load.h).
//
// ParseResponse finds where one response ends in the bytes a connection has read so far: the
// status line, the headers it needs (Content-Length, Connection, Transfer-Encoding) and the body
// length. Interim 1xx responses before the final one are skipped. It is a pure function, so the
// client keeps the bytes and calls it again after every read until the response is complete;
// responses to a load generator are a few hundred bytes, so re-scanning the head is cheaper than
// keeping parser state.
//
// Deliberately not supported (each is a kError the load generator counts): chunked or other
// transfer codings, and bodies delimited by closing the connection (no Content-Length). The
// servers it drives (Switchboard's ingress, Express) send Content-Length.
//
// Example:
//   ParsedResponse r = ParseResponse(buffer);
//   if (r.state == ParseState::kComplete) { Record(r.status); buffer.erase(0, r.length); }
//
// Thread-safety: pure function.
#ifndef SWITCHBOARD_TOOLS_LOADGEN_HTTP_RESPONSE_H_
#define SWITCHBOARD_TOOLS_LOADGEN_HTTP_RESPONSE_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace switchboard::tools::loadgen {

enum class ParseState {
  kIncomplete,  // need more bytes
  kComplete,    // one whole response is at the start of the data
  kError,       // not a response this client can frame; the connection must be closed
};

struct ParsedResponse {
  ParseState state = ParseState::kIncomplete;
  int status = 0;      // the final (non-1xx) status; kComplete only
  size_t length = 0;   // bytes of the response(s) consumed, head and body; kComplete only
  bool close = false;  // the server closes the connection after it (Connection: close, HTTP/1.0)
  std::string error;   // kError only
};

// Largest response head (status line and headers) and body accepted.
inline constexpr size_t kMaxResponseHead = 64 * 1024;
inline constexpr size_t kMaxResponseBody = 64 * 1024 * 1024;

// Parses the response at the start of `data` (see the file comment).
ParsedResponse ParseResponse(absl::string_view data);

}  // namespace switchboard::tools::loadgen

#endif  // SWITCHBOARD_TOOLS_LOADGEN_HTTP_RESPONSE_H_
