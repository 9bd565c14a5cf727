// What a run measures, with bounded memory: per endpoint class a log-bucketed latency histogram
// and counters, errors by class + status + errcode, and message delivery (send → seen in each other
// member's /sync). No I/O; the driver records into it from its one thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace loadgen {

using clock = std::chrono::steady_clock;

// HDR-style histogram of microsecond values: exact below 128 µs, then 64 sub-buckets per power of
// two (≤1.6% error) up to 2^40 µs. 18 KiB whatever the number of samples.
class histogram {
 public:
  void record(uint64_t us);
  void merge(const histogram& other);
  void reset();
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? double(sum_) / double(count_) : 0.0; }
  // The value at or below which a fraction `p` (0..1) of the samples lie (bucket's upper edge,
  // capped at the largest sample); 0 without samples.
  uint64_t percentile(double p) const;
  // {"count","p50_ms","p90_ms","p99_ms","max_ms","mean_ms"}
  boost::json::object summary() const;
  // The distribution for plotting: [[ms, fraction at or below], …] at bucket edges, thinned so
  // that consecutive points differ by at least `step` in fraction (plus the first and last).
  boost::json::array cdf(double step = 0.002) const;

 private:
  static constexpr int sub_bits = 6;
  static constexpr size_t linear = size_t(2) << sub_bits;  // 128
  static constexpr size_t buckets = linear + 34 * (size_t(1) << sub_bits);
  static size_t index(uint64_t v);
  static uint64_t upper_edge(size_t i);
  std::array<uint64_t, buckets> counts_{};
  uint64_t count_ = 0, sum_ = 0, max_ = 0;
};

// Endpoint classes. Setup classes are recorded apart from the measured run.
enum class req_class : uint8_t {
  register_, whoami, create_room, join, sync_initial, sync, send, typing, receipt, presence, to_device, upload,
  count_
};
constexpr size_t class_count = size_t(req_class::count_);
std::string_view class_name(req_class c);

struct class_stats {
  uint64_t requests = 0, errors = 0, bytes_in = 0;
  histogram latency;
};

// One set of per-class numbers and the errors seen with them.
struct stats_set {
  std::array<class_stats, class_count> classes;
  std::map<std::tuple<req_class, int, std::string>, uint64_t> errors;  // class, status (0: transport), errcode

  void record(req_class c, int status, std::string_view errcode, uint64_t latency_us, uint64_t bytes_in);
  uint64_t requests() const;
  uint64_t error_count() const;
  void reset();
  // {"classes": {name: {...}}, "requests", "errors", "errors_by_code": [...]}; rates over `seconds`.
  boost::json::object to_json(double seconds) const;
};

// Tracks every message sent in the measured window until each member that was syncing when it was
// sent has seen it, or the grace period ends (then it is missed).
class delivery_tracker {
 public:
  // `expected` has one bit per member slot of the room that must see the message.
  void begin(uint64_t seq, uint32_t room, clock::time_point sent, std::vector<uint64_t> expected);
  void send_ok(uint64_t seq);
  void send_failed(uint64_t seq);
  // A member (slot) saw message `seq`; a delivery's latency goes to the run's and `per_second`.
  void seen(uint64_t seq, uint32_t slot, clock::time_point now, histogram& per_second);
  // Messages still awaited by someone (sent successfully or not yet answered).
  uint64_t pending() const { return pending_messages_; }
  boost::json::object to_json() const;
  const histogram& latency() const { return latency_; }
  // Up to `n` (seq, room, slot) still unseen by an acknowledged message's member: where to look
  // when "missed" is not zero.
  std::vector<std::tuple<uint64_t, uint32_t, uint32_t>> missed_sample(size_t n) const;

 private:
  struct record {
    clock::time_point sent;
    uint32_t room = 0;
    std::vector<uint64_t> waiting;  // bits still unseen; freed when empty
    uint32_t expected = 0, remaining = 0;
    bool confirmed = false;
  };
  std::unordered_map<uint64_t, record> records_;
  histogram latency_;
  uint64_t pending_messages_ = 0;
  uint64_t messages_ok_ = 0, messages_failed_ = 0, seen_of_failed_ = 0, unexpected_ = 0;
};

}  // namespace loadgen
