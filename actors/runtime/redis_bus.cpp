#include "actors/runtime/redis_bus.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <boost/json.hpp>
#include <caf/all.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "common/log.hpp"

namespace myelin::runtime {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr auto io_timeout = 2s;        // connect, and any command's reply
constexpr auto first_retry = 250ms;
constexpr auto max_retry = 5s;
constexpr auto ping_after = 1s;        // a quiet connection is probed this often
constexpr int poll_slice_ms = 200;     // how soon the subscriber notices stop()
constexpr size_t max_batch = 512;      // PUBLISHes pipelined per round trip

struct context_deleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using context_ptr = std::unique_ptr<redisContext, context_deleter>;
struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

timeval to_timeval(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

// hiredis reports a socket timeout as EAGAIN's text; say what it means.
std::string describe(const redisContext* c) {
  if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) return "timed out after 2 s";
  return c->errstr[0] ? std::string(c->errstr) : "connection failed";
}

reply_ptr command(redisContext* c, std::initializer_list<std::string_view> args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return reply_ptr(static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

std::string reply_error(const redisReply* r) {
  if (r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS) return std::string(r->str, r->len);
  return "unexpected reply type " + std::to_string(r->type);
}

// A connection with connect and I/O timeouts, authenticated. Null with `error` set on failure.
context_ptr connect(const redis_settings& s, std::string& error) {
  auto tv = to_timeval(io_timeout);
  context_ptr c(s.path.empty() ? redisConnectWithTimeout(s.host.c_str(), s.port, tv)
                               : redisConnectUnixWithTimeout(s.path.c_str(), tv));
  if (!c) {
    error = "cannot allocate a connection";
    return nullptr;
  }
  if (c->err || redisSetTimeout(c.get(), tv) != REDIS_OK) {
    error = describe(c.get());
    return nullptr;
  }
  if (s.path.empty()) redisEnableKeepAlive(c.get());
  if (!s.password.empty()) {
    auto r = command(c.get(), {"AUTH", s.password});
    if (!r) {
      error = describe(c.get());
      return nullptr;
    }
    if (r->type != REDIS_REPLY_STATUS) {
      error = "AUTH refused: " + reply_error(r.get());
      return nullptr;
    }
  }
  return c;
}

// Writes whatever hiredis has buffered (a pipelined batch, a PING).
bool flush(redisContext* c) {
  int done = 0;
  while (!done)
    if (redisBufferWrite(c, &done) != REDIS_OK) return false;
  return true;
}

} // namespace

struct redis_bus::impl {
  redis_settings settings;
  std::string node;
  stream_hub_actor hub;
  logger log{"cluster"};

  std::mutex mu;                         // queue, publisher_up, stopping, and the status strings
  std::condition_variable wake;
  std::vector<stream_update> queue;
  bool publisher_up = false;
  bool subscriber_up = false;
  bool stopping = false;
  std::string last_error;
  int64_t changed_ms = 0;
  std::map<std::string, bool> peers;
  enum class phase { starting, up, down };
  phase publisher_phase = phase::starting, subscriber_phase = phase::starting;

  std::atomic<uint64_t> published{0}, received{0}, returned{0}, failures{0}, catch_ups{0};
  std::thread publisher, subscriber;

  // Logs a role's state change (only a change: not every failed attempt). Caller holds `mu`.
  void changed(const char* role, phase& current, bool up, const std::string& error) {
    phase next = up ? phase::up : phase::down;
    if (!up) {
      ++failures;
      last_error = std::string(role) + ": " + error;
    }
    if (current == next) return;
    changed_ms = now_ms();
    if (up)
      log.info(current == phase::starting ? "redis fan-out connected" : "redis fan-out restored",
               {{"role", role}, {"address", settings.address()}, {"channel", settings.channel}});
    else
      log.warn(current == phase::starting ? "redis fan-out unavailable; retrying" : "redis fan-out lost",
               {{"role", role}, {"address", settings.address()}, {"error", error}});
    current = next;
  }

  // Sleeps for the back-off (false: stop() was called meanwhile) and doubles it.
  bool back_off(std::chrono::milliseconds& retry) {
    std::unique_lock lock(mu);
    bool stop = wake.wait_for(lock, retry, [&] { return stopping; });
    retry = std::min<std::chrono::milliseconds>(retry * 2, max_retry);
    return !stop;
  }

  // ---- publisher ----

  void publisher_loop() {
    auto retry = std::chrono::milliseconds(first_retry);
    while (true) {
      std::string error;
      auto c = connect(settings, error);
      if (c) {
        {
          std::lock_guard lock(mu);
          if (stopping) return;
          publisher_up = true;
          changed("publisher", publisher_phase, true, {});
        }
        retry = first_retry;
        std::vector<stream_update> unconfirmed;
        error = publish_until_failure(c.get(), unconfirmed);
        publisher_failed(error, std::move(unconfirmed));
      } else {
        std::lock_guard lock(mu);
        changed("publisher", publisher_phase, false, error);
      }
      if (!back_off(retry)) return;
    }
  }

  // Pipelines the queue's updates to Redis until the connection fails (returns why, with the
  // updates whose PUBLISH was not confirmed in `unconfirmed`) or stop() is called (returns "").
  std::string publish_until_failure(redisContext* c, std::vector<stream_update>& unconfirmed) {
    std::vector<stream_update> batch;
    while (true) {
      batch.clear();
      {
        std::unique_lock lock(mu);
        wake.wait_for(lock, ping_after, [&] { return stopping || !queue.empty(); });
        if (stopping) return {};
        size_t n = std::min(queue.size(), max_batch);
        std::move(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n), std::back_inserter(batch));
        queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
      }
      if (batch.empty()) {  // quiet: make sure the server is still there
        auto r = command(c, {"PING"});
        if (!r) return describe(c);
        if (r->type == REDIS_REPLY_ERROR) return "PING: " + reply_error(r.get());
        continue;
      }
      for (const auto& u : batch) {
        auto payload = encode(node, u);
        const char* argv[] = {"PUBLISH", settings.channel.data(), payload.data()};
        size_t lens[] = {7, settings.channel.size(), payload.size()};
        redisAppendCommandArgv(c, 3, argv, lens);
      }
      for (size_t i = 0; i < batch.size(); ++i) {
        void* raw = nullptr;
        std::string error;
        if (redisGetReply(c, &raw) != REDIS_OK) error = describe(c);
        reply_ptr r(static_cast<redisReply*>(raw));
        if (error.empty() && r->type != REDIS_REPLY_INTEGER) error = "PUBLISH: " + reply_error(r.get());
        if (!error.empty()) {
          // From the first unconfirmed one on (later ones may have gone through: a duplicate is harmless).
          std::move(batch.begin() + static_cast<std::ptrdiff_t>(i), batch.end(), std::back_inserter(unconfirmed));
          return error;
        }
        ++published;
      }
    }
  }

  // Marks the publisher down (publish() refuses from now on, under the same lock) and hands what
  // it had not confirmed, in order, back to the hub.
  void publisher_failed(const std::string& error, std::vector<stream_update> unconfirmed) {
    {
      std::lock_guard lock(mu);
      publisher_up = false;
      std::move(queue.begin(), queue.end(), std::back_inserter(unconfirmed));
      queue.clear();
      if (!stopping) changed("publisher", publisher_phase, false, error);
    }
    if (unconfirmed.empty()) return;
    returned += unconfirmed.size();
    caf::anon_send(hub, atoms::redis_atom_v, std::move(unconfirmed));
  }

  // ---- subscriber ----

  void subscriber_loop() {
    auto retry = std::chrono::milliseconds(first_retry);
    while (true) {
      std::string error;
      auto c = connect(settings, error);
      if (c) {
        auto r = command(c.get(), {"SUBSCRIBE", settings.channel});
        if (!r) error = describe(c.get());
        else if (r->type != REDIS_REPLY_ARRAY) error = "SUBSCRIBE: " + reply_error(r.get());
      }
      if (c && error.empty()) {
        subscriber_changed(true, {});
        retry = first_retry;
        error = read_until_failure(c.get());
        if (error.empty()) return;  // stopping
        subscriber_changed(false, error);
      } else {
        subscriber_changed(false, error);
      }
      if (!back_off(retry)) return;
    }
  }

  void subscriber_changed(bool up, const std::string& error) {
    bool tell = false;
    {
      std::lock_guard lock(mu);
      tell = subscriber_up != up;
      subscriber_up = up;
      changed("subscriber", subscriber_phase, up, error);
    }
    // The hub tells its peers and catches up (stream_hub.cpp); it starts out "not subscribed".
    if (tell) caf::anon_send(hub, atoms::redis_atom_v, up);
  }

  // Hands other nodes' updates to the hub until the connection fails (returns why) or stop() is
  // called (returns ""). hiredis's blocking read would make a timeout fatal to the connection, so
  // it waits with poll() and PINGs a quiet connection: no PONG within 2 s means it is dead.
  std::string read_until_failure(redisContext* c) {
    using clock = std::chrono::steady_clock;
    auto last_heard = clock::now();
    std::optional<clock::time_point> ping_sent;
    while (true) {
      {
        std::lock_guard lock(mu);
        if (stopping) return {};
      }
      void* raw = nullptr;
      if (redisGetReplyFromReader(c, &raw) != REDIS_OK) return describe(c);
      if (raw) {
        reply_ptr r(static_cast<redisReply*>(raw));
        last_heard = clock::now();
        ping_sent.reset();
        on_reply(*r);
        continue;
      }
      pollfd p{c->fd, POLLIN, 0};
      int n = ::poll(&p, 1, poll_slice_ms);
      if (n < 0 && errno != EINTR) return std::string("poll: ") + std::strerror(errno);
      if (n > 0) {
        if (redisBufferRead(c) != REDIS_OK) return describe(c);
        continue;
      }
      auto now = clock::now();
      if (ping_sent && now - *ping_sent > io_timeout) return "no answer to PING within 2 s";
      if (!ping_sent && now - last_heard > ping_after) {
        redisAppendCommand(c, "PING");
        if (!flush(c)) return describe(c);
        ping_sent = now;
      }
    }
  }

  void on_reply(const redisReply& r) {
    // ["message", channel, payload]; PONGs and anything else only prove the connection is alive.
    if (r.type != REDIS_REPLY_ARRAY || r.elements != 3 || r.element[0]->type != REDIS_REPLY_STRING ||
        std::string_view(r.element[0]->str, r.element[0]->len) != "message" || r.element[2]->type != REDIS_REPLY_STRING)
      return;
    auto msg = decode(std::string_view(r.element[2]->str, r.element[2]->len));
    if (!msg) {
      log.warn("ignored a malformed message on the redis channel", {{"channel", settings.channel}});
      return;
    }
    if (msg->first == node) return;  // our own: the hub applied it when it was published
    ++received;
    caf::anon_send(hub, atoms::forward_atom_v, std::move(msg->second));
  }
};

namespace {
// SIGPIPE from a write to a connection Redis closed would end the process: these threads block it
// (the write then fails with EPIPE, which is handled).
void block_sigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}
} // namespace

redis_bus::redis_bus(redis_settings settings, std::string node) : impl_(std::make_unique<impl>()) {
  impl_->settings = std::move(settings);
  impl_->node = std::move(node);
}

redis_bus::~redis_bus() { stop(); }

void redis_bus::start(stream_hub_actor hub) {
  auto& m = *impl_;
  if (m.publisher.joinable()) return;
  m.hub = std::move(hub);
  m.publisher = std::thread([&m] {
    pthread_setname_np(pthread_self(), "myelin-redis-pub");
    block_sigpipe();
    m.publisher_loop();
  });
  m.subscriber = std::thread([&m] {
    pthread_setname_np(pthread_self(), "myelin-redis-sub");
    block_sigpipe();
    m.subscriber_loop();
  });
}

void redis_bus::stop() {
  auto& m = *impl_;
  {
    std::lock_guard lock(m.mu);
    m.stopping = true;
    m.publisher_up = false;
  }
  m.wake.notify_all();
  if (m.publisher.joinable()) m.publisher.join();
  if (m.subscriber.joinable()) m.subscriber.join();
}

bool redis_bus::publish(const stream_update& u) {
  auto& m = *impl_;
  {
    std::lock_guard lock(m.mu);
    if (!m.publisher_up) return false;
    m.queue.push_back(u);
  }
  m.wake.notify_one();
  return true;
}

void redis_bus::peer_reports(const std::string& peer, std::optional<bool> subscribed) {
  std::lock_guard lock(impl_->mu);
  if (subscribed) impl_->peers[peer] = *subscribed;
  else impl_->peers.erase(peer);
}

void redis_bus::count_catch_up() { ++impl_->catch_ups; }

const std::string& redis_bus::node() const { return impl_->node; }

redis_bus_status redis_bus::status() const {
  auto& m = *impl_;
  redis_bus_status s;
  s.address = m.settings.address();
  s.channel = m.settings.channel;
  s.published = m.published;
  s.received = m.received;
  s.returned = m.returned;
  s.failures = m.failures;
  s.catch_ups = m.catch_ups;
  std::lock_guard lock(m.mu);
  s.publisher_up = m.publisher_up;
  s.subscriber_up = m.subscriber_up;
  s.last_error = m.last_error;
  s.changed_ms = m.changed_ms;
  s.peers = m.peers;
  return s;
}

std::string redis_bus::encode(const std::string& node, const stream_update& u) {
  json::array rows;
  for (const auto& r : u.rows) rows.emplace_back(r);
  return json::serialize(json::object{{"node", node},
                                      {"stream", u.stream},
                                      {"writer", u.writer},
                                      {"position", u.position},
                                      {"rows", std::move(rows)}});
}

std::optional<std::pair<std::string, stream_update>> redis_bus::decode(std::string_view text) {
  json::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  auto str = [&](const char* k) -> const json::string* {
    auto* f = o.if_contains(k);
    return f && f->is_string() ? &f->as_string() : nullptr;
  };
  auto* node = str("node");
  auto* stream = str("stream");
  auto* writer = str("writer");
  auto* position = o.if_contains("position");
  auto* rows = o.if_contains("rows");
  if (!node || !stream || !writer || !position || !position->is_int64() || !rows || !rows->is_array())
    return std::nullopt;
  stream_update u{std::string(*stream), std::string(*writer), position->as_int64(), {}};
  for (const auto& r : rows->as_array()) {
    if (!r.is_string()) return std::nullopt;
    u.rows.emplace_back(r.as_string());
  }
  return std::make_pair(std::string(*node), std::move(u));
}

} // namespace myelin::runtime
