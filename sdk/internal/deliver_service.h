// Internal to //sdk: the server side of switchboard.v1.EventHandler.Deliver, with gRPC's
// callback (reactor) API.
//
// Served as a generic service over raw bytes so that a delivery the generated classes would
// refuse is still answered (REJECT) instead of breaking the stream: see Router::DispatchSerialized.
// Each Deliver stream is a DeliverStream reactor:
//   - it sends its initial metadata at once, so the gateway sees the stream up before any
//     delivery;
//   - it keeps one read outstanding while fewer than `read_ahead` of its deliveries are queued or
//     running (beyond that, gRPC flow control holds the gateway back);
//   - each delivery becomes a WorkerPool job, so handler functions never run on gRPC threads
//     and never block a reaction;
//   - acks go through an outbox with one write in flight; Finish is called only with no write
//     outstanding, and nothing touches the reactor after OnDone (jobs hold a reference);
//   - once the stream is cancelled or a write failed, queued and later acks are dropped (the
//     gateway counts those deliveries as failed) and the stream finishes without waiting for
//     its running handler calls; its deliveries still queued in the pool are not handled (the
//     gateway sends them again, so handling them would run their effects twice, and they would
//     hold workers that deliveries on the gateway's new stream wait for);
//   - Start*/Finish are never called with the reactor's mutex held (a reaction may run
//     inline); one thread at a time "pumps" the decided operations, in decision order.
// Draining (SIGTERM): new streams are refused with UNAVAILABLE; open streams answer further
// deliveries RETRY ("handler shutting down"), wait for their running handler calls, write
// those acks, and finish with OK.
//
// Lifetime: each stream holds the service (a shared_ptr), and each delivery's job holds its
// stream, so a handler call still running after its server and the service's owner are gone
// (a drain that timed out, see WorkerPool::Stop) ends on live objects and writes nothing.
//
// Example:
//   std::shared_ptr<DeliverService> service =
//       DeliverService::Create({.router = &router, .pool = &pool, .read_ahead = 16});
//   builder.RegisterCallbackGenericService(service.get());
//   ...
//   service->StartDrain();
//   service->AwaitNoStreams(absl::Now() + absl::Seconds(30));
//
// Thread-safety: all public methods may be called from any thread.
#ifndef SWITCHBOARD_SDK_INTERNAL_DELIVER_SERVICE_H_
#define SWITCHBOARD_SDK_INTERNAL_DELIVER_SERVICE_H_

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/generic/async_generic_service.h"
#include "sdk/internal/worker_pool.h"
#include "sdk/router.h"

namespace switchboard::sdk::internal {

class DeliverStream;

class DeliverService final : public grpc::CallbackGenericService,
                             public std::enable_shared_from_this<DeliverService> {
 public:
  struct Deps {
    // Must outlive the service's streams, and so every handler call (also one still running
    // after a drain gave up on it).
    const Router* router = nullptr;
    // Takes the deliveries the streams read; must outlive the gRPC server the service is
    // registered with (no stream reads after it shut down).
    WorkerPool* pool = nullptr;
    // Deliveries one stream may have queued or running before it stops reading (HandlerServer:
    // twice its workers). >= 1.
    int read_ahead = 16;  // twice the default 8 workers
  };
  static std::shared_ptr<DeliverService> Create(Deps deps) {
    return std::shared_ptr<DeliverService>(new DeliverService(deps));
  }

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override;

  // Starts draining (see the file comment). Returns at once.
  void StartDrain();
  // Waits until no stream is open, or `deadline`. True when none is.
  bool AwaitNoStreams(absl::Time deadline);

  int open_streams() const;
  // Acks queued to be sent since start, by outcome (acks of a stream that was cancelled or
  // broke meanwhile are dropped, not counted; one queued may still be dropped by a break
  // before it is written).
  struct Counts {
    int64_t ok = 0;
    int64_t retry = 0;
    int64_t reject = 0;
  };
  Counts counts() const;

 private:
  friend class DeliverStream;

  explicit DeliverService(Deps deps) : deps_(deps) {}

  void Unregister(DeliverStream* stream);
  void Count(int outcome);
  bool NoStreams() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return streams_.empty(); }

  const Deps deps_;
  mutable absl::Mutex mu_;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<DeliverStream*> streams_ ABSL_GUARDED_BY(mu_);
  Counts counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::sdk::internal

#endif  // SWITCHBOARD_SDK_INTERNAL_DELIVER_SERVICE_H_
