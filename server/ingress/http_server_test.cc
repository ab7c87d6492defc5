// HttpServer over real sockets on port 0. Deadlines here are short so the tests run quickly,
// but nothing asserts how long anything took: only what the server did.
#include "server/ingress/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "openssl/err.h"
#include "openssl/ssl.h"
#include "server/base/thread_name.h"

namespace switchboard::server::ingress {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::StartsWith;

constexpr char kCertFile[] = "tests/testdata/tls/test_server.crt";
constexpr char kKeyFile[] = "tests/testdata/tls/test_server.key";

// A safety net against a hung test, never a timing assertion: every blocking socket call and
// every WaitUntil gives up after this.
constexpr int kSafetySeconds = 30;

// A connected TCP socket to 127.0.0.1:port; `receive_buffer` > 0 sets SO_RCVBUF before the
// connection is made (so the advertised window stays that small).
int ConnectTo(int port, int receive_buffer = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (receive_buffer > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
  }
  timeval tv{kSafetySeconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Polls `done` until it holds or the safety net runs out; the caller asserts the result.
bool WaitUntil(const std::function<bool()>& done) {
  const absl::Time until = absl::Now() + absl::Seconds(kSafetySeconds);
  while (!done()) {
    if (absl::Now() > until) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

// The raw bytes `fd` receives until the server closes the connection. `end_errno` (if given) is
// 0 for an orderly close (FIN), else the error that ended the reads (ECONNRESET, or EAGAIN when
// the safety net ran out).
std::string ReceiveUntilClosed(int fd, int* end_errno = nullptr) {
  std::string out;
  char buf[16 * 1024];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (end_errno != nullptr) *end_errno = n == 0 ? 0 : errno;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// A raw client socket, for what httplib's client would never send.
class RawClient {
 public:
  explicit RawClient(int port) : fd_(ConnectTo(port)) {}
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void Send(const std::string& data) {
    ASSERT_GT(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL), 0);
  }
  // Sends all of `data`; false (and errno) when the connection fails first.
  bool SendAll(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  // What the server sent next (one recv).
  std::string ReadSome() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
  std::string ReadUntilClosed(int* end_errno = nullptr) {
    return ReceiveUntilClosed(fd_, end_errno);
  }
  // True when the server has sent something (or closed) that this client has not read yet.
  bool HasInput() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

 private:
  int fd_ = -1;
};

// An OpenSSL client that trusts only the test certificate, on a blocking socket, for what
// httplib's SSLClient hides: whether the server ended the session with a close_notify, and a
// client that stops reading.
class TlsClient {
 public:
  explicit TlsClient(int port, int receive_buffer = 0) : fd_(ConnectTo(port, receive_buffer)) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (fd_ < 0 || ctx_ == nullptr) return;
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_load_verify_locations(ctx_, kCertFile, nullptr) != 1) return;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set1_host(ssl_, "localhost");
    connected_ = SSL_connect(ssl_) == 1;
  }
  ~TlsClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }

  bool Write(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      int n = SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done));
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // One response with a Content-Length body (all this server sends); empty on failure.
  std::string ReadResponse() {
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      if (!ReadMore(head)) return "";
    }
    const size_t body_start = head.find("\r\n\r\n") + 4;
    const size_t at = head.find("Content-Length: ");
    size_t length = 0;
    if (at == std::string::npos ||
        !absl::SimpleAtoi(head.substr(at + 16, head.find("\r\n", at) - at - 16), &length)) {
      return "";
    }
    while (head.size() < body_start + length) {
      if (!ReadMore(head)) return "";
    }
    return head;
  }

  // Reads until the TLS session ends. True only for an orderly end: the server's close_notify
  // alert arrived; false for a bare TCP close, a reset or the safety timeout. `why` says which.
  bool ReadUntilCloseNotify(std::string& why) {
    std::string ignored;
    while (ReadMore(ignored)) {
    }
    why = ending_;
    return ending_ == "close_notify";
  }

 private:
  bool ReadMore(std::string& out) {
    char buf[16 * 1024];
    ERR_clear_error();
    const int n = SSL_read(ssl_, buf, sizeof(buf));
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      return true;
    }
    const int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_ZERO_RETURN) {
      ending_ = "close_notify";
    } else {
      char text[256] = {0};
      ERR_error_string_n(ERR_peek_error(), text, sizeof(text));
      ending_ = absl::StrCat("SSL_get_error=", err, " errno=", errno, " ", text);
    }
    return false;
  }

  const int fd_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
  std::string ending_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  // Refuses `X-Refuse` (411) and a Content-Length above max_body_bytes (413) from the headers,
  // as WebhookHandler::CheckHeaders does; answers `X-Response-Bytes: N` with N bytes,
  // `X-Thread-Name` with the serving thread's name and `X-Forwarded-For` with all its lines
  // combined.
  // Starts with a single connection slot (idle connections kept an hour) and takes it with
  // *busy: a request whose body is half sent ("ab" of 4 bytes), so it cannot give way until
  // it sends "cd".
  void StartWithTheOnlySlotBusy(std::unique_ptr<RawClient>* busy) {
    HttpServer::Options options;
    options.max_connections = 1;
    options.idle_timeout = absl::Hours(1);
    Start(options);
    *busy = std::make_unique<RawClient>(server_->port());
    ASSERT_TRUE((*busy)->connected());
    (*busy)->Send("POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab");
    ASSERT_TRUE(WaitUntil([&] { return server_->active_connections() == 1; }));
  }

  // The server's own refusals so far (Options::on_refused), in order: (reason, status).
  std::vector<std::pair<std::string, int>> refusals() {
    absl::MutexLock lock(&mu_);
    return refusals_;
  }

  // On a server holding header sections to 1 KiB, `request` is answered 431 before any handler
  // runs, and reported as header_too_large. Returns the whole reply.
  std::string ExpectHeaderTooLarge(const std::string& request) {
    HttpServer::Options options;
    options.max_header_bytes = 1024;
    Start(options);
    RawClient raw(server_->port());
    raw.Send(request);
    std::string reply = raw.ReadUntilClosed();
    EXPECT_THAT(reply, StartsWith("HTTP/1.1 431")) << reply.substr(0, 40);
    EXPECT_EQ(handled_.load(), 0);
    EXPECT_THAT(refusals(), ElementsAre(Pair("header_too_large", 431)));
    return reply;
  }

  void Start(HttpServer::Options options) {
    const int64_t max_body_bytes = options.max_body_bytes;
    options.on_refused = [this](absl::string_view reason, int status) {
      EXPECT_THAT(HttpServer::kRefusalReasons, Contains(reason));
      absl::MutexLock lock(&mu_);
      refusals_.emplace_back(std::string(reason), status);
    };
    auto server = HttpServer::Start(
        options,
        [max_body_bytes](const HttpRequest& r) -> std::optional<HttpResponse> {
          if (r.Header("X-Refuse")) {
            HttpResponse refused = ErrorResponse(411, "refused before the body");
            refused.close_connection = true;
            return refused;
          }
          int64_t length = 0;
          if (std::optional<absl::string_view> text = r.Header("Content-Length");
              text && absl::SimpleAtoi(*text, &length) && length > max_body_bytes) {
            HttpResponse refused = ErrorResponse(413, "body too large");
            refused.close_connection = true;
            return refused;
          }
          return std::nullopt;
        },
        [this](const HttpRequest& r) {
          handled_.fetch_add(1);
          HttpResponse response;
          if (r.Header("X-Thread-Name")) {
            response.body = base::CurrentThreadName();
            return response;
          }
          if (std::optional<std::string> forwarded = r.CombinedHeader("X-Forwarded-For")) {
            response.body = *forwarded;
            return response;
          }
          size_t size = 0;
          if (std::optional<absl::string_view> text = r.Header("X-Response-Bytes");
              text && absl::SimpleAtoi(*text, &size)) {
            response.body.assign(size, 'x');
            return response;
          }
          response.body =
              absl::StrCat("{\"method\":\"", r.method, "\",\"bytes\":", r.body.size(), "}");
          return response;
        });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // What the server's callbacks touch is declared first, so it is destroyed after the server
  // (whose Stop may still report a refusal: a request cut short by the stop).
  std::atomic<int> handled_{0};
  absl::Mutex mu_;
  std::vector<std::pair<std::string, int>> refusals_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<HttpServer> server_;
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

TEST_F(HttpServerTest, WorkersCarryTheConfiguredThreadName) {
  HttpServer::Options options;
  options.thread_name = "sb-test";
  Start(options);
  httplib::Client client("127.0.0.1", server_->port());
  auto res = client.Get("/", {{"X-Thread-Name", "1"}});
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->body, "sb-test");
}

// The allow-list judges the last X-Forwarded-For line (a proxy appends its own line after the
// client's), so the handler must get repeated lines in the order they came, whatever their case.
TEST_F(HttpServerTest, PassesRepeatedHeaderLinesInTheOrderReceived) {
  Start({});
  RawClient raw(server_->port());
  raw.Send(
      "GET /x HTTP/1.1\r\nHost: x\r\nx-forwarded-for: 3.18.12.63\r\nX-Other: 1\r\n"
      "X-Forwarded-For: 6.6.6.6\r\nX-FORWARDED-FOR: 7.7.7.7\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(raw.ReadUntilClosed(), EndsWith("\r\n\r\n3.18.12.63,6.6.6.6,7.7.7.7"));
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
  EXPECT_THAT(refusals(), IsEmpty()) << "the handler's refusal is the handler's to count";
}

// A sender refused from its headers may still be sending the body it announced. It must get to
// write it and read the whole refusal. Were the server to close with that body unread, its
// kernel would answer with RST and the client's write would fail (EPIPE/ECONNRESET): httplib
// and curl give up there without reading the response. (Linux keeps what the client had
// received readable after the RST; other stacks may not.)
TEST_F(HttpServerTest, ASenderRefusedWhileStillSendingItsBodyReadsTheWholeRefusal) {
  Start({});  // bodies up to 1 MiB
  RawClient raw(server_->port());
  ASSERT_TRUE(raw.connected());
  // 8 MiB of the 64 MiB announced, more than the kernel buffers on the way hold, so the client
  // is still writing when the 413 comes; it reads only once it has written them all.
  const bool sent = raw.SendAll(absl::StrCat("POST /webhook HTTP/1.1\r\nHost: x\r\n",
                                             "Content-Length: ", 64 << 20, "\r\n\r\n",
                                             std::string(8 << 20, 'x')));
  const int send_errno = errno;
  EXPECT_TRUE(sent) << "the write failed: " << std::strerror(send_errno);
  int end_errno = -1;
  const std::string reply = raw.ReadUntilClosed(&end_errno);
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 413"));
  EXPECT_THAT(reply, EndsWith("\r\n\r\n{\"error\":\"body too large\"}\n"));
  EXPECT_EQ(end_errno, 0) << "the connection was reset: " << std::strerror(end_errno);
  EXPECT_EQ(handled_.load(), 0);
}

// The drain after a refusal is bounded: a refused client that keeps sending (here 24 MiB, more
// than the 16 MiB the server discards) or that never closes loses its slot all the same, while
// it still holds its end of the connection.
TEST_F(HttpServerTest, ARefusedClientThatKeepsSendingLosesItsSlot) {
  Start({});
  RawClient raw(server_->port());
  ASSERT_TRUE(raw.connected());
  raw.Send(absl::StrCat("POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: ", int64_t{1} << 30,
                        "\r\n\r\n"));
  // Admitted and refused; the server is now discarding what the client still sends.
  EXPECT_THAT(raw.ReadSome(), StartsWith("HTTP/1.1 413"));
  std::thread sender([&raw] {
    // Fails (EPIPE/ECONNRESET) once the server has closed: the point of the test.
    raw.SendAll(std::string(24 << 20, 'x'));
  });
  EXPECT_TRUE(WaitUntil([&] { return server_->active_connections() == 0; }));
  sender.join();
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(HttpServerTest, ARefusedClientThatNeverClosesLosesItsSlot) {
  Start({});
  RawClient raw(server_->port());
  ASSERT_TRUE(raw.connected());
  raw.Send("POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n");
  EXPECT_THAT(raw.ReadSome(), StartsWith("HTTP/1.1 413"));
  // It reads its refusal and then neither sends nor closes.
  EXPECT_TRUE(WaitUntil([&] { return server_->active_connections() == 0; }));
}

TEST_F(HttpServerTest, AnHttpClientSendingATooLargeBodyGetsThe413) {
  Start({});
  httplib::Client client("127.0.0.1", server_->port());
  auto res = client.Post("/webhook", std::string(8 << 20, 'x'), "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());  // Write: reset while sending the body
  EXPECT_EQ(res->status, 413);
  EXPECT_THAT(res->body, HasSubstr("body too large"));
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(HttpServerTest, ClosesARequestThatMissesItsDeadline) {
  HttpServer::Options options;
  options.request_deadline = absl::Milliseconds(50);
  Start(options);
  RawClient slow(server_->port());
  ASSERT_TRUE(slow.connected());
  slow.Send("POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Le");  // ...and nothing more
  // Returns only once the server gives up on the request: httplib answers 400 by then.
  EXPECT_THAT(slow.ReadUntilClosed(), StartsWith("HTTP/1.1 400"));
  // Cut short before its request line is in: nothing is answered.
  RawClient slower(server_->port());
  ASSERT_TRUE(slower.connected());
  slower.Send("POST /web");
  EXPECT_EQ(slower.ReadUntilClosed(), "");
  EXPECT_EQ(handled_.load(), 0);
  EXPECT_THAT(refusals(), ElementsAre(Pair("deadline", 400), Pair("deadline", 0)));
  // The listener still serves others.
  httplib::Client client("127.0.0.1", server_->port());
  auto res = client.Post("/webhook", "{}", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(HttpServerTest, OneIdleConnectionGivesWayToEachNewSender) {
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
  // One of them was closed to make room (before the newcomer got its slot)...
  pollfd either[2] = {{idle1.fd(), POLLIN, 0}, {idle2.fd(), POLLIN, 0}};
  ASSERT_GT(::poll(either, 2, kSafetySeconds * 1000), 0);
  RawClient& closed = (either[0].revents & POLLIN) != 0 ? idle1 : idle2;
  RawClient& kept = &closed == &idle1 ? idle2 : idle1;
  EXPECT_EQ(closed.ReadUntilClosed(), "");
  // ...and only one: the other is still open and keeps serving.
  for (int i = 0; i < 2; ++i) {
    kept.Send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_THAT(kept.ReadSome(), StartsWith("HTTP/1.1 200")) << "request " << i;
  }
}

// When every slot is taken, one newcomer at a time waits (up to 1 s) for a slot; the others
// that come meanwhile are refused at once instead of parking a worker each.
// A newcomer whose whole request is in before its 503 reads the 503 and an orderly close: closing
// with its bytes unread would send a reset, which may cost the client the response.
TEST_F(HttpServerTest, ARefusedNewcomerThatSentItsRequestGetsThe503AndAnOrderlyClose) {
  std::unique_ptr<RawClient> busy_client;
  ASSERT_NO_FATAL_FAILURE(StartWithTheOnlySlotBusy(&busy_client));
  RawClient newcomer(server_->port());
  ASSERT_TRUE(newcomer.connected());
  // The only newcomer waits its second for the slot, which does not come free: its request is
  // in the server's receive buffer by the time it is refused.
  newcomer.Send("POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
  int end_errno = -1;
  EXPECT_THAT(newcomer.ReadUntilClosed(&end_errno), StartsWith("HTTP/1.1 503"));
  EXPECT_EQ(end_errno, 0) << std::strerror(end_errno);
}

TEST_F(HttpServerTest, OnlyOneNewcomerWaitsForASlotTheOthersAreRefusedAtOnce) {
  // The only slot is held by a request whose body is half sent: it cannot give way yet.
  std::unique_ptr<RawClient> busy_client;
  ASSERT_NO_FATAL_FAILURE(StartWithTheOnlySlotBusy(&busy_client));
  RawClient& busy = *busy_client;

  // Of newcomers arriving together, all but one are answered 503 while the slot is taken.
  constexpr int kNewcomers = 3;
  std::vector<std::unique_ptr<RawClient>> newcomers;
  for (int i = 0; i < kNewcomers; ++i) {
    newcomers.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_TRUE(newcomers.back()->connected());
  }
  std::vector<RawClient*> pending;
  for (auto& c : newcomers) pending.push_back(c.get());
  while (pending.size() > 1) {
    std::vector<pollfd> polls;
    for (RawClient* c : pending) polls.push_back({c->fd(), POLLIN, 0});
    ASSERT_GT(::poll(polls.data(), polls.size(), kSafetySeconds * 1000), 0);
    std::vector<RawClient*> still_pending;
    for (size_t i = 0; i < pending.size(); ++i) {
      if ((polls[i].revents & (POLLIN | POLLHUP)) == 0) {
        still_pending.push_back(pending[i]);
        continue;
      }
      EXPECT_THAT(pending[i]->ReadUntilClosed(), StartsWith("HTTP/1.1 503"));
    }
    pending = still_pending;
  }
  RawClient& waiter = *pending[0];
  // So is one that comes later while the first still waits. (Were every newcomer to wait its
  // full second, this one's answer would come a second after the waiter's had.)
  RawClient late(server_->port());
  ASSERT_TRUE(late.connected());
  EXPECT_THAT(late.ReadUntilClosed(), StartsWith("HTTP/1.1 503"));
  ASSERT_FALSE(waiter.HasInput()) << "the waiter was answered before a slot came free";
  // When the busy connection finishes its request and turns idle, it gives way, and the waiter
  // is served in its slot.
  busy.Send("cd");
  EXPECT_THAT(busy.ReadSome(), StartsWith("HTTP/1.1 200"));
  EXPECT_EQ(busy.ReadUntilClosed(), "");  // gave way
  waiter.Send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(waiter.ReadSome(), StartsWith("HTTP/1.1 200"));
}

// A newcomer that gave up waiting withdraws its call for an idle connection to give way: a
// connection that turns idle later is not closed for nobody.
TEST_F(HttpServerTest, ANewcomerThatGaveUpClosesNoConnectionLater) {
  std::unique_ptr<RawClient> busy_client;
  ASSERT_NO_FATAL_FAILURE(StartWithTheOnlySlotBusy(&busy_client));
  RawClient& busy = *busy_client;
  {
    RawClient newcomer(server_->port());
    ASSERT_TRUE(newcomer.connected());
    // No connection is idle, so nothing gives way within the second it waits.
    EXPECT_THAT(
        newcomer.ReadUntilClosed(),
        AllOf(StartsWith("HTTP/1.1 503"), EndsWith("{\"error\":\"too many connections\"}\n")));
    EXPECT_THAT(refusals(), ElementsAre(Pair("too_many_connections", 503)));
  }
  busy.Send("cd");
  EXPECT_THAT(busy.ReadSome(), StartsWith("HTTP/1.1 200"));
  // Now idle with nobody waiting: it stays open and serves its next request.
  busy.Send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(busy.ReadSome(), StartsWith("HTTP/1.1 200"));
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
  EXPECT_THAT(refusals(), ElementsAre(Pair("too_many_headers", 431)));
}

TEST_F(HttpServerTest, RejectsOversizedHeaderSection) {
  // httplib alone would answer a bare 400.
  const std::string reply =
      ExpectHeaderTooLarge("POST /webhook HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'a') +
                           "\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  EXPECT_THAT(reply, EndsWith("\r\n\r\n{\"error\":\"header section too large\"}\n"));
  EXPECT_EQ(reply.find("HTTP/1.1", 8), std::string::npos) << "a second response was sent";
}

// The limit counts the request line too; httplib alone would close without a word.
TEST_F(HttpServerTest, RejectsAnOversizedRequestLineWith431) {
  ExpectHeaderTooLarge("GET /" + std::string(4000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
}

// httplib refuses a header line over CPPHTTPLIB_HEADER_MAX_LENGTH bytes (its CR LF included) as
// malformed, well below the default section limit; it is too large, so 431. One byte less is
// served.
TEST_F(HttpServerTest, RejectsAHeaderLineLongerThanHttplibTakesWith431) {
  Start({});
  const std::string prefix = "X-Big: ";
  const size_t longest = CPPHTTPLIB_HEADER_MAX_LENGTH - prefix.size() - 2;
  RawClient fits(server_->port());
  fits.Send(absl::StrCat("GET /x HTTP/1.1\r\nHost: x\r\n", prefix, std::string(longest, 'a'),
                         "\r\nConnection: close\r\n\r\n"));
  EXPECT_THAT(fits.ReadUntilClosed(), StartsWith("HTTP/1.1 200"));
  RawClient too_long(server_->port());
  too_long.Send(absl::StrCat("GET /x HTTP/1.1\r\nHost: x\r\n", prefix,
                             std::string(longest + 1, 'a'), "\r\n\r\n"));
  EXPECT_THAT(too_long.ReadUntilClosed(), StartsWith("HTTP/1.1 431"));
  EXPECT_EQ(handled_.load(), 1);
  EXPECT_THAT(refusals(), ElementsAre(Pair("header_too_large", 431)));
}

TEST_F(HttpServerTest, NamesWhatHttplibRefusesByItself) {
  Start({});
  RawClient garbage(server_->port());
  garbage.Send("NOT-A-METHOD / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(garbage.ReadUntilClosed(), StartsWith("HTTP/1.1 400"));
  RawClient long_uri(server_->port());
  long_uri.Send("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(long_uri.ReadUntilClosed(), StartsWith("HTTP/1.1 414"));
  EXPECT_EQ(handled_.load(), 0);
  EXPECT_THAT(refusals(), ElementsAre(Pair("malformed_request", 400), Pair("uri_too_long", 414)));
}

TEST_F(HttpServerTest, ServesHttpsWithTheConfiguredCertificate) {
  HttpServer::Options options;
  options.tls_cert_file = kCertFile;
  options.tls_key_file = kKeyFile;
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
  RawClient plain(server_->port());
  plain.Send("POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(plain.ReadUntilClosed(), "");
  EXPECT_EQ(handled_.load(), 3);
  // The plain-text client's failed handshake is a refusal; the stalled client, which sent
  // nothing, was refused nothing (as an idle plain connection is not).
  EXPECT_THAT(refusals(), ElementsAre(Pair("tls_handshake", 0)));
}

HttpServer::Options TlsOptions() {
  HttpServer::Options options;
  options.tls_cert_file = kCertFile;
  options.tls_key_file = kKeyFile;
  options.idle_timeout = absl::Hours(1);
  return options;
}

// However a TLS connection ends, the server's close_notify goes out before the socket is
// closed, so the client reads its last response and then an orderly end of the session. (Sent
// after close(), the alert fails, or lands in whichever connection reused the descriptor, and
// the client sees the stream cut off.)
TEST_F(HttpServerTest, TlsConnectionEndsWithCloseNotifyAtTheRequestLimit) {
  HttpServer::Options options = TlsOptions();
  options.max_requests_per_connection = 2;
  Start(options);
  TlsClient client(server_->port());
  ASSERT_TRUE(client.connected());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(client.Write("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_THAT(client.ReadResponse(), StartsWith("HTTP/1.1 200"));
  }
  std::string why;
  EXPECT_TRUE(client.ReadUntilCloseNotify(why)) << why;
}

TEST_F(HttpServerTest, TlsConnectionEndsWithCloseNotifyAtTheIdleTimeout) {
  HttpServer::Options options = TlsOptions();
  // Also how long the server waits for the first request after the handshake.
  options.idle_timeout = absl::Milliseconds(500);
  Start(options);
  TlsClient client(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Write("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_THAT(client.ReadResponse(), StartsWith("HTTP/1.1 200"));
  std::string why;
  EXPECT_TRUE(client.ReadUntilCloseNotify(why)) << why;
}

TEST_F(HttpServerTest, TlsConnectionEndsWithCloseNotifyOnStop) {
  Start(TlsOptions());
  TlsClient client(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Write("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_THAT(client.ReadResponse(), StartsWith("HTTP/1.1 200"));
  server_->Stop();
  std::string why;
  EXPECT_TRUE(client.ReadUntilCloseNotify(why)) << why;
}

TEST_F(HttpServerTest, TlsClientThatStopsReadingIsDroppedAtTheWriteTimeout) {
  HttpServer::Options options = TlsOptions();
  options.max_connections = 1;  // the stalled client holds the only slot until it is dropped
  options.write_timeout = absl::Milliseconds(100);
  Start(options);
  // Far more than the kernel buffers between them (the server's send buffer grows to 4 MiB by
  // default, the client's receive buffer is a few KiB), so the server's write blocks.
  constexpr size_t kResponseBytes = 16 << 20;
  TlsClient stalled(server_->port(), /*receive_buffer=*/4096);
  ASSERT_TRUE(stalled.connected());
  ASSERT_TRUE(stalled.Write(absl::StrCat(
      "GET /big HTTP/1.1\r\nHost: x\r\nX-Response-Bytes: ", kResponseBytes, "\r\n\r\n")));
  // It never reads. The server gives up on the write and frees the slot (it stays taken for
  // good if the write waits for a reader)...
  ASSERT_TRUE(WaitUntil([&] { return server_->active_connections() == 0; }))
      << "the worker is still writing to a client that does not read";
  // ...serves the next client in it...
  httplib::SSLClient next("127.0.0.1", server_->port());
  next.set_ca_cert_path(kCertFile);
  next.enable_server_certificate_verification(true);
  auto res = next.Post("/webhook", "{}", "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  // ...and closed the stalled connection with its response cut short.
  int end_errno = -1;
  const std::string received = ReceiveUntilClosed(stalled.fd(), &end_errno);
  EXPECT_TRUE(end_errno == 0 || end_errno == ECONNRESET) << "still open: errno " << end_errno;
  EXPECT_LT(received.size(), kResponseBytes);
  EXPECT_EQ(handled_.load(), 2);
}

TEST(HttpServerTls, RefusesAMissingKey) {
  HttpServer::Options options;
  options.tls_cert_file = kCertFile;
  auto server = HttpServer::Start(
      options, [](const HttpRequest&) { return std::optional<HttpResponse>(); },
      [](const HttpRequest&) { return HttpResponse(); });
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(HttpServerTest, StrayLineFeedsDoNotEndTheHeaderLimitEarly) {
  // "\n\n" right after the request line is not the end of the headers for httplib, so the
  // size limit must keep counting through the big header that follows.
  ExpectHeaderTooLarge("GET /x HTTP/1.1\r\n\n\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n");
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
  EXPECT_THAT(refusals(), ElementsAre(Pair("body_not_allowed", 400)));
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
