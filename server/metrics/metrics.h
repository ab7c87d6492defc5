// Prometheus metrics: counters, gauges and histograms rendered in the text exposition format.
//
// A `Registry` owns metric families; components receive the `Registry*` (or the metric pointers
// they need) in their Deps and keep the returned pointers, which stay valid for the registry's
// lifetime. Served by the ops listener at GET /metrics.
//
// Example:
//   metrics::Registry registry;
//   metrics::Counter* stored = registry.AddCounter(
//       "switchboard_webhook_requests_total", "Webhook requests by outcome.", {{"outcome", "stored"}});
//   stored->Increment();
//   std::string text = registry.Render();
//
// Thread-safety: every method is safe to call concurrently. Increment/Observe are lock-free.
#ifndef SWITCHBOARD_SERVER_METRICS_METRICS_H_
#define SWITCHBOARD_SERVER_METRICS_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace switchboard::server::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Increment(int64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Cumulative histogram with fixed upper bounds (in the unit of the observed values).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // Per-bucket (non-cumulative) counts; the last is +Inf.
  std::vector<int64_t> BucketCounts() const;
  const std::vector<double>& bounds() const { return bounds_; }
  int64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<int64_t>[]> buckets_;
  std::atomic<int64_t> count_{0};
  std::atomic<int64_t> sum_micros_{0};  // sum * 1e6, so it can be an atomic integer
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Returns the counter `name{labels}`, creating it on first use. Same name and labels give the
  // same pointer. REQUIRES: `name` is a valid Prometheus metric name; `help` is the same for every
  // call with the same name.
  Counter* AddCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  // Like AddCounter, for a histogram with the given bucket upper bounds.
  Histogram* AddHistogram(const std::string& name, const std::string& help,
                          std::vector<double> bounds, const Labels& labels = {});
  // A gauge read when rendering. `read` must stay callable for the registry's lifetime and be
  // thread-safe.
  void AddGauge(const std::string& name, const std::string& help, std::function<double()> read,
                const Labels& labels = {});

  // Current values of every series of counter `name`, with their labels (empty if none).
  std::vector<std::pair<Labels, int64_t>> CounterValues(const std::string& name) const;

  // The Prometheus text exposition (version 0.0.4) of every metric.
  std::string Render() const;

  // Default latency buckets in seconds, 100 µs .. 10 s.
  static std::vector<double> LatencyBuckets();

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Series {
    Labels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> gauge;
  };
  struct Family {
    std::string name;
    std::string help;
    Kind kind;
    std::vector<std::unique_ptr<Series>> series;
  };
  Series* FindOrAdd(const std::string& name, const std::string& help, Kind kind,
                    const Labels& labels, bool* created) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Family>> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::server::metrics

#endif  // SWITCHBOARD_SERVER_METRICS_METRICS_H_
