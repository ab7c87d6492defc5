#include "server/rpc/grpc_handler_connection.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/rpc/status_convert.h"

namespace switchboard::server::rpc {
namespace {

constexpr char kDeliverMethod[] = "/switchboard.v1.EventHandler/Deliver";

// A stream that lived this long was healthy: the next reconnect starts from initial_backoff.
constexpr absl::Duration kHealthyStream = absl::Minutes(1);

int ToMillis(absl::Duration d) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 1, INT32_MAX));
}

}  // namespace

// One Deliver call. Owned by itself: deleted at the end of OnDone, after which nothing touches
// it. Every reaction forwards to the connection, which guards the call's fields with its mutex.
class GrpcHandlerConnection::Call final
    : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  Call(GrpcHandlerConnection* owner, uint64_t stream) : stream(stream), owner_(owner) {}

  void OnReadInitialMetadataDone(bool ok) override { owner_->OnInitialMetadata(this, ok); }
  void OnReadDone(bool ok) override { owner_->OnReadDone(this, ok); }
  void OnWriteDone(bool ok) override { owner_->OnWriteDone(this, ok); }
  void OnDone(const grpc::Status& status) override {
    GrpcHandlerConnection* const owner = owner_;
    owner->OnCallDone(this, status);
    // The ClientContext holds the last reference to the call, and the call one to the channel's
    // completion queue: both must go before the owner (and maybe the channel) may be destroyed,
    // so the owner is released only after this reactor is.
    delete this;
    owner->CallFinished();
  }

  grpc::ClientContext context;
  const uint64_t stream;
  // The one write in flight and the one read outstanding (gRPC holds pointers to them).
  grpc::ByteBuffer write;
  grpc::ByteBuffer read;
  switchboard::v1::Ack ack;
  // Guarded by the owner's mutex.
  bool read_ended = false;
  bool writes_done = false;
  bool cancelled_not_acking = false;
  bool write_failed = false;  // the stream is breaking: start no more writes on it

 private:
  GrpcHandlerConnection* const owner_;
};

GrpcHandlerConnection::GrpcHandlerConnection(std::string address,
                                             std::shared_ptr<grpc::Channel> channel,
                                             Listener* listener,
                                             const GrpcHandlerConnectionOptions& options)
    : address_(std::move(address)),
      channel_(std::move(channel)),
      stub_(channel_),
      listener_(listener),
      options_(options) {
  absl::MutexLock lock(&mu_);
  backoff_ = options_.initial_backoff;
  StartCallLocked();
}

GrpcHandlerConnection::~GrpcHandlerConnection() {
  Close();
  absl::MutexLock lock(&mu_);
  const auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return outstanding_ == 0; };
  // Let a half-closed stream end by itself (the handler sees a clean end of its input)...
  if (!mu_.AwaitWithTimeout(absl::Condition(&idle), options_.close_grace) && call_ != nullptr) {
    // ...else cancel it. OnDone follows promptly, on a gRPC thread.
    call_->context.TryCancel();
  }
  mu_.Await(absl::Condition(&idle));
}

bool GrpcHandlerConnection::connected() const {
  absl::MutexLock lock(&mu_);
  return state_ == State::kConnected;
}

void GrpcHandlerConnection::StartCallLocked() {
  ++stream_;
  call_ = new Call(this, stream_);
  ++outstanding_;
  state_ = State::kStarting;
  outbox_.clear();
  writing_ = false;
  unacked_bytes_ = 0;
  last_ack_ = base::MonotonicNow();
  stub_.PrepareBidiStreamingCall(&call_->context, kDeliverMethod, grpc::StubOptions(), call_);
  // Send() may start writes from other threads: the hold keeps OnDone away until the read side
  // has ended (released in OnReadDone).
  call_->AddHold();
  call_->StartRead(&call_->read);
  call_->StartCall();
  std::unique_ptr<grpc::Alarm> stale;
  ArmTimerLocked(options_.settle, TimerKind::kSettle, &stale);
  // The replaced alarm had fired already (states arm one timer at a time): destroying it here,
  // under the mutex, cannot run a callback.
  stale.reset();
}

void GrpcHandlerConnection::ArmTimerLocked(absl::Duration after, TimerKind kind,
                                           std::unique_ptr<grpc::Alarm>* stale) {
  *stale = std::move(timer_);
  const uint64_t id = ++timer_id_;
  ++outstanding_;
  timer_ = std::make_unique<grpc::Alarm>();
  timer_->Set(std::chrono::system_clock::now() +
                  std::chrono::microseconds(absl::ToInt64Microseconds(after)),
              [this, id, kind](bool fired) { OnTimer(id, kind, fired); });
}

void GrpcHandlerConnection::BecomeConnectedLocked() {
  state_ = State::kConnected;
  connected_at_ = base::MonotonicNow();
  unreachable_logged_ = false;
  if (!closed_) listener_->OnConnected(stream_);
}

bool GrpcHandlerConnection::Send(uint64_t stream, dispatch::EncodedDelivery delivery) {
  absl::MutexLock lock(&mu_);
  if (closed_ || state_ != State::kConnected || stream != stream_ || call_ == nullptr ||
      call_->read_ended || call_->writes_done || call_->cancelled_not_acking ||
      call_->write_failed) {
    return false;
  }
  outbox_.push_back(std::move(delivery));
  if (!writing_) StartNextWriteLocked(call_);
  return true;
}

bool GrpcHandlerConnection::Withdraw(uint64_t stream, const std::string& delivery_id) {
  absl::MutexLock lock(&mu_);
  // Another stream's outbox is gone already: whether that delivery was written is unknown.
  if (stream != stream_) return false;
  for (auto it = outbox_.begin(); it != outbox_.end(); ++it) {
    if (it->delivery_id == delivery_id) {
      outbox_.erase(it);
      // It waited its whole timeout behind a write that did not finish: the handler is not
      // reading. Without an Ack for not_acking_after either, restart the stream as for the
      // 16 MB rule (a write stuck on flow control never reaches that check again).
      if (writing_ && call_ != nullptr) {
        MaybeRestartNotAckingLocked(call_, "write_stalled");
      }
      return true;
    }
  }
  return false;  // written (StartNextWriteLocked takes it out of the outbox) or unknown
}

void GrpcHandlerConnection::MaybeRestartNotAckingLocked(Call* call, absl::string_view reason) {
  if (call->read_ended || call->cancelled_not_acking ||
      base::MonotonicNow() - last_ack_ < options_.not_acking_after) {
    return;
  }
  SB_LOG(WARNING) << "handler_not_acking address=" << address_ << " stream=" << call->stream
                  << " reason=" << reason << " unacked_bytes=" << unacked_bytes_
                  << " action=restarting_stream";
  // Its deliveries count as failed attempts (the stream broke with them outstanding) and gRPC
  // frees what it buffered for the call. Once per call: writes may still be started before the
  // cancellation ends the read side.
  call->cancelled_not_acking = true;
  call->context.TryCancel();
}

void GrpcHandlerConnection::StartNextWriteLocked(Call* call) {
  dispatch::EncodedDelivery& next = outbox_.front();
  // Two slices, no copy of the event: its bytes stay owned by the shared string, which the
  // slice keeps alive until gRPC is done with them.
  grpc::Slice slices[2] = {
      grpc::Slice(next.head),
      grpc::Slice(
          const_cast<char*>(next.event->data()), next.event->size(),
          [](void* keep) { delete static_cast<std::shared_ptr<const std::string>*>(keep); },
          new std::shared_ptr<const std::string>(next.event))};
  call->write = grpc::ByteBuffer(slices, 2);
  unacked_bytes_ += static_cast<int64_t>(next.size());
  outbox_.pop_front();
  writing_ = true;
  if (unacked_bytes_ > options_.max_unacked_bytes) {
    MaybeRestartNotAckingLocked(call, "unacked_bytes");
  }
  // More is queued: let gRPC hold this one back and send it with the next (one syscall for a
  // burst instead of one per delivery). The last write of a burst goes without the hint, which
  // flushes everything buffered before it.
  grpc::WriteOptions options;
  if (!outbox_.empty()) options.set_buffer_hint();
  call->StartWrite(&call->write, options);
}

void GrpcHandlerConnection::ResetBackoff() {
  std::unique_ptr<grpc::Alarm> stale;
  {
    absl::MutexLock lock(&mu_);
    backoff_ = options_.initial_backoff;
    if (closed_ || state_ != State::kBackoff) return;
    grpc::experimental::ChannelResetConnectionBackoff(channel_.get());
    // Cancel the pending reconnect (its callback sees a stale id) and dial now.
    stale = std::move(timer_);
    StartCallLocked();
  }
  // Destroying a pending alarm cancels it; done without the mutex held in case its callback
  // were ever run inline.
  stale.reset();
}

void GrpcHandlerConnection::Close() {
  std::unique_ptr<grpc::Alarm> stale;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    stale = std::move(timer_);
    ++timer_id_;
    outbox_.clear();
    if (call_ != nullptr && !call_->read_ended && !call_->writes_done) {
      if (!writing_) {
        // Half-close: the handler's read loop ends, it finishes the stream.
        call_->writes_done = true;
        call_->StartWritesDone();
      }
      // else OnWriteDone half-closes once the write in flight is done.
    }
  }
  stale.reset();
}

void GrpcHandlerConnection::OnInitialMetadata(Call* call, bool ok) {
  absl::MutexLock lock(&mu_);
  if (ok && call == call_ && state_ == State::kStarting) BecomeConnectedLocked();
}

void GrpcHandlerConnection::OnReadDone(Call* call, bool ok) {
  absl::MutexLock lock(&mu_);
  if (ok) {
    // An Ack proves the stream is up even if the metadata and settle signals have not come.
    if (call == call_ && state_ == State::kStarting) BecomeConnectedLocked();
    call->ack.Clear();
    if (!grpc::SerializationTraits<switchboard::v1::Ack>::Deserialize(&call->read, &call->ack)
             .ok()) {
      // Not an Ack: the stream is useless, as below (the generated stub would end it too).
      call->read_ended = true;
      call->context.TryCancel();
      call->RemoveHold();
      return;
    }
    if (call == call_) {
      unacked_bytes_ = 0;
      last_ack_ = base::MonotonicNow();
    }
    if (call == call_ && state_ == State::kConnected && !closed_) {
      listener_->OnAck(call->stream, call->ack);
    }
    call->read.Clear();
    call->StartRead(&call->read);
    return;
  }
  // The stream's read side is over (the handler finished, the connection broke, or it sent
  // something that does not parse): no Ack can come any more, so the stream is useless. Cancel
  // it (a no-op when it already ended; without it a handler that sent garbage and keeps the
  // stream open would hold it forever), start no more writes, and let OnDone come.
  call->read_ended = true;
  call->context.TryCancel();
  call->RemoveHold();
}

void GrpcHandlerConnection::OnWriteDone(Call* call, bool ok) {
  absl::MutexLock lock(&mu_);
  if (call != call_) return;
  if (!ok || call->read_ended) {
    // The stream is breaking: what is still queued stays unwritten; OnCallDone names it to the
    // listener.
    writing_ = false;
    call->write_failed = true;
    return;
  }
  if (!outbox_.empty() && !closed_) {
    StartNextWriteLocked(call);
    return;
  }
  writing_ = false;
  if (closed_ && !call->writes_done) {
    call->writes_done = true;
    call->StartWritesDone();
  }
}

void GrpcHandlerConnection::OnCallDone(Call* call, const grpc::Status& status) {
  std::unique_ptr<grpc::Alarm> stale;
  {
    absl::MutexLock lock(&mu_);
    const bool current = call == call_;
    const bool was_connected = current && state_ == State::kConnected;
    std::vector<std::string> unsent;
    if (current) {
      call_ = nullptr;
      writing_ = false;
      for (const dispatch::EncodedDelivery& d : outbox_) unsent.push_back(d.delivery_id);
      outbox_.clear();
    }
    if (was_connected && !closed_) {
      listener_->OnDisconnected(call->stream, FromGrpcStatus(status), unsent);
    }
    if (closed_) {
      state_ = State::kClosed;
    } else if (current) {
      if (was_connected) {
        SB_LOG(INFO) << "handler_stream_ended address=" << address_ << " stream=" << call->stream
                     << " code=" << static_cast<int>(status.error_code())
                     << " error=" << base::Quoted(status.error_message());
        if (base::MonotonicNow() - connected_at_ >= kHealthyStream)
          backoff_ = options_.initial_backoff;
      } else if (!unreachable_logged_) {
        // Once per outage, not once per attempt.
        unreachable_logged_ = true;
        SB_LOG(WARNING) << "handler_unreachable address=" << address_
                        << " code=" << static_cast<int>(status.error_code())
                        << " error=" << base::Quoted(status.error_message())
                        << " action=reconnecting_with_backoff";
      }
      state_ = State::kBackoff;
      const absl::Duration wait = backoff_ * absl::Uniform(jitter_, 0.5, 1.0);
      backoff_ = std::min(backoff_ * 2, options_.max_backoff);
      ArmTimerLocked(wait, TimerKind::kReconnect, &stale);
    }
  }
  stale.reset();
}

void GrpcHandlerConnection::CallFinished() {
  absl::MutexLock lock(&mu_);
  --outstanding_;
}

void GrpcHandlerConnection::OnTimer(uint64_t id, TimerKind kind, bool fired) {
  std::unique_ptr<grpc::Alarm> stale;
  {
    absl::MutexLock lock(&mu_);
    if (fired && id == timer_id_ && !closed_) {
      if (kind == TimerKind::kSettle && state_ == State::kStarting && call_ != nullptr) {
        if (channel_->GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY) {
          BecomeConnectedLocked();
        } else {
          ArmTimerLocked(options_.settle, TimerKind::kSettle, &stale);
        }
      } else if (kind == TimerKind::kReconnect && state_ == State::kBackoff) {
        stale = std::move(timer_);
        StartCallLocked();
      }
    }
    --outstanding_;
  }
  // `stale` is this very alarm (or an older one): it has fired, so destroying it is safe.
  stale.reset();
}

grpc::ChannelArguments GrpcHandlerConnectionFactory::ChannelArgs(
    const GrpcHandlerConnectionOptions& options) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, ToMillis(options.keepalive));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ToMillis(options.keepalive_timeout));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, ToMillis(options.initial_backoff));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, ToMillis(options.initial_backoff));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, ToMillis(options.max_backoff));
  args.SetMaxReceiveMessageSize(options.max_ack_bytes);
  return args;
}

std::unique_ptr<dispatch::HandlerConnection> GrpcHandlerConnectionFactory::Connect(
    const std::string& address, dispatch::HandlerConnection::Listener* listener) {
  std::shared_ptr<grpc::Channel> channel;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = channels_.begin(); it != channels_.end();) {
      it = it->second.expired() ? channels_.erase(it) : std::next(it);
    }
    channel = channels_[address].lock();
    if (channel == nullptr) {
      channel = grpc::CreateCustomChannel(address,
                                          options_.credentials != nullptr
                                              ? options_.credentials
                                              : grpc::InsecureChannelCredentials(),
                                          ChannelArgs(options_));
      channels_[address] = channel;
    }
  }
  return std::make_unique<GrpcHandlerConnection>(address, std::move(channel), listener, options_);
}

}  // namespace switchboard::server::rpc
