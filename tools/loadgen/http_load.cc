#include "tools/loadgen/http_load.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tools/loadgen/http_response.h"

namespace switchboard::tools::loadgen {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// After a failed connect, wait this long before the next attempt (a server that is down must
// not turn the load generator into a busy loop).
constexpr int64_t kReconnectBackoffNanos = 50'000'000;

int64_t MonotonicNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct Address {
  sockaddr_storage storage;
  socklen_t length = 0;
};

struct Connection {
  enum class State { kDown, kConnecting, kIdle, kBusy };
  int index = 0;  // over all threads: what make_request sees
  int fd = -1;
  State state = State::kDown;
  bool polling_out = false;  // EPOLLOUT in the interest set
  int64_t reopen_at = 0;     // kDown: when to connect again
  int64_t requests = 0;      // made on this connection so far
  // The request in flight (kBusy).
  std::string out;
  size_t written = 0;
  std::string in;
  int64_t scheduled = 0;  // latency is measured from here
  int64_t sent = 0;       // the timeout runs from here (also while kConnecting)
};

// One epoll loop over a share of the connections. Not thread-safe: one thread runs it.
class Loop {
 public:
  struct Window {
    int64_t start, measure_from, end, hard_stop;
    int64_t first_slot, slot_step;  // open loop: this loop's schedule; slot_step 0 = closed
  };

  Loop(const LoadOptions& options, const Address& address, std::string head_prefix, Window window,
       std::vector<int> connection_indexes)
      : options_(options),
        address_(address),
        head_prefix_(std::move(head_prefix)),
        window_(window),
        next_slot_(window.first_slot),
        timeout_(absl::ToInt64Nanoseconds(options.timeout)) {
    for (int index : connection_indexes) {
      connections_.emplace_back();
      connections_.back().index = index;
    }
  }

  ~Loop() {
    for (Connection& c : connections_) {
      if (c.fd >= 0) ::close(c.fd);
    }
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
  }

  absl::Status Init() {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) return absl::InternalError(absl::StrCat("epoll: ", std::strerror(errno)));
    return absl::OkStatus();
  }

  void Run() {
    const bool open_loop = window_.slot_step > 0;
    int64_t now = MonotonicNanos();
    for (Connection& c : connections_) Open(c, now);
    struct epoll_event events[64];
    for (;;) {
      now = MonotonicNanos();
      if (open_loop) {
        while (next_slot_ < window_.end && next_slot_ <= now) {
          pending_.push_back(next_slot_);
          next_slot_ += window_.slot_step;
        }
        // A request that found no connection for `timeout` is lost.
        while (!pending_.empty() && now - pending_.front() > timeout_) {
          CountError(pending_.front());
          pending_.pop_front();
        }
      }
      const bool more_to_send =
          open_loop ? (next_slot_ < window_.end || !pending_.empty()) : now < window_.end;
      // Hand out work round-robin from where the last pass stopped, so every connection stays
      // in use (a server may close connections that stay idle).
      if (now >= window_.start && more_to_send) {
        const size_t size = connections_.size();
        const size_t first = next_connection_;
        for (size_t i = 0; i < size; ++i) {
          Connection& c = connections_[(first + i) % size];
          if (c.state != Connection::State::kIdle) continue;
          if (!open_loop) {
            Send(c, now, now);
          } else {
            if (pending_.empty()) break;
            Send(c, pending_.front(), now);
            pending_.pop_front();
            next_connection_ = (first + i + 1) % size;
          }
        }
      }
      int64_t wake = kNever;
      bool busy = false;
      for (Connection& c : connections_) {
        if (c.state == Connection::State::kBusy && now - c.sent > timeout_) {
          CountError(c.scheduled);
          Close(c, now);
        } else if (c.state == Connection::State::kConnecting && now - c.sent > timeout_) {
          ConnectFailed(c, now);
        }
        if (c.state == Connection::State::kDown && more_to_send && now < window_.hard_stop) {
          if (c.reopen_at <= now) {
            Open(c, now);
          } else {
            wake = std::min(wake, c.reopen_at);
          }
        }
        if (c.state == Connection::State::kBusy || c.state == Connection::State::kConnecting) {
          busy = busy || c.state == Connection::State::kBusy;
          wake = std::min(wake, c.sent + timeout_ + 1);
        }
      }
      if (!busy &&
          (open_loop ? next_slot_ >= window_.end && pending_.empty() : now >= window_.end)) {
        break;
      }
      if (now >= window_.hard_stop) {
        for (Connection& c : connections_) {
          if (c.state == Connection::State::kBusy) CountError(c.scheduled);
        }
        for (int64_t slot : pending_) CountError(slot);
        break;
      }
      if (now < window_.start) wake = std::min(wake, window_.start);
      if (open_loop && next_slot_ < window_.end) wake = std::min(wake, next_slot_);
      if (!open_loop && now < window_.end) wake = std::min(wake, window_.end);
      if (!pending_.empty()) wake = std::min(wake, pending_.front() + timeout_ + 1);
      wake = std::min(wake, window_.hard_stop);

      const int n = Wait(events, 64, wake, now);
      for (int i = 0; i < n; ++i) {
        OnEvents(connections_[events[i].data.u32], events[i].events);
      }
    }
  }

  LoadResult& result() { return result_; }

 private:
  // epoll_pwait2 until `wake` (nanosecond timeout: a millisecond epoll_wait would make open-loop
  // sends up to 1 ms late); epoll_wait with the timeout rounded up on kernels before 5.11.
  int Wait(struct epoll_event* events, int max, int64_t wake, int64_t now) {
    const int64_t wait = wake == kNever ? -1 : std::max<int64_t>(0, wake - now);
    if (!no_pwait2_) {
      struct timespec timeout = {static_cast<time_t>(wait / 1'000'000'000),
                                 static_cast<long>(wait % 1'000'000'000)};
      const int n = ::epoll_pwait2(epoll_fd_, events, max, wait < 0 ? nullptr : &timeout, nullptr);
      if (n >= 0 || errno != ENOSYS) return std::max(n, 0);
      no_pwait2_ = true;
    }
    const int ms =
        wait < 0 ? -1
                 : static_cast<int>(std::min<int64_t>((wait + 999'999) / 1'000'000, 1'000'000));
    return std::max(::epoll_wait(epoll_fd_, events, max, ms), 0);
  }

  bool Measured(int64_t t) const { return t >= window_.measure_from && t < window_.end; }
  void CountError(int64_t t) {
    if (Measured(t)) ++result_.errors;
  }

  uint32_t Token(const Connection& c) const {
    return static_cast<uint32_t>(&c - connections_.data());
  }

  void Open(Connection& c, int64_t now) {
    c.fd = ::socket(address_.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      ConnectFailed(c, now);
      return;
    }
    const int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const int rc =
        ::connect(c.fd, reinterpret_cast<const sockaddr*>(&address_.storage), address_.length);
    if (rc != 0 && errno != EINPROGRESS) {
      ConnectFailed(c, now);
      return;
    }
    c.state = rc == 0 ? Connection::State::kIdle : Connection::State::kConnecting;
    c.sent = now;  // connecting is bounded by the timeout too
    c.polling_out = rc != 0;
    struct epoll_event ev = {};
    ev.events = EPOLLIN | (c.polling_out ? EPOLLOUT : 0);
    ev.data.u32 = Token(c);
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) ConnectFailed(c, now);
  }

  void ConnectFailed(Connection& c, int64_t now) {
    CountError(now);
    Close(c, now);
    c.reopen_at = now + kReconnectBackoffNanos;
  }

  // Closing the fd also removes it from the epoll set.
  void Close(Connection& c, int64_t now) {
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.state = Connection::State::kDown;
    c.polling_out = false;
    c.reopen_at = now;
    c.in.clear();
  }

  void SetPollOut(Connection& c, bool on) {
    if (c.polling_out == on) return;
    struct epoll_event ev = {};
    ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
    ev.data.u32 = Token(c);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
    c.polling_out = on;
  }

  void Send(Connection& c, int64_t scheduled, int64_t now) {
    HttpRequest request = options_.make_request(c.index, c.requests++, absl::Now());
    c.out.assign(head_prefix_);
    for (const auto& [name, value] : request.headers) {
      absl::StrAppend(&c.out, name, ": ", value, "\r\n");
    }
    absl::StrAppend(&c.out, "Content-Length: ", request.body.size(), "\r\n\r\n", request.body);
    c.written = 0;
    c.in.clear();
    c.scheduled = scheduled;
    c.sent = now;
    c.state = Connection::State::kBusy;
    Flush(c, now);
  }

  void Flush(Connection& c, int64_t now) {
    while (c.written < c.out.size()) {
      const ssize_t n =
          ::send(c.fd, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
      if (n > 0) {
        c.written += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        SetPollOut(c, true);
        return;
      } else {
        CountError(c.scheduled);
        Close(c, now);
        return;
      }
    }
    SetPollOut(c, false);
  }

  void OnEvents(Connection& c, uint32_t events) {
    const int64_t now = MonotonicNanos();
    if (c.state == Connection::State::kConnecting) {
      int error = 0;
      socklen_t length = sizeof(error);
      ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0 || (events & (EPOLLERR | EPOLLHUP)) != 0) {
        ConnectFailed(c, now);
        return;
      }
      if ((events & EPOLLOUT) == 0) return;
      c.state = Connection::State::kIdle;
      SetPollOut(c, false);
      return;
    }
    if ((events & EPOLLOUT) != 0 && c.state == Connection::State::kBusy) Flush(c, now);
    if (c.state == Connection::State::kDown) return;
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) Read(c, now);
  }

  void Read(Connection& c, int64_t now) {
    char buffer[16384];
    bool eof = false;
    for (;;) {
      const ssize_t n = ::recv(c.fd, buffer, sizeof(buffer), 0);
      if (n > 0) {
        c.in.append(buffer, static_cast<size_t>(n));
        if (static_cast<size_t>(n) < sizeof(buffer)) break;  // most likely drained
      } else if (n == 0) {
        eof = true;
        break;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      } else {
        eof = true;  // reset: like a close, with whatever was read
        break;
      }
    }
    if (c.state != Connection::State::kBusy) {
      // An idle keep-alive connection the server closed (or that sent bytes nobody asked for).
      if (!c.in.empty()) CountError(now);
      if (eof || !c.in.empty()) {
        Close(c, now);
        ++result_.reconnects;
      }
      return;
    }
    const ParsedResponse response = ParseResponse(c.in);
    if (response.state == ParseState::kIncomplete && !eof) return;
    if (response.state != ParseState::kComplete) {
      CountError(c.scheduled);
      Close(c, now);
      return;
    }
    if (Measured(c.scheduled)) {
      result_.latency.Add(absl::Nanoseconds(now - c.scheduled));
      if (response.status / 100 == 2) {
        ++result_.ok;
      } else {
        ++result_.non2xx[response.status];
      }
    }
    if (response.close || eof || response.length != c.in.size()) {
      if (response.length != c.in.size()) CountError(now);  // bytes after the response
      Close(c, now);
      ++result_.reconnects;
      return;
    }
    c.in.clear();
    c.state = Connection::State::kIdle;
  }

  const LoadOptions& options_;
  const Address address_;
  const std::string head_prefix_;
  const Window window_;
  int64_t next_slot_;
  const int64_t timeout_;
  std::vector<Connection> connections_;
  std::deque<int64_t> pending_;  // open loop: scheduled times waiting for a connection
  size_t next_connection_ = 0;   // open loop: where the next round-robin pass starts
  int epoll_fd_ = -1;
  bool no_pwait2_ = false;
  LoadResult result_;
};

}  // namespace

absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options) {
  if (!options.make_request) return absl::InvalidArgumentError("RunLoad: no make_request");
  if (options.connections < 1) return absl::InvalidArgumentError("RunLoad: connections < 1");
  if (options.duration <= absl::ZeroDuration() || options.rate < 0 ||
      options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("RunLoad: need duration > 0, timeout > 0, rate >= 0");
  }
  struct addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* found = nullptr;
  const std::string port = absl::StrCat(options.port);
  if (::getaddrinfo(options.host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return absl::NotFoundError(absl::StrCat("RunLoad: cannot resolve ", options.host));
  }
  Address address;
  std::memcpy(&address.storage, found->ai_addr, found->ai_addrlen);
  address.length = found->ai_addrlen;
  ::freeaddrinfo(found);

  const bool ipv6_literal = options.host.find(':') != std::string::npos;
  const std::string head_prefix =
      absl::StrCat("POST ", options.path, " HTTP/1.1\r\nHost: ", ipv6_literal ? "[" : "",
                   options.host, ipv6_literal ? "]" : "", ":", options.port,
                   "\r\nContent-Type: ", options.content_type, "\r\n");

  const int threads = std::max(1, std::min(options.threads, options.connections));
  const int64_t start = MonotonicNanos() + 100'000'000;  // time to connect first
  Loop::Window window;
  window.start = start;
  window.measure_from = start + absl::ToInt64Nanoseconds(options.warmup);
  window.end = window.measure_from + absl::ToInt64Nanoseconds(options.duration);
  window.hard_stop = window.end + absl::ToInt64Nanoseconds(options.timeout);
  const double period = options.rate > 0 ? 1e9 / options.rate : 0;

  std::vector<std::unique_ptr<Loop>> loops;
  for (int t = 0; t < threads; ++t) {
    std::vector<int> indexes;
    for (int c = t; c < options.connections; c += threads) indexes.push_back(c);
    Loop::Window w = window;
    // Thread t takes slots t, t + threads, t + 2 * threads, ...
    w.first_slot = start + static_cast<int64_t>(period * t);
    w.slot_step = static_cast<int64_t>(period * threads);
    if (options.rate > 0 && w.slot_step < 1) w.slot_step = 1;
    loops.push_back(std::make_unique<Loop>(options, address, head_prefix, w, indexes));
    if (absl::Status status = loops.back()->Init(); !status.ok()) return status;
  }
  std::vector<std::thread> running;
  for (auto& loop : loops) running.emplace_back([&loop] { loop->Run(); });
  for (std::thread& t : running) t.join();

  LoadResult all;
  for (auto& loop : loops) {
    LoadResult& r = loop->result();
    all.latency.Merge(r.latency);
    all.ok += r.ok;
    all.errors += r.errors;
    all.reconnects += r.reconnects;
    for (const auto& [status, n] : r.non2xx) all.non2xx[status] += n;
  }
  return all;
}

}  // namespace switchboard::tools::loadgen
