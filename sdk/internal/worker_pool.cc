#include "sdk/internal/worker_pool.h"

#include <utility>

namespace switchboard::sdk::internal {

WorkerPool::WorkerPool(int threads) {
  {
    absl::MutexLock lock(&state_->mu);
    state_->live_threads = threads;
  }
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([state = state_] { Loop(state); });
  }
}

WorkerPool::~WorkerPool() {
  if (!stop_called_) Stop(/*run_queued=*/false);
}

void WorkerPool::Submit(Job job) {
  {
    absl::MutexLock lock(&state_->mu);
    if (!state_->stopping) {
      state_->queue.push_back(std::move(job));
      return;
    }
  }
  job(false);
}

bool WorkerPool::Stop(bool run_queued, absl::Time deadline) {
  stop_called_ = true;
  std::deque<Job> dropped;
  {
    absl::MutexLock lock(&state_->mu);
    state_->stopping = true;
    if (!run_queued) dropped.swap(state_->queue);
  }
  for (Job& job : dropped) job(false);
  bool all_ended = false;
  {
    absl::MutexLock lock(&state_->mu);
    all_ended = state_->mu.AwaitWithDeadline(absl::Condition(state_.get(), &State::AllThreadsEnded),
                                             deadline);
  }
  if (!all_ended) {
    // Past the deadline nothing more starts: what is still queued is dropped, so a detached
    // thread ends with the job it is in.
    std::deque<Job> late;
    {
      absl::MutexLock lock(&state_->mu);
      late.swap(state_->queue);
    }
    for (Job& job : late) job(false);
  }
  for (std::thread& t : threads_) {
    if (all_ended) {
      t.join();  // out of Loop already: returns at once
    } else {
      t.detach();  // may still be in a job, which it finishes on its own
    }
  }
  threads_.clear();
  return all_ended;
}

int WorkerPool::queued() const {
  absl::MutexLock lock(&state_->mu);
  return static_cast<int>(state_->queue.size());
}

void WorkerPool::Loop(const std::shared_ptr<State>& state) {
  while (true) {
    Job job;
    {
      absl::MutexLock lock(&state->mu);
      state->mu.Await(absl::Condition(state.get(), &State::HasWorkOrStopping));
      if (state->queue.empty()) {  // stopping, and nothing left to run
        --state->live_threads;
        return;
      }
      job = std::move(state->queue.front());
      state->queue.pop_front();
    }
    job(true);
  }
}

}  // namespace switchboard::sdk::internal
