#include "stats.hpp"

#include <bit>
#include <boost/json.hpp>

namespace loadgen {

namespace json = boost::json;

// ---- histogram ----

size_t histogram::index(uint64_t v) {
  if (v < linear) return size_t(v);
  int shift = std::bit_width(v) - (sub_bits + 1);  // v >> shift is in [64, 128)
  size_t i = linear + size_t(shift - 1) * (size_t(1) << sub_bits) + size_t((v >> shift) - (uint64_t(1) << sub_bits));
  return i < buckets ? i : buckets - 1;
}

uint64_t histogram::upper_edge(size_t i) {
  if (i < linear) return i;
  size_t k = i - linear;
  int shift = int(k >> sub_bits) + 1;
  uint64_t sub = (uint64_t(1) << sub_bits) + (k & ((size_t(1) << sub_bits) - 1));
  return ((sub + 1) << shift) - 1;
}

void histogram::record(uint64_t us) {
  ++counts_[index(us)];
  ++count_;
  sum_ += us;
  if (us > max_) max_ = us;
}

void histogram::merge(const histogram& o) {
  for (size_t i = 0; i < buckets; ++i) counts_[i] += o.counts_[i];
  count_ += o.count_;
  sum_ += o.sum_;
  if (o.max_ > max_) max_ = o.max_;
}

void histogram::reset() {
  if (count_ == 0) return;
  counts_.fill(0);
  count_ = sum_ = max_ = 0;
}

uint64_t histogram::percentile(double p) const {
  if (count_ == 0) return 0;
  // The rank of the sample at fraction p (1-based, at least the first).
  uint64_t rank = uint64_t(p * double(count_) + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > count_) rank = count_;
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(upper_edge(i), max_);
  }
  return max_;
}

json::object histogram::summary() const {
  auto ms = [](uint64_t us) { return double(us) / 1000.0; };
  return {{"count", count_},           {"p50_ms", ms(percentile(0.5))}, {"p90_ms", ms(percentile(0.9))},
          {"p99_ms", ms(percentile(0.99))}, {"max_ms", ms(max_)},        {"mean_ms", mean() / 1000.0}};
}

json::array histogram::cdf(double step) const {
  json::array points;
  if (count_ == 0) return points;
  uint64_t seen = 0;
  double last = -1;
  size_t last_bucket = 0;
  for (size_t i = 0; i < buckets; ++i)
    if (counts_[i]) last_bucket = i;
  for (size_t i = 0; i <= last_bucket; ++i) {
    if (!counts_[i]) continue;
    seen += counts_[i];
    double fraction = double(seen) / double(count_);
    if (i != last_bucket && points.size() > 0 && fraction - last < step) continue;
    points.push_back(json::array{double(std::min(upper_edge(i), max_)) / 1000.0, fraction});
    last = fraction;
  }
  return points;
}

// ---- classes ----

std::string_view class_name(req_class c) {
  static constexpr std::string_view names[] = {"register", "whoami",  "create_room", "join",
                                               "sync_initial", "sync", "send",        "typing",
                                               "receipt",  "presence", "to_device",   "upload"};
  static_assert(std::size(names) == class_count);
  return names[size_t(c)];
}

void stats_set::record(req_class c, int status, std::string_view errcode, uint64_t latency_us, uint64_t bytes_in) {
  auto& s = classes[size_t(c)];
  ++s.requests;
  s.bytes_in += bytes_in;
  s.latency.record(latency_us);
  if (status != 200) {
    ++s.errors;
    ++errors[{c, status, std::string(errcode)}];
  }
}

uint64_t stats_set::requests() const {
  uint64_t n = 0;
  for (auto& c : classes) n += c.requests;
  return n;
}

uint64_t stats_set::error_count() const {
  uint64_t n = 0;
  for (auto& c : classes) n += c.errors;
  return n;
}

void stats_set::reset() {
  for (auto& c : classes) {
    c.requests = c.errors = c.bytes_in = 0;
    c.latency.reset();
  }
  errors.clear();
}

json::object stats_set::to_json(double seconds) const {
  json::object classes_json;
  for (size_t i = 0; i < class_count; ++i) {
    const auto& s = classes[i];
    if (s.requests == 0) continue;
    auto o = s.latency.summary();
    o.erase("count");
    o["requests"] = s.requests;
    o["errors"] = s.errors;
    o["ok"] = s.requests - s.errors;
    o["per_second"] = seconds > 0 ? double(s.requests) / seconds : 0.0;
    o["bytes_in"] = s.bytes_in;
    classes_json[class_name(req_class(i))] = std::move(o);
  }
  json::array errs;
  for (const auto& [key, n] : errors) {
    const auto& [c, status, errcode] = key;
    errs.push_back(json::object{{"class", class_name(c)}, {"status", status}, {"errcode", errcode}, {"count", n}});
  }
  auto total = requests();
  return {{"requests", total},
          {"errors", error_count()},
          {"per_second", seconds > 0 ? double(total) / seconds : 0.0},
          {"classes", std::move(classes_json)},
          {"errors_by_code", std::move(errs)}};
}

// ---- delivery ----

void delivery_tracker::begin(uint64_t seq, uint32_t room, clock::time_point sent, std::vector<uint64_t> expected) {
  record r;
  r.sent = sent;
  r.room = room;
  for (auto w : expected) r.expected += uint32_t(std::popcount(w));
  r.remaining = r.expected;
  if (r.remaining) r.waiting = std::move(expected);
  records_.emplace(seq, std::move(r));
  ++pending_messages_;
}

void delivery_tracker::send_ok(uint64_t seq) {
  auto it = records_.find(seq);
  if (it == records_.end() || it->second.confirmed) return;
  it->second.confirmed = true;
  ++messages_ok_;
  if (it->second.remaining == 0) --pending_messages_;
}

void delivery_tracker::send_failed(uint64_t seq) {
  auto it = records_.find(seq);
  if (it == records_.end() || it->second.confirmed) return;
  // A failed send that someone saw anyway (a timeout after the server stored it): reported apart,
  // so "delivered" only ever counts messages the server acknowledged.
  seen_of_failed_ += it->second.expected - it->second.remaining;
  ++messages_failed_;
  --pending_messages_;
  records_.erase(it);
}

void delivery_tracker::seen(uint64_t seq, uint32_t slot, clock::time_point now, histogram& per_second) {
  auto it = records_.find(seq);
  if (it == records_.end()) return;  // not from the measured window
  auto& r = it->second;
  size_t word = slot / 64;
  uint64_t bit = uint64_t(1) << (slot % 64);
  if (word >= r.waiting.size() || !(r.waiting[word] & bit)) {
    ++unexpected_;  // not syncing or not joined when it was sent, or seen twice
    return;
  }
  r.waiting[word] &= ~bit;
  auto us = uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(now - r.sent).count());
  latency_.record(us);
  per_second.record(us);
  if (--r.remaining == 0) {
    std::vector<uint64_t>().swap(r.waiting);
    if (r.confirmed) --pending_messages_;
  }
}

std::vector<std::tuple<uint64_t, uint32_t, uint32_t>> delivery_tracker::missed_sample(size_t n) const {
  std::vector<std::tuple<uint64_t, uint32_t, uint32_t>> out;
  for (const auto& [seq, r] : records_) {
    if (!r.confirmed) continue;
    for (size_t w = 0; w < r.waiting.size() && out.size() < n; ++w)
      for (uint64_t bits = r.waiting[w]; bits && out.size() < n; bits &= bits - 1)
        out.emplace_back(seq, r.room, uint32_t(w * 64 + size_t(std::countr_zero(bits))));
    if (out.size() >= n) break;
  }
  return out;
}

json::object delivery_tracker::to_json() const {
  uint64_t expected = 0, delivered = 0, unanswered = 0;
  for (const auto& [seq, r] : records_) {
    if (!r.confirmed) {
      ++unanswered;
      continue;
    }
    expected += r.expected;
    delivered += r.expected - r.remaining;
  }
  return {{"messages", messages_ok_},
          {"messages_failed", messages_failed_},
          {"messages_unanswered", unanswered},
          {"expected", expected},
          {"delivered", delivered},
          {"missed", expected - delivered},
          {"seen_not_expected", unexpected_},
          {"seen_of_failed_sends", seen_of_failed_},
          {"latency", latency_.summary()}};
}

}  // namespace loadgen
