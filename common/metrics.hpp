// Prometheus metrics: counters, gauges and histograms in labelled families, rendered in the text
// exposition format (version 0.0.4) by the metrics listener. Recording is lock-free once a label
// set exists (atomics); finding a label set takes a shared lock and allocates nothing, so the hot
// paths (every request, every query) can record freely. Values computed at scrape time (positions,
// pools, process CPU) come from collectors.
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace myelin::metrics {

class counter {
public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<uint64_t> value_{0};
};

class gauge {
public:
  void add(int64_t d) { value_.fetch_add(d, std::memory_order_relaxed); }
  void set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<int64_t> value_{0};
};

// Latency in seconds, with fixed buckets from 1 ms to 60 s (what a homeserver's requests and
// queries span; long-polls land in the last buckets).
class histogram {
public:
  static constexpr std::array<double, 14> bounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                 0.25,  0.5,    1,     2.5,  5,     10,  60};
  void observe(double seconds);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9; }
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }  // not cumulative

private:
  std::array<std::atomic<uint64_t>, bounds.size()> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

enum class kind { counter, gauge, histogram };

// One metric name with its label names; each distinct tuple of label values is one series.
template <class T>
class family {
public:
  family(std::string name, std::string help, std::vector<std::string> label_names)
      : name_(std::move(name)), help_(std::move(help)), labels_(std::move(label_names)) {}

  // The series for these label values (in label-name order), created on first use.
  T& with(std::initializer_list<std::string_view> values) {
    {
      std::shared_lock lock(mu_);
      if (auto it = series_.find(values); it != series_.end()) return *it->second;
    }
    std::unique_lock lock(mu_);
    std::vector<std::string> key(values.begin(), values.end());
    auto& slot = series_[std::move(key)];
    if (!slot) slot = std::make_unique<T>();
    return *slot;
  }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return labels_; }
  template <class F>
  void each(F&& f) const {
    std::shared_lock lock(mu_);
    for (const auto& [values, series] : series_) f(values, *series);
  }

private:
  struct key_less {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                          [](std::string_view x, std::string_view y) { return x < y; });
    }
  };
  std::string name_, help_;
  std::vector<std::string> labels_;
  mutable std::shared_mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>, key_less> series_;
};

// Writes one sample line per call; used by collectors.
class writer {
public:
  explicit writer(std::string& out) : out_(out) {}
  // "# HELP" and "# TYPE" for a family written by a collector (once per name).
  void header(std::string_view name, std::string_view help, kind k);
  void sample(std::string_view name, std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
              double value);
  void sample(std::string_view name, const std::vector<std::string>& label_names,
              const std::vector<std::string>& values, double value, std::string_view extra_label = {},
              std::string_view extra_value = {});

private:
  std::string& out_;
};

class registry {
public:
  // The process-wide registry: every node of the process records into it.
  static registry& global();

  family<counter>& counters(const std::string& name, const std::string& help, std::vector<std::string> labels);
  family<gauge>& gauges(const std::string& name, const std::string& help, std::vector<std::string> labels);
  family<histogram>& histograms(const std::string& name, const std::string& help, std::vector<std::string> labels);

  // Called at every scrape, after the families. Returns a handle; the collector is removed when
  // the handle is destroyed (a node that stops takes its collectors with it).
  using collector = std::function<void(writer&)>;
  std::shared_ptr<void> add_collector(collector c);

  // The whole exposition text.
  std::string render() const;

private:
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<family<counter>>> counters_;
  std::map<std::string, std::unique_ptr<family<gauge>>> gauges_;
  std::map<std::string, std::unique_ptr<family<histogram>>> histograms_;
  std::map<uint64_t, collector> collectors_;
  uint64_t next_collector_ = 0;
};

// Process CPU, memory, threads and open files from /proc/self (the standard process_* series).
void write_process_metrics(writer& w);

// Times a scope into a histogram.
class timer {
public:
  explicit timer(histogram& h) : h_(h), start_(std::chrono::steady_clock::now()) {}
  ~timer() { h_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count()); }
  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;

private:
  histogram& h_;
  std::chrono::steady_clock::time_point start_;
};

} // namespace myelin::metrics
