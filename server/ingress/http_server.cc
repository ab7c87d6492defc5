#include "server/ingress/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "httplib.h"
#include "openssl/err.h"
#include "openssl/ssl.h"
#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/base/thread_name.h"

namespace switchboard::server::ingress {
namespace internal {
namespace {

// What the adapters (pre-routing check, handler, error handler) made of the current request. The
// connection loop runs on the same thread as they do: it clears this before each request and
// reads it after.
struct RequestOutcome {
  // The response requires closing the connection (for example the body was left unread).
  bool close_after_response = false;
  // The handler decided the response (from CheckHeaders or Handle): not a refusal of ours.
  bool handler_answered = false;
  // The status of a refusal the server made itself (not the handler), or 0.
  int refused_status = 0;
  // Its reason (one of HttpServer::kRefusalReasons) when our pre-routing check refused; null
  // when httplib refused by itself (it could not parse or read the request).
  const char* refusal = nullptr;
};
thread_local RequestOutcome t_request;

// httplib refuses a header line longer than this (a 400 we could not tell from any other).
constexpr int kMaxHeaderLineBytes = CPPHTTPLIB_HEADER_MAX_LENGTH;

// A complete response with a JSON error body, for what the server sends without httplib.
std::string RawErrorResponse(int status, absl::string_view status_text, absl::string_view message) {
  const std::string body = ErrorResponse(status, message).body;
  return absl::StrCat("HTTP/1.1 ", status, " ", status_text,
                      "\r\nContent-Type: application/json\r\nContent-Length: ", body.size(),
                      "\r\nConnection: close\r\n\r\n", body);
}

int ToPollMillis(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d) + 1, 1 << 30));
}

void PeerAddress(int sock, bool local, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  int rc = local ? getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len)
                 : getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len);
  port = 0;
  if (rc != 0) return;
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
    port = ntohs(a->sin6_port);
  }
  ip = text;
}

// A buffered socket stream that enforces a whole-request deadline and the header size limits.
class DeadlineStream final : public httplib::Stream {
 public:
  // `ssl` (may be null) must be attached to `sock` and outlive the stream.
  DeadlineStream(int sock, SSL* ssl, int max_header_bytes, absl::Duration write_timeout)
      : sock_(sock),
        ssl_(ssl),
        max_header_bytes_(max_header_bytes),
        write_timeout_(write_timeout) {}

  // Starts a new request: reads from now on must complete before `deadline`.
  void BeginRequest(absl::Time deadline) {
    deadline_ = deadline;
    in_headers_ = true;
    header_too_large_ = false;
    header_bytes_ = 0;
    line_bytes_ = 0;
    in_request_line_ = true;
    end_match_ = 0;
  }

  bool deadline_exceeded() const { return deadline_exceeded_; }
  // The current request's header section broke a size limit: reads failed from there on.
  bool header_too_large() const { return header_too_large_; }

  // Drops what write() kept and has not sent (httplib's answer, when it is not ours to give).
  void DiscardUnsent() { out_.clear(); }

  // Waits up to `timeout` for the first bytes of the next request; checks `stopping` at least
  // every kWaitSlice meanwhile. A plain connection reads them straight away (a blocking recv
  // with SO_RCVTIMEO = kWaitSlice, set by the caller): one system call per request fewer than
  // poll + recv.
  bool WaitForRequest(absl::Duration timeout, const std::function<bool()>& stopping) {
    if (pos_ < len_) return true;  // pipelined
    if (ssl_ != nullptr && SSL_pending(ssl_) > 0) return true;
    const absl::Time until = base::MonotonicNow() + timeout;
    while (!stopping()) {
      const absl::Duration left = until - base::MonotonicNow();
      if (left <= absl::ZeroDuration()) return false;
      if (ssl_ == nullptr) {
        ssize_t n = ::recv(sock_, buffer_, sizeof(buffer_), 0);
        if (n > 0) {
          pos_ = 0;
          len_ = static_cast<size_t>(n);
          return true;
        }
        if (n == 0) return false;  // closed between requests
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
        continue;
      }
      pollfd p{sock_, POLLIN, 0};
      int rc = ::poll(&p, 1, std::min(ToPollMillis(left), ToPollMillis(kWaitSlice)));
      if (rc > 0) return true;
      if (rc < 0 && errno != EINTR) return false;
    }
    return false;
  }

  // Long enough that idle keep-alive connections cost little (each wakes 1/kWaitSlice times a
  // second), short enough for shutdown and for giving way to a newcomer.
  static constexpr absl::Duration kWaitSlice = absl::Milliseconds(200);

  bool is_readable() const override {
    if (pos_ < len_ || (ssl_ != nullptr && SSL_pending(ssl_) > 0)) return true;
    pollfd p{sock_, POLLIN, 0};
    return ::poll(&p, 1, ToPollMillis(deadline_ - base::MonotonicNow())) > 0;
  }

  bool is_writable() const override {
    pollfd p{sock_, POLLOUT, 0};
    return ::poll(&p, 1, ToPollMillis(write_timeout_)) > 0;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ == len_ && !Fill()) return -1;
    if (pos_ == len_) return 0;  // orderly EOF
    size_t n = std::min(size, len_ - pos_);
    if (in_headers_) {
      // httplib reads headers a byte at a time and ends them only at "\r\n\r\n": count every
      // byte until exactly that sequence, so no other run of CR/LF can end the limit early. A
      // header line is held to httplib's own limit here too, so that it is refused as too large
      // rather than as malformed. (The request line has httplib's 414.)
      static constexpr char kEnd[] = "\r\n\r\n";
      for (size_t i = 0; i < n; ++i) {
        const char c = buffer_[pos_ + i];
        end_match_ = c == kEnd[end_match_] ? end_match_ + 1 : (c == '\r' ? 1 : 0);
        ++line_bytes_;
        if (++header_bytes_ > max_header_bytes_ ||
            (!in_request_line_ && line_bytes_ > kMaxHeaderLineBytes)) {
          header_too_large_ = true;
          return -1;
        }
        if (c == '\n') {
          in_request_line_ = false;
          line_bytes_ = 0;
        }
        if (end_match_ == 4) {
          in_headers_ = false;
          n = i + 1;
          break;
        }
      }
    }
    std::memcpy(ptr, buffer_ + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  // httplib writes a response's head and body separately: both are kept here and go out in
  // one send by Flush() (after the request, or before the stream waits for input, so an
  // interim "100 Continue" is never held back). Half the sends, and one TCP segment per
  // response instead of two.
  ssize_t write(const char* ptr, size_t size) override {
    if (write_failed_) return -1;
    out_.append(ptr, size);
    if (out_.size() >= kMaxBufferedOutput && !Flush()) return -1;
    return static_cast<ssize_t>(size);
  }

  // Sends what write() kept. False when the peer is gone or stopped reading for write_timeout.
  bool Flush() {
    if (out_.empty() || write_failed_) return !write_failed_;
    const ssize_t n =
        ssl_ != nullptr ? TlsWrite(out_.data(), out_.size()) : PlainWrite(out_.data(), out_.size());
    write_failed_ = n != static_cast<ssize_t>(out_.size());
    out_.clear();
    return !write_failed_;
  }

  // httplib asks for both addresses on every request; they do not change on a connection.
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    if (remote_port_ < 0) PeerAddress(sock_, false, remote_ip_, remote_port_);
    ip = remote_ip_;
    port = remote_port_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    if (local_port_ < 0) PeerAddress(sock_, true, local_ip_, local_port_);
    ip = local_ip_;
    port = local_port_;
  }
  socket_t socket() const override { return sock_; }

 private:
  // Waits until the socket is ready for `events`, no later than `until`. False on timeout or
  // error.
  bool WaitFor(short events, absl::Time until) {
    while (true) {
      const absl::Duration left = until - base::MonotonicNow();
      if (left <= absl::ZeroDuration()) {
        deadline_exceeded_ = true;
        return false;
      }
      pollfd p{sock_, events, 0};
      int rc = ::poll(&p, 1, ToPollMillis(left));
      if (rc < 0 && errno == EINTR) continue;
      if (rc < 0) return false;
      if (rc > 0) return true;
    }
  }

  // TLS records may arrive in pieces: the socket is non-blocking and every wait is bounded.
  bool TlsFill() {
    while (true) {
      ERR_clear_error();
      int n = SSL_read(ssl_, buffer_, sizeof(buffer_));
      if (n > 0) {
        len_ = static_cast<size_t>(n);
        return true;
      }
      int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_ZERO_RETURN) return true;  // len_ == 0: orderly close
      if (err == SSL_ERROR_WANT_READ && WaitFor(POLLIN, deadline_)) continue;
      if (err == SSL_ERROR_WANT_WRITE && WaitFor(POLLOUT, deadline_)) continue;
      return false;
    }
  }

  ssize_t PlainWrite(const char* ptr, size_t size) {
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::send(sock_, ptr + done, size - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return done > 0 ? static_cast<ssize_t>(done) : -1;
      done += static_cast<size_t>(n);
    }
    return static_cast<ssize_t>(done);
  }

  // A client that stops reading is given write_timeout for each response, then dropped.
  ssize_t TlsWrite(const char* ptr, size_t size) {
    const absl::Time until = base::MonotonicNow() + write_timeout_;
    size_t done = 0;
    while (done < size) {
      ERR_clear_error();
      int n = SSL_write(ssl_, ptr + done, static_cast<int>(std::min<size_t>(size - done, 1 << 20)));
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_WANT_WRITE && WaitFor(POLLOUT, until)) continue;
      if (err == SSL_ERROR_WANT_READ && WaitFor(POLLIN, until)) continue;
      return done > 0 ? static_cast<ssize_t>(done) : -1;
    }
    return static_cast<ssize_t>(done);
  }

  // Refills the buffer, waiting no later than the deadline. False on timeout or error.
  bool Fill() {
    pos_ = len_ = 0;
    if (!Flush()) return false;
    if (ssl_ != nullptr) return TlsFill();
    while (true) {
      // Usually the bytes are already here: read first, wait only when there are none.
      ssize_t n = ::recv(sock_, buffer_, sizeof(buffer_), MSG_DONTWAIT);
      if (n >= 0) {
        len_ = static_cast<size_t>(n);
        return true;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
      const absl::Duration left = deadline_ - base::MonotonicNow();
      if (left <= absl::ZeroDuration()) {
        deadline_exceeded_ = true;
        return false;
      }
      pollfd p{sock_, POLLIN, 0};
      int rc = ::poll(&p, 1, ToPollMillis(left));
      if (rc < 0 && errno != EINTR) return false;
    }
  }

  const int sock_;
  SSL* const ssl_;
  const int max_header_bytes_;
  const absl::Duration write_timeout_;
  absl::Time deadline_ = absl::InfiniteFuture();
  bool in_headers_ = true;
  bool deadline_exceeded_ = false;
  bool header_too_large_ = false;
  int header_bytes_ = 0;
  int line_bytes_ = 0;  // of the current line, its CR LF included
  bool in_request_line_ = true;
  int end_match_ = 0;  // how much of "\r\n\r\n" the last header bytes matched
  char buffer_[16 * 1024];
  size_t pos_ = 0;
  size_t len_ = 0;
  static constexpr size_t kMaxBufferedOutput = 64 * 1024;
  std::string out_;  // written, not yet sent
  mutable std::string remote_ip_, local_ip_;
  mutable int remote_port_ = -1, local_port_ = -1;
  bool write_failed_ = false;
};

// Closes a connection whose last response refused the request, maybe before reading all of it
// (CheckHeaders' 411/413/415, 431, a body on GET): the client may still be sending its body.
// close() with unread input makes the kernel send RST instead of FIN. The client's next write
// then fails (EPIPE/ECONNRESET), which is where clients such as curl and httplib give up without
// reading the response; some TCP stacks also discard a received response on RST, and a segment
// of it that needed resending is lost. So, like nginx's lingering close: FIN right after the
// response (SHUT_WR), then read and discard what still arrives until the client closes, for at
// most kLingerTime and kLingerBytes (nginx allows 30 s): a client that keeps sending, or never
// closes, keeps its slot (and Stop() waiting) at most that much longer. SO_LINGER does not
// help: it bounds how long close() waits for unsent output and does nothing about unread input.
void CloseAfterDrainingInput(int sock) {
  static constexpr absl::Duration kLingerTime = absl::Seconds(2);
  static constexpr size_t kLingerBytes = 16 << 20;
  ::shutdown(sock, SHUT_WR);
  const absl::Time until = base::MonotonicNow() + kLingerTime;
  char discard[16 * 1024];
  size_t drained = 0;
  while (drained < kLingerBytes) {
    const absl::Duration left = until - base::MonotonicNow();
    if (left <= absl::ZeroDuration()) break;
    const ssize_t n = ::recv(sock, discard, sizeof(discard), MSG_DONTWAIT);
    if (n > 0) {
      drained += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) break;  // the client closed: nothing is left to reset
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) break;
    pollfd p{sock, POLLIN, 0};
    if (::poll(&p, 1, ToPollMillis(left)) < 0 && errno != EINTR) break;
  }
  ::close(sock);
}

HttpRequest FromHttplib(const httplib::Request& req, bool with_body) {
  HttpRequest out;
  out.method = req.method;
  out.path = req.path;
  out.remote_addr = req.remote_addr;
  out.headers.reserve(req.headers.size());
  for (const auto& [k, v] : req.headers) out.headers.emplace_back(k, v);
  if (with_body) out.body = req.body;
  return out;
}

void ToHttplib(const HttpResponse& in, httplib::Response& res) {
  res.status = in.status;
  for (const auto& [k, v] : in.headers) res.set_header(k, v);
  res.set_content(in.body, in.content_type);
  if (in.close_connection) {
    res.set_header("Connection", "close");
    t_request.close_after_response = true;
  }
}

}  // namespace

class GuardedServer final : public httplib::Server {
 public:
  explicit GuardedServer(const HttpServer::Options& options) : options_(options) {}
  ~GuardedServer() override {
    if (tls_ != nullptr) SSL_CTX_free(tls_);
  }

  // Loads the certificate and key when TLS is configured.
  absl::Status InitTls() {
    if (options_.tls_cert_file.empty() && options_.tls_key_file.empty()) return absl::OkStatus();
    if (options_.tls_cert_file.empty() || options_.tls_key_file.empty()) {
      return absl::InvalidArgumentError("HttpServer: TLS needs both a certificate and a key");
    }
    tls_ = SSL_CTX_new(TLS_server_method());
    if (tls_ == nullptr) return absl::InternalError("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(tls_, TLS1_2_VERSION);
    SSL_CTX_set_mode(tls_, SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (SSL_CTX_use_certificate_chain_file(tls_, options_.tls_cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls_, options_.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(tls_) != 1) {
      char error[256];
      ERR_error_string_n(ERR_get_error(), error, sizeof(error));
      return absl::InvalidArgumentError(
          absl::StrCat("HttpServer: cannot load TLS certificate/key: ", error));
    }
    return absl::OkStatus();
  }

  std::atomic<int> active{0};        // admitted connections
  std::atomic<int> waiting{0};       // 1 while a newcomer waits for a slot
  std::atomic<int> yield_tokens{0};  // idle connections asked to close for it

 private:
  // Takes a connection slot. When all are taken, one newcomer at a time asks one idle
  // keep-alive connection to close (a yield token the idle loops poll) and waits briefly for the
  // slot; any other newcomer meanwhile is refused at once, so a flood cannot park workers.
  bool Admit() {
    if (TryAdmit()) return true;
    int expected = 0;
    if (!waiting.compare_exchange_strong(expected, 1)) return false;
    yield_tokens.fetch_add(1);
    const absl::Time until = base::MonotonicNow() + absl::Seconds(1);
    bool admitted = false;
    while (!admitted && base::MonotonicNow() < until && svr_sock_ != INVALID_SOCKET) {
      absl::SleepFor(absl::Milliseconds(5));
      admitted = TryAdmit();
    }
    TakeYieldToken();  // return ours if no idle connection used it
    waiting.store(0);
    return admitted;
  }

  // True (and one token fewer) when a newcomer asked an idle connection to close.
  bool TakeYieldToken() {
    int tokens = yield_tokens.load();
    while (tokens > 0) {
      if (yield_tokens.compare_exchange_weak(tokens, tokens - 1)) return true;
    }
    return false;
  }

  bool TryAdmit() {
    int current = active.load();
    while (current < options_.max_connections) {
      if (active.compare_exchange_weak(current, current + 1)) return true;
    }
    return false;
  }

  // Replaces httplib's keep-alive loop (the hook SSLServer also overrides).
  bool process_and_close_socket(socket_t sock) override {
    // httplib's pool threads are not ours to start: each names itself on its first connection.
    thread_local bool named = false;
    if (!named) {
      base::SetThreadName(options_.thread_name);
      named = true;
    }
    if (!Admit()) {
      static const std::string* const kBusy =
          new std::string(RawErrorResponse(503, "Service Unavailable", "too many connections"));
      Refused("too_many_connections", 503);
      ssize_t unused = ::send(sock, kBusy->data(), kBusy->size(), MSG_NOSIGNAL);
      (void)unused;
      ::shutdown(sock, SHUT_RDWR);
      ::close(sock);
      return true;
    }
    struct Release {
      std::atomic<int>& a;
      ~Release() { a.fetch_sub(1); }
    } release{active};
    int one = 1;
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (tls_ == nullptr) {
      // WaitForRequest's blocking recv wakes this often to check for shutdown and idleness.
      const timeval slice = absl::ToTimeval(DeadlineStream::kWaitSlice);
      if (::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof(slice)) != 0) {
        SB_LOG(ERROR) << "http_socket_option_failed option=SO_RCVTIMEO errno=" << errno;
        ::close(sock);
        return false;
      }
    }

    SSL* ssl = nullptr;
    if (tls_ != nullptr) {
      ssl = Handshake(sock);
      if (ssl == nullptr) {
        ::shutdown(sock, SHUT_RDWR);
        ::close(sock);
        return false;
      }
    }

    DeadlineStream stream(sock, ssl, options_.max_header_bytes, options_.write_timeout);
    auto stopping = [this] { return svr_sock_ == INVALID_SOCKET; };
    // Between requests, a connection also gives way to a newcomer waiting for a slot.
    auto yield_idle = [this] { return svr_sock_ == INVALID_SOCKET || TakeYieldToken(); };
    bool ok = true;
    bool refused = false;  // the last response refused the request, maybe leaving input unread
    for (int i = 0; ok && i < options_.max_requests_per_connection && !stopping(); ++i) {
      if (!stream.WaitForRequest(options_.idle_timeout, yield_idle)) break;
      stream.BeginRequest(base::MonotonicNow() + options_.request_deadline);
      t_request = {};
      const bool close_connection = i + 1 == options_.max_requests_per_connection || stopping();
      bool connection_closed = false;
      ok = process_request(stream, close_connection, connection_closed, nullptr);
      if (stream.header_too_large()) {
        // httplib answers a header section cut short by the limit with a bare 400, and a
        // request line cut short with nothing at all. Nothing of it is sent yet: say 431.
        static const std::string* const kTooLarge = new std::string(
            RawErrorResponse(431, "Request Header Fields Too Large", "header section too large"));
        stream.DiscardUnsent();
        ok = stream.write(kTooLarge->data(), kTooLarge->size()) >= 0;
        t_request.close_after_response = true;
        Refused("header_too_large", 431);
      } else if (t_request.refused_status != 0 ||
                 (stream.deadline_exceeded() && !t_request.handler_answered)) {
        // A missed deadline is answered by httplib as malformed (400), or not at all when it
        // came before the request line was in.
        Refused(t_request.refusal != nullptr      ? t_request.refusal
                : stream.deadline_exceeded()      ? "deadline"
                : t_request.refused_status == 414 ? "uri_too_long"
                                                  : "malformed_request",
                t_request.refused_status);
      }
      ok = stream.Flush() && ok;
      // Not after a missed deadline or a failed write: that client is too slow to be waited for.
      refused = ok && t_request.close_after_response && !stream.deadline_exceeded();
      if (connection_closed || t_request.close_after_response || stream.deadline_exceeded()) {
        break;
      }
    }
    // The TLS close alert must go out before the fd is closed (and possibly reused).
    if (ssl != nullptr) {
      SSL_shutdown(ssl);
      SSL_free(ssl);
    }
    if (refused) {
      CloseAfterDrainingInput(sock);
    } else {
      ::shutdown(sock, SHUT_RDWR);
      ::close(sock);
    }
    return ok;
  }

  // A TLS handshake on a non-blocking socket, bounded by the request deadline.
  SSL* Handshake(socket_t sock) {
    ::fcntl(sock, F_SETFL, ::fcntl(sock, F_GETFL) | O_NONBLOCK);
    SSL* ssl = SSL_new(tls_);
    if (ssl == nullptr) return nullptr;
    SSL_set_fd(ssl, sock);
    const absl::Time deadline = base::MonotonicNow() + options_.request_deadline;
    while (true) {
      ERR_clear_error();
      int rc = SSL_accept(ssl);
      if (rc == 1) return ssl;
      int err = SSL_get_error(ssl, rc);
      short events = err == SSL_ERROR_WANT_READ    ? POLLIN
                     : err == SSL_ERROR_WANT_WRITE ? POLLOUT
                                                   : 0;
      const absl::Duration left = deadline - base::MonotonicNow();
      pollfd p{sock, events, 0};
      if (events == 0 || left <= absl::ZeroDuration() || ::poll(&p, 1, ToPollMillis(left)) <= 0) {
        // One that sent nothing (a TCP health check, a client gone at once) was refused nothing,
        // as on a plain listener.
        if (BIO_number_read(SSL_get_rbio(ssl)) > 0) Refused("tls_handshake", 0);
        SSL_free(ssl);
        return nullptr;
      }
    }
  }

  void Refused(const char* reason, int status) const {
    if (options_.on_refused) options_.on_refused(reason, status);
  }

  const HttpServer::Options options_;
  SSL_CTX* tls_ = nullptr;
};

}  // namespace internal

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const Options& options,
                                                              CheckHeadersFn check_headers,
                                                              HandleFn handle) {
  if (options.max_connections < 1 || options.max_requests_per_connection < 1 ||
      options.max_header_bytes < 256 || options.max_headers < 1 || options.max_body_bytes < 1 ||
      options.request_deadline <= absl::ZeroDuration() ||
      options.idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("HttpServer: limits must be positive");
  }
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("HttpServer: bad port ", options.port));
  }
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->server_ = std::make_unique<internal::GuardedServer>(options);
  internal::GuardedServer& s = *server->server_;
  if (absl::Status tls = s.InitTls(); !tls.ok()) return tls;

  const size_t workers = static_cast<size_t>(options.max_connections) + 8;
  s.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  s.set_tcp_nodelay(true);
  // httplib's default sets SO_REUSEPORT, which lets a second process bind the same port and take
  // a share of the webhooks. SO_REUSEADDR only: restarts still rebind at once, intruders fail.
  s.set_socket_options([](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // The Keep-Alive header httplib writes names these.
  s.set_keep_alive_max_count(static_cast<size_t>(options.max_requests_per_connection));
  s.set_keep_alive_timeout(std::max<int64_t>(1, absl::ToInt64Seconds(options.idle_timeout)));
  s.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
  const int64_t write_ms = absl::ToInt64Milliseconds(options.write_timeout);
  s.set_write_timeout(write_ms / 1000, (write_ms % 1000) * 1000);

  const int max_headers = options.max_headers;
  auto check = [check_headers, max_headers](const httplib::Request& req,
                                            httplib::Response& res) -> std::optional<int> {
    auto refuse = [&res](const char* reason, int status, absl::string_view message) {
      HttpResponse r = ErrorResponse(status, message);
      r.close_connection = true;
      internal::ToHttplib(r, res);
      internal::t_request.refusal = reason;
      internal::t_request.refused_status = status;
      return status;
    };
    if (static_cast<int>(req.headers.size()) > max_headers) {
      return refuse("too_many_headers", 431, "too many headers");
    }
    // httplib reads no body for GET/HEAD/OPTIONS: one sent anyway would be parsed as the next
    // request on this connection (request smuggling behind a proxy). Refuse and close.
    if (req.method != "POST" && req.method != "PUT" && req.method != "PATCH" &&
        (req.has_header("Transfer-Encoding") ||
         (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0"))) {
      return refuse("body_not_allowed", 400, "a body is not allowed with this method");
    }
    if (std::optional<HttpResponse> r = check_headers(internal::FromHttplib(req, false))) {
      internal::ToHttplib(*r, res);
      internal::t_request.handler_answered = true;
      return r->status;
    }
    return std::nullopt;
  };
  s.set_pre_routing_handler([check](const httplib::Request& req, httplib::Response& res) {
    return check(req, res) ? httplib::Server::HandlerResponse::Handled
                           : httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_expect_100_continue_handler([check](const httplib::Request& req, httplib::Response& res) {
    std::optional<int> status = check(req, res);
    return status ? *status : 100;
  });
  auto serve = [handle](const httplib::Request& req, httplib::Response& res) {
    internal::ToHttplib(handle(internal::FromHttplib(req, true)), res);
    internal::t_request.handler_answered = true;
  };
  s.Get(".*", serve);
  s.Post(".*", serve);
  s.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
        // Our handlers always set a body; an empty one is httplib's own refusal (malformed request
        // 400, 413, 414, deadline): give it a JSON body like ours and close the connection. The
        // connection loop names the reason.
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        res.set_content(absl::StrCat("{\"error\":\"http status ", res.status, "\"}\n"),
                        "application/json");
        res.set_header("Connection", "close");
        internal::t_request.close_after_response = true;
        internal::t_request.refused_status = res.status;
        return httplib::Server::HandlerResponse::Handled;
      }));

  int port = options.port;
  if (port == 0) {
    port = s.bind_to_any_port(options.host);
    if (port <= 0) {
      return absl::UnavailableError(absl::StrCat("cannot bind ", options.host, ":0"));
    }
  } else if (!s.bind_to_port(options.host, port)) {
    return absl::UnavailableError(absl::StrCat("cannot bind ", options.host, ":", port));
  }
  server->host_ = options.host;
  server->port_ = port;
  auto ended = std::make_shared<std::atomic<bool>>(false);
  server->listen_thread_ = std::thread([&s, ended, name = options.thread_name] {
    base::SetThreadName(absl::StrCat(name, "-accept"));
    s.listen_after_bind();
    ended->store(true);  // returned: is_running() will never turn true now
  });
  // httplib's stop() does nothing until the accept loop runs, so Stop() right after Start()
  // would wait forever: return only once it runs (or has already ended).
  while (!s.is_running() && !ended->load()) absl::SleepFor(absl::Microseconds(200));
  return server;
}

HttpServer::~HttpServer() { Stop(); }

std::string HttpServer::address() const {
  if (host_.find(':') != std::string::npos) return absl::StrCat("[", host_, "]:", port_);
  return absl::StrCat(host_, ":", port_);
}

int HttpServer::active_connections() const { return server_->active.load(); }

void HttpServer::Stop() {
  if (stopped_.exchange(true)) return;
  server_->stop();
  if (listen_thread_.joinable()) listen_thread_.join();
}

}  // namespace switchboard::server::ingress
