// Token-bucket rate limiting (Synapse's rc_* settings) keyed by (class, key): the client IP for
// login and registration, the user for messages and for every authenticated request. Memory is
// bounded: full buckets carry no information and are dropped, idle ones first when a shard is full.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "gateway/gateway.hpp"

namespace myelin::gateway {
namespace {

enum limit_class : size_t {
  message, registration, login, login_account, login_failed, client, media_create, class_count
};

int class_index(std::string_view cls) {
  if (cls == "message") return message;
  if (cls == "registration") return registration;
  if (cls == "login") return login;
  if (cls == "login_account") return login_account;
  if (cls == "login_failed") return login_failed;
  if (cls == "client") return client;
  if (cls == "media_create") return media_create;
  return -1;
}

std::array<rate_limit, class_count> limits_of(const rate_limits_config& c) {
  return {c.message, c.registration, c.login_address, c.login_account, c.login_failed_attempts, c.client_requests,
          c.media_create};
}

constexpr size_t shard_count = 16;
constexpr size_t max_buckets_per_shard = 100'000;
constexpr int64_t sweep_interval_ns = 60'000'000'000;

struct bucket {
  double tokens = 0;
  int64_t updated_ns = 0;  // last refill, which is also the last use
};

struct string_hash {
  using is_transparent = void;  // lookups by string_view without building a std::string
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

using bucket_map = std::unordered_map<std::string, bucket, string_hash, std::equal_to<>>;

struct shard {
  std::mutex mu;
  std::array<bucket_map, class_count> maps;
  size_t size = 0;
  int64_t last_sweep_ns = 0;
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double burst_of(const rate_limit& l) { return std::max(1.0, l.burst_count); }

void refill(bucket& b, const rate_limit& l, int64_t now) {
  double elapsed = static_cast<double>(now - b.updated_ns) / 1e9;
  b.tokens = std::min(burst_of(l), b.tokens + elapsed * l.per_second);
  b.updated_ns = now;
}

bool is_full(const bucket& b, const rate_limit& l, int64_t now) {
  if (l.per_second <= 0) return true;  // class disabled since: nothing left to remember
  double elapsed = static_cast<double>(now - b.updated_ns) / 1e9;
  return b.tokens + elapsed * l.per_second >= burst_of(l);
}

void drop_full(shard& s, const std::array<rate_limit, class_count>& limits, int64_t now) {
  for (size_t c = 0; c < class_count; ++c) {
    auto& m = s.maps[c];
    for (auto it = m.begin(); it != m.end();) {
      if (is_full(it->second, limits[c], now)) {
        it = m.erase(it);
        --s.size;
      } else {
        ++it;
      }
    }
  }
}

// Under a flood of distinct keys even non-full buckets must go: the least recently used, down to
// 90% of the cap so the next sweep is far away. Such a key merely gets a fresh bucket later.
void drop_least_recent(shard& s) {
  size_t target = max_buckets_per_shard * 9 / 10;
  if (s.size <= target) return;
  struct victim {
    int64_t updated_ns;
    size_t cls;
    bucket_map::iterator it;
  };
  std::vector<victim> all;
  all.reserve(s.size);
  for (size_t c = 0; c < class_count; ++c)
    for (auto it = s.maps[c].begin(); it != s.maps[c].end(); ++it) all.push_back({it->second.updated_ns, c, it});
  size_t excess = s.size - target;
  std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(excess), all.end(),
                   [](const victim& a, const victim& b) { return a.updated_ns < b.updated_ns; });
  for (size_t i = 0; i < excess; ++i) s.maps[all[i].cls].erase(all[i].it);
  s.size -= excess;
}

} // namespace

struct rate_limiter::impl {
  std::shared_mutex config_mu;
  std::array<rate_limit, class_count> limits;
  std::array<shard, shard_count> shards;

  std::array<rate_limit, class_count> current_limits() {
    std::shared_lock lock(config_mu);
    return limits;
  }
};

rate_limiter::rate_limiter(const rate_limits_config& cfg) : impl_(std::make_unique<impl>()) {
  impl_->limits = limits_of(cfg);
}

rate_limiter::~rate_limiter() = default;

void rate_limiter::reconfigure(const rate_limits_config& cfg) {
  std::unique_lock lock(impl_->config_mu);
  impl_->limits = limits_of(cfg);
}

int64_t rate_limiter::take(std::string_view cls, std::string_view key) { return use(cls, key, true); }

int64_t rate_limiter::check(std::string_view cls, std::string_view key) { return use(cls, key, false); }

int64_t rate_limiter::use(std::string_view cls, std::string_view key, bool consume) {
  int ci = class_index(cls);
  if (ci < 0) return 0;
  auto limits = impl_->current_limits();
  const rate_limit& lim = limits[static_cast<size_t>(ci)];
  if (lim.per_second <= 0) return 0;

  int64_t now = now_ns();
  shard& s = impl_->shards[(std::hash<std::string_view>{}(key) + static_cast<size_t>(ci)) % shard_count];
  std::lock_guard lock(s.mu);
  if (now - s.last_sweep_ns > sweep_interval_ns) {
    drop_full(s, limits, now);
    s.last_sweep_ns = now;
  }
  auto& m = s.maps[static_cast<size_t>(ci)];
  auto it = m.find(key);
  if (it == m.end()) {
    if (!consume) return 0;  // no bucket yet: it would be full
    if (s.size >= max_buckets_per_shard) {
      drop_full(s, limits, now);
      drop_least_recent(s);
    }
    it = m.emplace(std::string(key), bucket{burst_of(lim), now}).first;
    ++s.size;
  }
  bucket& b = it->second;
  refill(b, lim, now);
  if (b.tokens >= 1) {
    if (consume) b.tokens -= 1;
    return 0;
  }
  double wait_ms = std::ceil((1 - b.tokens) / lim.per_second * 1000.0);
  return std::max<int64_t>(1, static_cast<int64_t>(wait_ms));
}

} // namespace myelin::gateway
