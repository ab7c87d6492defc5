// Internal to //sdk: a fixed set of threads that run handler functions off gRPC's threads.
//
// The concurrency of handler code is exactly the number of threads; the queue is bounded by
// the callers (each Deliver stream stops reading when it has enough deliveries queued).
//
// A handler function may never return (a hung database call). Stop takes a deadline: past it,
// the threads still running a job are detached instead of joined, and finish that job on their
// own. They share the queue's state with the pool (a shared_ptr), so the pool may be destroyed
// meanwhile; whatever such a job touches must outlive it (DeliverService keeps its streams
// alive for their jobs; the Router is the user's).
//
// Example:
//   WorkerPool pool(8);
//   pool.Submit([](bool run) { if (run) Work(); Release(); });
//   if (!pool.Stop(/*run_queued=*/false, absl::Now() + absl::Seconds(30))) { ...abandoned... }
//
// Thread-safety: Submit may be called from any thread; Stop and the destructor from one
// thread at a time.
#ifndef SWITCHBOARD_SDK_INTERNAL_WORKER_POOL_H_
#define SWITCHBOARD_SDK_INTERNAL_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace switchboard::sdk::internal {

class WorkerPool {
 public:
  // Called with run=true on a worker thread, or with run=false (on the thread calling Submit
  // or Stop) when the pool drops it: either way exactly once, so it can release what it holds.
  using Job = std::function<void(bool run)>;

  // REQUIRES: threads >= 1.
  explicit WorkerPool(int threads);
  // Stop(false) without a deadline if Stop was never called. After a Stop, returns at once:
  // it never waits for jobs a Stop gave up on.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(Job job);

  // Stops taking jobs (later ones are dropped), then runs (`run_queued`) or drops the queued
  // ones, and waits until every thread has finished its jobs, or `deadline`. Returns true when
  // they all did (the threads are joined); false when jobs were still running at the deadline:
  // what is still queued then is dropped too, and the threads are detached and end once their
  // current job returns. May be called again, to wait again.
  bool Stop(bool run_queued, absl::Time deadline = absl::InfiniteFuture());

  // Jobs submitted and neither started nor dropped yet (for tests and diagnostics).
  int queued() const;

 private:
  // Shared with the threads, which may outlive the pool (see Stop).
  struct State {
    absl::Mutex mu;
    std::deque<Job> queue ABSL_GUARDED_BY(mu);
    bool stopping ABSL_GUARDED_BY(mu) = false;
    int live_threads ABSL_GUARDED_BY(mu) = 0;  // threads not yet out of Loop

    bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return stopping || !queue.empty();
    }
    bool AllThreadsEnded() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return live_threads == 0; }
  };
  static void Loop(const std::shared_ptr<State>& state);

  const std::shared_ptr<State> state_ = std::make_shared<State>();
  std::vector<std::thread> threads_;  // joinable until a Stop joins or detaches them
  bool stop_called_ = false;
};

}  // namespace switchboard::sdk::internal

#endif  // SWITCHBOARD_SDK_INTERNAL_WORKER_POOL_H_
