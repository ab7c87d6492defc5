#include "sdk/internal/deliver_service.h"

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/arena.h"
#include "grpcpp/grpcpp.h"
#include "sdk/internal/wire.h"
#include "sdk/log.h"

namespace switchboard::sdk::internal {
namespace {

using ::switchboard::v1::Ack;

constexpr char kDeliverMethod[] = "/switchboard.v1.EventHandler/Deliver";

// Answers a call with `status` at once (an unknown method, or a new stream while draining).
class RefuseReactor final : public grpc::ServerGenericBidiReactor {
 public:
  explicit RefuseReactor(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  out.reserve(buffer.Length());
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// Runs the router on one delivery and logs what is not OK (one line; no payloads).
std::optional<Ack> Handle(const Router& router, const std::string& bytes) {
  // An arena makes the event's Structs (hundreds of small messages and map entries) much
  // cheaper to build and free than on the heap; sized for a typical event in one block.
  google::protobuf::ArenaOptions arena_options;
  arena_options.start_block_size = 32 << 10;
  arena_options.max_block_size = 256 << 10;
  google::protobuf::Arena arena(arena_options);
  auto* delivery = google::protobuf::Arena::CreateMessage<switchboard::v1::Delivery>(&arena);
  std::optional<Ack> ack;
  const bool parsed = delivery->ParseFromString(bytes);
  if (parsed) {
    ack = router.Dispatch(*delivery);
  } else {
    ack = router.DispatchSerialized(bytes);
  }
  // Only for the log lines below (not built for the common OK).
  const auto what = [&] {
    return parsed ? absl::StrCat(" id=", delivery->event().id(), " type=", delivery->event().type(),
                                 " attempt=", delivery->attempt())
                  : std::string();
  };
  if (!ack.has_value()) {
    LogWarning(absl::StrCat("sdk_undecodable_delivery bytes=", bytes.size(),
                            " (no delivery_id: nothing to acknowledge)"));
  } else if (ack->outcome() == Ack::REJECT) {
    LogWarning(absl::StrCat("sdk_reject delivery_id=", ack->delivery_id(), what(),
                            " reason=", Quoted(ack->message())));
  } else if (ack->outcome() == Ack::RETRY) {
    LogInfo(absl::StrCat("sdk_retry delivery_id=", ack->delivery_id(), what(),
                         " reason=", Quoted(ack->message())));
  }
  return ack;
}

}  // namespace

class DeliverStream final : public grpc::ServerGenericBidiReactor {
 public:
  explicit DeliverStream(std::shared_ptr<DeliverService> service) : service_(std::move(service)) {}

  // Starts reading. Called once, before CreateReactor returns.
  void Start() { Pump(); }

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Called with the service's mutex held (lock order: service, then stream), in the same
  // critical section that sets the service draining: no delivery read after that is handled
  // as if the stream were not draining.
  void MarkDraining() {
    absl::MutexLock lock(&mu_);
    draining_ = true;
  }
  // Then, without the service's mutex: acts on it (finishes an idle stream).
  void ActOnDraining() { Pump(); }

  void OnReadDone(bool ok) override {
    std::optional<std::string> bytes;
    bool refused = false;
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      if (!ok) {
        reads_done_ = true;
      } else if (draining_) {
        // Not handled: answered at once so the gateway can send it elsewhere.
        if (std::optional<std::string> id = DeliveryIdOf(Flatten(read_buffer_)); id.has_value()) {
          outbox_.push_back(AckFromStatus(*id, absl::UnavailableError("handler shutting down"))
                                .SerializeAsString());
          refused = true;
        }
      } else {
        bytes = Flatten(read_buffer_);
        ++pending_;
        Ref();  // released by the job
      }
      read_buffer_.Clear();
    }
    if (refused) service_->Count(Ack::RETRY);
    if (bytes.has_value()) {
      service_->deps_.pool->Submit([this, bytes = *std::move(bytes)](bool run) {
        std::optional<Ack> ack;
        if (run && Open()) ack = Handle(*service_->deps_.router, bytes);
        OnHandled(std::move(ack));
        Unref();
      });
    }
    Pump();
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) write_failed_ = true;
    }
    Pump();
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
    }
    Pump();
  }

  void OnDone() override {
    service_->Unregister(this);
    Unref();
  }

 private:
  struct Actions {
    bool metadata = false;
    bool read = false;
    bool write = false;
    // More acks are queued behind this write: let gRPC send them together.
    bool buffer_hint = false;
    bool finish = false;
    grpc::Status status;
    bool empty() const { return !metadata && !read && !write && !finish; }
  };

  ~DeliverStream() override = default;

  // Whether an ack could still be sent: false once the stream was cancelled (the gateway's
  // shutdown, a handler_not_acking restart, a broken connection), a write failed or it
  // finished. A delivery queued behind running calls is not handled on such a stream: its ack
  // would be dropped and the gateway sends it again, so handling it would run its effect twice,
  // and it would hold a worker that deliveries on the gateway's new stream wait for.
  bool Open() {
    absl::MutexLock lock(&mu_);
    return !finished_ && !write_failed_ && !cancelled_;
  }

  void OnHandled(std::optional<Ack> ack) {
    bool queued = false;
    {
      absl::MutexLock lock(&mu_);
      --pending_;
      // After a cancel or a failed write, the gateway counts this delivery as failed anyway.
      if (ack.has_value() && !finished_ && !write_failed_ && !cancelled_) {
        outbox_.push_back(ack->SerializeAsString());
        queued = true;
      }
    }
    if (queued) service_->Count(ack->outcome());
    Pump();
  }

  // Decides the next operations from the state. Called by the pumping thread only.
  Actions NextActions() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Actions a;
    if (finished_) return a;
    if (!metadata_sent_) {
      // At once, so the gateway knows the stream is up before the first delivery.
      metadata_sent_ = true;
      a.metadata = true;
    }
    const bool broken = cancelled_ || write_failed_;
    // Acks queued on a broken stream can never be written (the gateway counts those deliveries
    // as failed anyway): drop them, or Finish would wait for an empty outbox forever and the
    // stream would never end.
    if (broken) outbox_.clear();
    if (!writing_ && !outbox_.empty()) {
      write_buffer_ = ToByteBuffer(outbox_.front());
      outbox_.pop_front();
      writing_ = true;
      a.write = true;
      a.buffer_hint = !outbox_.empty();
    }
    if (!writing_ && outbox_.empty()) {
      const bool idle = pending_ == 0;
      if (broken) {
        a.finish = true;
        a.status = grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled");
      } else if (idle && (reads_done_ || draining_)) {
        a.finish = true;
      }
      if (a.finish) {
        finished_ = true;
        return a;
      }
    }
    if (!reading_ && !reads_done_ && !broken && pending_ < service_->deps_.read_ahead) {
      reading_ = true;
      a.read = true;
    }
    return a;
  }

  // Performs decided operations without holding mu_, one thread at a time, until nothing is
  // left to do. A reaction that runs inline inside Start*() just asks for another round.
  void Pump() {
    Ref();  // the reactor must outlive this call even if OnDone runs meanwhile
    mu_.Lock();
    if (pumping_) {
      // The pumping thread re-reads the state (changed before this call) before it stops.
      mu_.Unlock();
      Unref();
      return;
    }
    pumping_ = true;
    for (Actions a = NextActions(); !a.empty(); a = NextActions()) {
      mu_.Unlock();
      if (a.metadata) StartSendInitialMetadata();
      if (a.write) {
        grpc::WriteOptions options;
        if (a.buffer_hint) options.set_buffer_hint();
        StartWrite(&write_buffer_, options);
      }
      if (a.read) StartRead(&read_buffer_);
      if (a.finish) Finish(a.status);
      mu_.Lock();
    }
    pumping_ = false;
    mu_.Unlock();
    Unref();
  }

  const std::shared_ptr<DeliverService> service_;  // kept alive for late jobs
  std::atomic<int> refs_{1};  // gRPC's (until OnDone) + one per job + one per Pump()

  absl::Mutex mu_;
  grpc::ByteBuffer read_buffer_;   // owned by the outstanding read
  grpc::ByteBuffer write_buffer_;  // owned by the outstanding write
  std::deque<std::string> outbox_ ABSL_GUARDED_BY(mu_);
  int pending_ ABSL_GUARDED_BY(mu_) = 0;  // deliveries queued or running in the pool
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool pumping_ ABSL_GUARDED_BY(mu_) = false;
  bool metadata_sent_ ABSL_GUARDED_BY(mu_) = false;
};

grpc::ServerGenericBidiReactor* DeliverService::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  if (context->method() != kDeliverMethod) {
    return new RefuseReactor(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                          absl::StrCat("unknown method ", context->method())));
  }
  DeliverStream* stream = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (draining_) {
      return new RefuseReactor(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "handler shutting down"));
    }
    stream = new DeliverStream(shared_from_this());
    streams_.insert(stream);
  }
  stream->Start();
  return stream;
}

void DeliverService::StartDrain() {
  std::vector<DeliverStream*> open;
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    for (DeliverStream* stream : streams_) {
      stream->MarkDraining();
      stream->Ref();
      open.push_back(stream);
    }
  }
  for (DeliverStream* stream : open) {
    stream->ActOnDraining();
    stream->Unref();
  }
}

bool DeliverService::AwaitNoStreams(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline(absl::Condition(this, &DeliverService::NoStreams), deadline);
}

int DeliverService::open_streams() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(streams_.size());
}

DeliverService::Counts DeliverService::counts() const {
  absl::MutexLock lock(&mu_);
  return counts_;
}

void DeliverService::Unregister(DeliverStream* stream) {
  absl::MutexLock lock(&mu_);
  streams_.erase(stream);
}

void DeliverService::Count(int outcome) {
  absl::MutexLock lock(&mu_);
  switch (outcome) {
    case Ack::OK:
      ++counts_.ok;
      break;
    case Ack::REJECT:
      ++counts_.reject;
      break;
    default:
      ++counts_.retry;
  }
}

}  // namespace switchboard::sdk::internal
