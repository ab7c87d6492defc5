// RunLoad over real sockets against a cpp-httplib server on 127.0.0.1:0. Only counts are
// asserted (how many requests, which statuses, how many errors), never timings.
#include "tools/loadgen/http_load.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace switchboard::tools::loadgen {
namespace {

// A webhook-like endpoint: 200 for bodies starting with "ok", 503 for "fail".
class LocalServer {
 public:
  explicit LocalServer(int keep_alive_max = 1000000) {
    server_.set_tcp_nodelay(true);
    server_.set_keep_alive_max_count(keep_alive_max);
    server_.Post("/webhook", [this](const httplib::Request& req, httplib::Response& res) {
      {
        absl::MutexLock lock(&mu_);
        bodies_.insert(req.body);
        client_ports_.insert(req.remote_port);
        signatures_ += req.get_header_value("Stripe-Signature") == "sig" ? 1 : 0;
      }
      res.status = req.body.rfind("fail", 0) == 0 ? 503 : 200;
      res.set_content("{\"received\":true}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~LocalServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  size_t distinct_bodies() {
    absl::MutexLock lock(&mu_);
    return bodies_.size();
  }
  size_t distinct_connections() {
    absl::MutexLock lock(&mu_);
    return client_ports_.size();
  }
  int signatures() {
    absl::MutexLock lock(&mu_);
    return signatures_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  absl::Mutex mu_;
  std::set<std::string> bodies_ ABSL_GUARDED_BY(mu_);
  std::set<int> client_ports_ ABSL_GUARDED_BY(mu_);
  int signatures_ ABSL_GUARDED_BY(mu_) = 0;
};

LoadOptions Options(int port) {
  LoadOptions options;
  options.port = port;
  options.path = "/webhook";
  options.connections = 4;
  options.duration = absl::Milliseconds(300);
  options.timeout = absl::Seconds(10);
  options.make_request = [](int connection, int64_t n, absl::Time) {
    return HttpRequest{absl::StrCat("ok ", connection, " ", n), {{"Stripe-Signature", "sig"}}};
  };
  return options;
}

TEST(RunLoad, ClosedLoopGetsEveryResponseOverKeepAliveConnections) {
  LocalServer server;
  absl::StatusOr<LoadResult> result = RunLoad(Options(server.port()));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_GT(result->ok, 0);
  EXPECT_EQ(result->latency.count(), result->ok);
  EXPECT_TRUE(result->non2xx.empty());
  EXPECT_EQ(result->errors, 0);
  EXPECT_EQ(result->reconnects, 0) << result->ok << " responses";
  // Every request was distinct and carried its header.
  EXPECT_GE(server.distinct_bodies(), static_cast<size_t>(result->ok));
  EXPECT_GE(server.signatures(), result->ok);
}

TEST(RunLoad, OpenLoopSendsExactlyTheScheduledRequests) {
  LocalServer server;
  LoadOptions options = Options(server.port());
  options.rate = 200;  // over 300 ms measured, after 100 ms of warm-up: 60 measured, 80 sent
  options.warmup = absl::Milliseconds(100);
  options.threads = 2;
  absl::StatusOr<LoadResult> result = RunLoad(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->ok, 60);
  EXPECT_EQ(result->errors, 0);
  EXPECT_EQ(server.distinct_bodies(), 80u);
  // Requests go round-robin, so no keep-alive connection sits idle.
  EXPECT_EQ(server.distinct_connections(), 4u);
}

TEST(RunLoad, CountsStatusesOtherThan2xx) {
  LocalServer server;
  LoadOptions options = Options(server.port());
  options.rate = 100;
  options.make_request = [](int connection, int64_t n, absl::Time) {
    return HttpRequest{absl::StrCat(n % 2 == 0 ? "ok " : "fail ", connection, " ", n), {}};
  };
  absl::StatusOr<LoadResult> result = RunLoad(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->ok + result->non2xx[503], 30);
  EXPECT_GT(result->non2xx[503], 0);
  EXPECT_EQ(result->non2xx.size(), 1u);
  EXPECT_EQ(result->errors, 0);
}

TEST(RunLoad, ReopensConnectionsTheServerClosesWithoutCountingErrors) {
  LocalServer server(/*keep_alive_max=*/2);  // "Connection: close" on every second response
  LoadOptions options = Options(server.port());
  options.rate = 100;
  absl::StatusOr<LoadResult> result = RunLoad(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->ok, 30);
  EXPECT_EQ(result->errors, 0);
  EXPECT_GT(result->reconnects, 0);
}

TEST(RunLoad, CountsErrorsWhenNothingListens) {
  // A port that was just free: bind, read the port, close.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t length = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length), 0);
  ::close(fd);
  LoadOptions options = Options(ntohs(addr.sin_port));
  options.rate = 100;
  options.timeout = absl::Milliseconds(200);
  absl::StatusOr<LoadResult> result = RunLoad(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->ok, 0);
  EXPECT_GT(result->errors, 0);
}

TEST(RunLoad, RejectsBadOptions) {
  LoadOptions options = Options(1);
  options.make_request = nullptr;
  EXPECT_EQ(RunLoad(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = Options(1);
  options.connections = 0;
  EXPECT_EQ(RunLoad(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = Options(1);
  options.host = "no-such-host.invalid";
  EXPECT_EQ(RunLoad(options).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace switchboard::tools::loadgen
