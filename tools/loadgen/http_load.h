// RunLoad: drives an HTTP/1.1 endpoint with POSTs over keep-alive connections, cheaply.
//
// The load generator shares a 2-core machine with the server it measures, so its own CPU per
// request matters. One thread (or a few, `threads`) runs an epoll loop over non-blocking
// sockets with TCP_NODELAY; each request goes out in one write (head and body together), one
// request is in flight per connection (no pipelining), and responses are framed by
// ParseResponse (status line + Content-Length; tools/loadgen/http_response.h). epoll_pwait2's
// nanosecond timeout wakes the loop at the next scheduled send.
//
// Two modes:
//   closed loop (rate == 0): every connection sends its next request as soon as the previous
//     one is answered; latency is measured from the send.
//   open loop (rate > 0): requests are scheduled at fixed intervals (rate per second over all
//     connections) whatever the server does, handed to the first idle connection, and their
//     latency is measured from the scheduled time, so a stalled server shows in the
//     percentiles (no coordinated omission). A request that waited longer than `timeout` for a
//     connection is dropped and counted as an error.
// Only requests scheduled (open) or sent (closed) in [start + warmup, start + warmup + duration)
// are measured. Errors: failed connects, connections closed or reset with a request in flight,
// responses this client cannot frame, and responses not received within `timeout`; a
// connection that fails is reopened (after 50 ms when connecting itself failed). A keep-alive
// connection the server closes while idle, or after a response with `Connection: close`, is
// reopened without counting an error.
//
// Example:
//   LoadOptions options;
//   options.host = "127.0.0.1"; options.port = 4242; options.path = "/webhook";
//   options.connections = 50; options.rate = 1000; options.duration = absl::Seconds(10);
//   options.make_request = [&](int connection, int64_t n, absl::Time now) {
//     RequestFactory::Request r = factory.Make(connection, n, now);
//     return HttpRequest{std::move(r.body), {{"Stripe-Signature", r.signature_header}}};
//   };
//   ASSIGN_OR_RETURN(LoadResult result, RunLoad(options));
//
// Thread-safety: RunLoad may be called from any thread; it calls make_request concurrently
// from its `threads` loop threads.
#ifndef SWITCHBOARD_TOOLS_LOADGEN_HTTP_LOAD_H_
#define SWITCHBOARD_TOOLS_LOADGEN_HTTP_LOAD_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/loadgen/loadgen_lib.h"

namespace switchboard::tools::loadgen {

struct HttpRequest {
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // beside Host and Content-Length
};

struct LoadOptions {
  std::string host = "127.0.0.1";  // name or address (resolved once)
  int port = 0;
  std::string path = "/";
  std::string content_type = "application/json; charset=utf-8";
  int connections = 1;
  int threads = 1;  // loop threads; connections are spread over them
  double rate = 0;  // requests/s over all connections; 0 = closed loop
  absl::Duration warmup = absl::ZeroDuration();
  absl::Duration duration = absl::Seconds(1);
  absl::Duration timeout = absl::Seconds(30);
  // The n-th request (n = 0, 1, ... per connection) of `connection` (0 <= connection <
  // connections), signed at `now`. Called from the loop threads concurrently. Required.
  std::function<HttpRequest(int connection, int64_t n, absl::Time now)> make_request;
};

struct LoadResult {
  LatencyStats latency;           // measured requests that got a response (any status)
  int64_t ok = 0;                 // measured 2xx
  std::map<int, int64_t> non2xx;  // measured responses by status
  int64_t errors = 0;             // measured requests without a response, and failed connects
  int64_t reconnects = 0;         // connections reopened after the server closed them (any time)
};

// Runs the load (see the file comment) and returns what was measured. kInvalidArgument for
// bad options (no make_request, connections < 1, duration <= 0, a negative rate);
// kNotFound when the host does not resolve; kInternal when epoll cannot be created.
// Connection failures are counted in the result, not returned.
absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options);

}  // namespace switchboard::tools::loadgen

#endif  // SWITCHBOARD_TOOLS_LOADGEN_HTTP_LOAD_H_
