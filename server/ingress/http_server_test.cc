// HttpServer over real sockets on port 0. Deadlines here are short so the tests run quickly,
// but nothing asserts how long anything took: only what the server did.
#include "server/ingress/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace switchboard::server::ingress {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A raw client socket, for what httplib's client would never send.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval tv{30, 0};  // a safety net against a hung test, not a timing assertion
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~RawClient() { ::close(fd_); }
  bool connected() const { return connected_; }
  void Send(const std::string& data) {
    ASSERT_GT(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL), 0);
  }
  // What the server sent next (one recv).
  std::string ReadSome() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
  // Everything until the server closes the connection.
  std::string ReadUntilClosed() {
    std::string out;
    char buf[4096];
    while (true) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(HttpServer::Options options) {
    auto server = HttpServer::Start(
        options,
        [](const HttpRequest& r) -> std::optional<HttpResponse> {
          if (r.Header("X-Refuse")) {
            HttpResponse refused = ErrorResponse(411, "refused before the body");
            refused.close_connection = true;
            return refused;
          }
          return std::nullopt;
        },
        [this](const HttpRequest& r) {
          handled_.fetch_add(1);
          HttpResponse response;
          response.body =
              absl::StrCat("{\"method\":\"", r.method, "\",\"bytes\":", r.body.size(), "}");
          return response;
        });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::unique_ptr<HttpServer> server_;
  std::atomic<int> handled_{0};
};

TEST_F(HttpServerTest, ServesManyRequestsOnOneKeepAliveConnection) {
  Start({});
  httplib::Client client("127.0.0.1", server_->port());
  client.set_keep_alive(true);
  for (int i = 0; i < 20; ++i) {
    auto res = client.Post("/webhook", std::string(100, 'x'), "application/json");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "{\"method\":\"POST\",\"bytes\":100}");
  }
  EXPECT_EQ(handled_.load(), 20);
}

TEST_F(HttpServerTest, AnswersPipelinedRequestsInOrder) {
  Start({});
  RawClient raw(server_->port());
  // Three requests in one write; the last asks to close so the reply ends.
  raw.Send(
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
      "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nd"
      "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string reply = raw.ReadUntilClosed();
  const size_t first = reply.find("{\"method\":\"POST\",\"bytes\":3}");
  const size_t second = reply.find("{\"method\":\"POST\",\"bytes\":1}");
  const size_t third = reply.find("{\"method\":\"GET\",\"bytes\":0}");
  ASSERT_NE(first, std::string::npos) << reply;
  ASSERT_NE(second, std::string::npos) << reply;
  ASSERT_NE(third, std::string::npos) << reply;
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_EQ(handled_.load(), 3);
}

TEST_F(HttpServerTest, SendsTheInterimContinueAtOnceAndTheResponseInOneWrite) {
  // Responses are buffered until the request is done; an interim 100 must not be, or a client
  // that waits for it before sending its body would wait forever. The final response then
  // arrives whole in one recv while this client is already waiting for it: were the head and
  // the body sent separately, the recv would return the head alone.
  Start({});
  RawClient raw(server_->port());
  raw.Send(
      "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
      "Expect: 100-continue\r\n\r\n");
  EXPECT_THAT(raw.ReadSome(), StartsWith("HTTP/1.1 100 Continue\r\n"));
  raw.Send("hello");
  const std::string reply = raw.ReadSome();
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, HasSubstr("{\"method\":\"POST\",\"bytes\":5}"));
  EXPECT_EQ(handled_.load(), 1);
}

TEST_F(HttpServerTest, RefusesFromHeadersWithoutWaitingForTheBody) {
  Start({});
  RawClient raw(server_->port());
  ASSERT_TRUE(raw.connected());
  // Announces a body it never sends: the answer must come from the headers alone.
  raw.Send("POST /webhook HTTP/1.1\r\nHost: x\r\nX-Refuse: 1\r\nContent-Length: 1000\r\n\r\n");
  std::string reply = raw.ReadUntilClosed();
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 411"));
  EXPECT_THAT(reply, HasSubstr("refused before the body"));
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(HttpServerTest, ClosesARequestThatMissesItsDeadline) {
  HttpServer::Options options;
  options.request_deadline = absl::Milliseconds(50);
  Start(options);
  RawClient slow(server_->port());
  ASSERT_TRUE(slow.connected());
  slow.Send("POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Le");  // ...and nothing more
  slow.ReadUntilClosed();  // returns only once the server gives up on the request
  EXPECT_EQ(handled_.load(), 0);
  // The listener still serves others.
  httplib::Client client("127.0.0.1", server_->port());
  auto res = client.Post("/webhook", "{}", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(HttpServerTest, IdleConnectionsGiveWayToNewSenders) {
  HttpServer::Options options;
  options.max_connections = 2;
  options.idle_timeout = absl::Hours(1);  // idle clients would hold their slot forever
  Start(options);
  RawClient idle1(server_->port());
  RawClient idle2(server_->port());
  ASSERT_TRUE(idle1.connected() && idle2.connected());
  // Make sure both are admitted and idle (each completes a request and stays open).
  for (RawClient* c : {&idle1, &idle2}) {
    c->Send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_THAT(c->ReadSome(), StartsWith("HTTP/1.1 200"));
  }
  httplib::Client client("127.0.0.1", server_->port());
  auto res = client.Post("/webhook", "{}", "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
}

TEST_F(HttpServerTest, RejectsTooManyHeaders) {
  HttpServer::Options options;
  options.max_headers = 8;
  Start(options);
  RawClient raw(server_->port());
  std::string request = "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n";
  for (int i = 0; i < 20; ++i) request += absl::StrCat("X-H", i, ": v\r\n");
  raw.Send(request + "\r\n{}");
  EXPECT_THAT(raw.ReadUntilClosed(), StartsWith("HTTP/1.1 431"));
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(HttpServerTest, RejectsOversizedHeaderSection) {
  HttpServer::Options options;
  options.max_header_bytes = 1024;
  Start(options);
  RawClient raw(server_->port());
  raw.Send("POST /webhook HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'a') +
           "\r\nContent-Length: 2\r\n\r\n{}");
  std::string reply = raw.ReadUntilClosed();
  EXPECT_FALSE(absl::StartsWith(reply, "HTTP/1.1 200")) << reply;
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(HttpServerTest, ServesHttpsWithTheConfiguredCertificate) {
  HttpServer::Options options;
  options.tls_cert_file = "tests/testdata/tls/test_server.crt";
  options.tls_key_file = "tests/testdata/tls/test_server.key";
  options.request_deadline = absl::Milliseconds(200);
  Start(options);
  // A client that connects and never starts the handshake is cut off at the deadline...
  RawClient stalled(server_->port());
  ASSERT_TRUE(stalled.connected());
  httplib::SSLClient client("127.0.0.1", server_->port());
  client.set_ca_cert_path(options.tls_cert_file.c_str());
  client.enable_server_certificate_verification(true);
  client.set_keep_alive(true);
  // ...and does not keep real senders out.
  for (int i = 0; i < 3; ++i) {
    auto res = client.Post("/webhook", std::string(5000, 'x'), "application/json");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "{\"method\":\"POST\",\"bytes\":5000}");
  }
  stalled.ReadUntilClosed();
  // Plain HTTP on the TLS port gets nothing useful.
  httplib::Client plain("127.0.0.1", server_->port());
  auto res = plain.Post("/webhook", "{}", "application/json");
  EXPECT_TRUE(!res || res->status != 200);
  EXPECT_EQ(handled_.load(), 3);
}

TEST(HttpServerTls, RefusesAMissingKey) {
  HttpServer::Options options;
  options.tls_cert_file = "tests/testdata/tls/test_server.crt";
  auto server = HttpServer::Start(
      options, [](const HttpRequest&) { return std::optional<HttpResponse>(); },
      [](const HttpRequest&) { return HttpResponse(); });
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(HttpServerTest, StrayLineFeedsDoNotEndTheHeaderLimitEarly) {
  HttpServer::Options options;
  options.max_header_bytes = 1024;
  Start(options);
  RawClient raw(server_->port());
  // "\n\n" right after the request line is not the end of the headers for httplib, so the
  // size limit must keep counting through the big header that follows.
  raw.Send("GET /x HTTP/1.1\r\n\n\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n");
  std::string reply = raw.ReadUntilClosed();
  EXPECT_FALSE(absl::StartsWith(reply, "HTTP/1.1 200")) << reply.substr(0, 40);
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(HttpServerTest, RefusesABodyOnAMethodThatReadsNone) {
  Start({});
  RawClient raw(server_->port());
  // Were the body left unread, "GET /smuggled" would be served as a second request.
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  raw.Send(absl::StrCat("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: ", smuggled.size(),
                        "\r\n\r\n", smuggled));
  std::string reply = raw.ReadUntilClosed();
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 400"));
  EXPECT_EQ(reply.find("HTTP/1.1", 8), std::string::npos) << "a second response was sent";
  EXPECT_EQ(handled_.load(), 0);
}

TEST(HttpServerLifecycle, StopRightAfterStartReturns) {
  for (int i = 0; i < 20; ++i) {
    auto server = HttpServer::Start(
        {}, [](const HttpRequest&) { return std::optional<HttpResponse>(); },
        [](const HttpRequest&) { return HttpResponse(); });
    ASSERT_TRUE(server.ok());
    (*server)->Stop();  // must not wait for an accept loop that never noticed the stop
  }
}

TEST_F(HttpServerTest, StopFinishesPromptlyWithIdleKeepAliveConnections) {
  HttpServer::Options options;
  options.idle_timeout = absl::Hours(1);
  Start(options);
  httplib::Client client("127.0.0.1", server_->port());
  client.set_keep_alive(true);
  ASSERT_TRUE(client.Post("/webhook", "{}", "application/json"));
  server_->Stop();  // would block for the idle timeout if idle connections were not released
  EXPECT_EQ(handled_.load(), 1);
}

}  // namespace
}  // namespace switchboard::server::ingress
