#include "server/metrics/metrics.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace switchboard::server::metrics {
namespace {

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string FormatLabels(const Labels& labels, const std::string& extra_key = "",
                         const std::string& extra_value = "") {
  if (labels.empty() && extra_key.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    absl::StrAppend(&out, first ? "" : ",", k, "=\"", EscapeLabelValue(v), "\"");
    first = false;
  }
  if (!extra_key.empty()) {
    absl::StrAppend(&out, first ? "" : ",", extra_key, "=\"", extra_value, "\"");
  }
  out += "}";
  return out;
}

std::string FormatDouble(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return absl::StrFormat("%g", v);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<int64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<int64_t>(std::llround(value * 1e6)),
                        std::memory_order_relaxed);
}

std::vector<int64_t> Histogram::BucketCounts() const {
  std::vector<int64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) out[i] = buckets_[i].load();
  return out;
}

double Histogram::Sum() const { return static_cast<double>(sum_micros_.load()) / 1e6; }

Registry::Series* Registry::FindOrAdd(const std::string& name, const std::string& help, Kind kind,
                                      const Labels& labels, bool* created) {
  Family* family = nullptr;
  for (auto& f : families_) {
    if (f->name == name) family = f.get();
  }
  if (family == nullptr) {
    families_.push_back(std::make_unique<Family>(Family{name, help, kind, {}}));
    family = families_.back().get();
  }
  for (auto& s : family->series) {
    if (s->labels == labels) {
      *created = false;
      return s.get();
    }
  }
  family->series.push_back(std::make_unique<Series>());
  family->series.back()->labels = labels;
  *created = true;
  return family->series.back().get();
}

Counter* Registry::AddCounter(const std::string& name, const std::string& help,
                              const Labels& labels) {
  absl::MutexLock lock(&mu_);
  bool created;
  Series* s = FindOrAdd(name, help, Kind::kCounter, labels, &created);
  if (created) s->counter = std::make_unique<Counter>();
  return s->counter.get();
}

Histogram* Registry::AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<double> bounds, const Labels& labels) {
  absl::MutexLock lock(&mu_);
  bool created;
  Series* s = FindOrAdd(name, help, Kind::kHistogram, labels, &created);
  if (created) s->histogram = std::make_unique<Histogram>(std::move(bounds));
  return s->histogram.get();
}

void Registry::AddGauge(const std::string& name, const std::string& help,
                        std::function<double()> read, const Labels& labels) {
  absl::MutexLock lock(&mu_);
  bool created;
  Series* s = FindOrAdd(name, help, Kind::kGauge, labels, &created);
  s->gauge = std::move(read);
}

std::vector<std::pair<Labels, int64_t>> Registry::CounterValues(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<Labels, int64_t>> out;
  for (const auto& f : families_) {
    if (f->name != name || f->kind != Kind::kCounter) continue;
    for (const auto& s : f->series) out.emplace_back(s->labels, s->counter->Value());
  }
  return out;
}

std::string Registry::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& f : families_) {
    const char* type = f->kind == Kind::kCounter   ? "counter"
                       : f->kind == Kind::kGauge   ? "gauge"
                                                   : "histogram";
    absl::StrAppend(&out, "# HELP ", f->name, " ", f->help, "\n# TYPE ", f->name, " ", type,
                    "\n");
    for (const auto& s : f->series) {
      switch (f->kind) {
        case Kind::kCounter:
          absl::StrAppend(&out, f->name, FormatLabels(s->labels), " ", s->counter->Value(), "\n");
          break;
        case Kind::kGauge:
          absl::StrAppend(&out, f->name, FormatLabels(s->labels), " ", FormatDouble(s->gauge()),
                          "\n");
          break;
        case Kind::kHistogram: {
          const Histogram& h = *s->histogram;
          std::vector<int64_t> counts = h.BucketCounts();
          int64_t cumulative = 0;
          for (size_t i = 0; i < counts.size(); ++i) {
            cumulative += counts[i];
            std::string le =
                i < h.bounds().size() ? FormatDouble(h.bounds()[i]) : std::string("+Inf");
            absl::StrAppend(&out, f->name, "_bucket", FormatLabels(s->labels, "le", le), " ",
                            cumulative, "\n");
          }
          absl::StrAppend(&out, f->name, "_sum", FormatLabels(s->labels), " ",
                          FormatDouble(h.Sum()), "\n", f->name, "_count", FormatLabels(s->labels),
                          " ", cumulative, "\n");
          break;
        }
      }
    }
  }
  return out;
}

std::vector<double> Registry::LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5, 10};
}

}  // namespace switchboard::server::metrics
