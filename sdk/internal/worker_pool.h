// Internal to //sdk: a fixed set of threads that run handler functions off gRPC's threads.
//
// The concurrency of handler code is exactly the number of threads; the queue is bounded by
// the callers (each Deliver stream stops reading when it has enough deliveries queued).
//
// Example:
//   WorkerPool pool(8);
//   pool.Submit([](bool run) { if (run) Work(); Release(); });
//   pool.Stop(/*run_queued=*/false);
//
// Thread-safety: Submit may be called from any thread; Stop from one thread at a time.
#ifndef SWITCHBOARD_SDK_INTERNAL_WORKER_POOL_H_
#define SWITCHBOARD_SDK_INTERNAL_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace switchboard::sdk::internal {

class WorkerPool {
 public:
  // Called with run=true on a worker thread, or with run=false (on the thread calling Submit
  // or Stop) when the pool drops it: either way exactly once, so it can release what it holds.
  using Job = std::function<void(bool run)>;

  // REQUIRES: threads >= 1.
  explicit WorkerPool(int threads);
  // Stop(false) if not stopped yet.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(Job job);

  // Stops taking jobs (later ones are dropped), then runs (`run_queued`) or drops the queued
  // ones, and waits for running jobs and the threads to finish. Idempotent.
  void Stop(bool run_queued);

 private:
  void Loop();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty();
  }

  absl::Mutex mu_;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace switchboard::sdk::internal

#endif  // SWITCHBOARD_SDK_INTERNAL_WORKER_POOL_H_
