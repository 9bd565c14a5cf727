// The load generator's event loop. One io_context on one thread: every virtual user is a few
// coroutines (a /sync long-poll loop for syncing users, a worker draining its action queue), and
// one scheduler coroutine per kind of traffic turns the scenario's rates into actions (open loop:
// actions are due at their arrival time whether or not the server kept up; how late they left is
// reported as schedule lag). Everything is single-threaded, so no state needs a lock.
#include "driver.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <optional>
#include <cstdio>
#include <ctime>
#include <deque>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <unordered_map>

#include "http.hpp"
#include "population.hpp"
#include "report.hpp"
#include "stats.hpp"

namespace loadgen {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view v3 = "/_matrix/client/v3";
// The key every generated message carries in its content: {"run": tag, "seq": n, "ts": epoch ms}.
constexpr std::string_view content_key = "org.myelin.loadgen";

struct fatal_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- small text helpers ----

void append_escaped_path(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(char(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
}

void append_number(std::string& out, uint64_t v) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, v).ptr;
  out.append(digits, end);
}

std::string random_tag(std::mt19937_64& rng) {
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string tag;
  for (int i = 0; i < 6; ++i) tag.push_back(alphabet[rng() % 36]);
  return tag;
}

// "http://127.0.0.1:8008[/prefix]" → a resolved target; every address must be loopback.
http_target resolve_target(asio::io_context& io, const std::string& base_url) {
  std::string_view url = base_url;
  if (!url.starts_with("http://"))
    throw fatal_error("base_url " + base_url + ": only http:// URLs (the generator talks to loopback only)");
  url.remove_prefix(7);
  auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  std::string prefix(slash == std::string_view::npos ? "" : url.substr(slash));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  std::string host, port = "80";
  if (authority.starts_with("[")) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) throw fatal_error("base_url " + base_url + ": bad IPv6 address");
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') port = authority.substr(close + 2);
  } else {
    auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (host.empty()) throw fatal_error("base_url " + base_url + ": no host");
  tcp::resolver resolver(io);
  beast::error_code ec;
  auto results = resolver.resolve(host, port, ec);
  if (ec || results.empty()) throw fatal_error("base_url " + base_url + ": cannot resolve (" + ec.message() + ")");
  for (const auto& r : results)
    if (!r.endpoint().address().is_loopback())
      throw fatal_error("base_url " + base_url + " resolves to " + r.endpoint().address().to_string() +
                        ": the load generator only sends traffic to loopback addresses");
  return {results, std::string(authority), prefix};
}

// ---- the run's state ----

enum class action_kind : uint8_t { send, typing, receipt, presence, to_device, upload, join, count_ };
constexpr std::string_view action_names[] = {"send", "typing", "receipt", "presence", "to_device", "upload", "join"};
constexpr req_class action_class[] = {req_class::send,     req_class::typing,    req_class::receipt, req_class::presence,
                                      req_class::to_device, req_class::upload, req_class::join};

struct action {
  action_kind kind;
  uint32_t membership;  // index into the user's rooms (send, typing, receipt, join)
  clock::time_point due;
};

struct membership {
  uint32_t room = 0;
  uint32_t slot = 0;        // the user's position in the room's member slots
  bool joined = false;
  std::string last_event;   // newest event id seen or sent there, for receipts
};

struct vuser {
  pop_user* info = nullptr;
  std::vector<membership> rooms;  // sorted by room
  bool live = false;              // its initial sync is done: it must see every message from now on
  std::unique_ptr<http_connection> conn, poll;  // actions; the /sync long-poll
  std::deque<action> queue;
  bool worker_running = false;
  std::string since;
  uint64_t txn = 0;
  bool away = false;

  membership* find_room(uint32_t room) {
    auto it = std::lower_bound(rooms.begin(), rooms.end(), room,
                               [](const membership& m, uint32_t r) { return m.room < r; });
    return it != rooms.end() && it->room == room ? &*it : nullptr;
  }
};

struct vroom {
  pop_room* info = nullptr;
  std::vector<uint32_t> slots;   // slot → user: setup members, then run joiners
  std::vector<uint64_t> live;    // one bit per slot: joined and syncing, so must see each message
};

// Heterogeneous lookup, so a room id from a parsed response needs no std::string.
struct string_hash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

std::string iso_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

class driver {
 public:
  driver(asio::io_context& io, const run_options& opt)
      : io_(io), opt_(opt), sc_(opt.sc), rng_(sc_.seed), parse_buf_(new unsigned char[parse_buf_size]),
        parse_mr_(parse_buf_.get(), parse_buf_size), tick_timer_(io), signals_(io, SIGINT, SIGTERM) {}

  asio::awaitable<void> main();
  // After io.run(): the database size, the report. Returns the exit code.
  int finish();
  // Stopping closed every connection, so all coroutines return at once; a run still going 10 s
  // later is stuck and its loop is stopped rather than hang the caller.
  bool overdue() const { return stopping_ && clock::now() > stopped_at_ + 10s; }

 private:
  // setup
  asio::awaitable<void> setup();
  asio::awaitable<http_result> setup_request(http_connection& c, req_class cls, std::string_view method,
                                             std::string_view token, std::string_view body);
  using setup_step = std::function<asio::awaitable<void>(size_t, http_connection&)>;
  struct bounded_state;
  asio::awaitable<void> bounded(size_t n, setup_step step);
  asio::awaitable<void> bounded_worker(std::shared_ptr<bounded_state> st, size_t worker);
  void setup_failed(const std::string& what, const http_result& r);
  void measure_database(bool after);
  void build_users();

  // run
  asio::awaitable<void> run_phase();
  asio::awaitable<void> activate_syncs();
  asio::awaitable<void> sync_loop(uint32_t u);
  asio::awaitable<void> schedule(action_kind kind, double rate);
  asio::awaitable<void> schedule_joins();
  asio::awaitable<void> ticker();
  asio::awaitable<void> user_worker(uint32_t u);
  asio::awaitable<void> perform(uint32_t u, const action& a);
  // Sleeps until `t` in slices of at most 100 ms; false if the run began to end meanwhile.
  asio::awaitable<bool> wait_until(clock::time_point t);
  asio::awaitable<void> sleep_for(clock::duration d);
  void dispatch(action_kind kind, clock::time_point due);
  void enqueue(uint32_t u, const action& a, bool bounded_queue = true);
  bool pick_membership(uint32_t& user, uint32_t& membership, bool needs_event);
  bool take_request();
  void end_run(std::string reason);
  void mark_live(const membership& m);
  void append_txn_id(std::string& out, vuser& u);
  void stop_everything();
  void tick(double now_s, bool final);

  // responses
  json::value* parse(std::string_view body);
  bool handle_sync(vuser& u, std::string_view body, bool initial, clock::time_point now);
  std::string_view errcode_of(int status, const http_result& r);
  void record(req_class c, clock::time_point issued, clock::time_point done, const http_result& r);

  // report
  json::object summary();
  double seconds_since_start(clock::time_point t) const { return std::chrono::duration<double>(t - run_start_).count(); }
  const char* phase_at(double t) const;

  asio::io_context& io_;
  const run_options& opt_;
  scenario sc_;
  std::mt19937_64 rng_;
  std::vector<http_target> targets_;  // one per base URL; filled once, before any connection
  const http_target& target_of(size_t i) const { return targets_[i % targets_.size()]; }
  std::string run_tag_;
  population pop_;
  bool reused_population_ = false;
  std::vector<vuser> users_;
  std::vector<vroom> rooms_;
  std::unordered_map<std::string, uint32_t, string_hash, std::equal_to<>> room_index_;
  std::vector<std::pair<uint32_t, uint32_t>> joined_;  // (user, membership) of every joined membership
  std::vector<uint32_t> syncing_;
  std::vector<std::pair<uint32_t, uint32_t>> run_joins_;
  std::string filter_param_;
  std::string message_pad_, media_payload_;

  // JSON parsing reuses one parser and one memory block: single-threaded, parse → use → release.
  static constexpr size_t parse_buf_size = 1 << 20;
  std::unique_ptr<unsigned char[]> parse_buf_;
  json::monotonic_resource parse_mr_;
  json::parser parser_;
  std::optional<json::value> parsed_;  // keeps the storage of parse_mr_ (assignment would copy)
  std::string errcode_buf_;

  // clocks and phases
  clock::time_point setup_start_, run_start_, measure_start_, measure_end_, stopped_at_;
  bool ending_ = false;    // no new actions (measured window over, or a cap reached)
  bool stopping_ = false;  // connections closed; in-flight failures are not counted
  std::string stop_reason_ = "duration";
  asio::steady_timer tick_timer_;
  asio::signal_set signals_;
  double last_tick_s_ = 0;
  std::vector<std::unique_ptr<http_connection>> setup_conns_;
  std::string setup_error_;
  uint64_t setup_failures_ = 0;
  int exit_code_ = 0;
  std::string started_at_ = iso_now();

  // measurements
  stats_set setup_stats_, measured_, second_;
  histogram delivery_second_, schedule_lag_;
  delivery_tracker tracker_;
  std::unique_ptr<process_sampler> sampler_;
  json::array timeseries_;
  uint64_t run_requests_ = 0, msg_seq_ = 0, sync_gaps_ = 0, to_device_received_ = 0, in_flight_ = 0;
  uint32_t initial_in_flight_ = 0, live_users_ = 0;
  std::array<uint64_t, size_t(action_kind::count_)> dropped_{}, skipped_{};
  std::array<uint64_t, class_count> unfinished_{};
  double setup_seconds_ = 0;
  std::optional<uint64_t> db_before_, db_after_;
  std::string db_error_;
};

// A detached coroutine's exception must not vanish: it leaves io.run() and fails the run loudly.
void rethrow(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}

template <class Rep, class Period>
uint64_t micros(std::chrono::duration<Rep, Period> d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return us > 0 ? uint64_t(us) : 0;
}

clock::duration seconds_d(double s) {
  return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(s));
}

// ---- setup ----

struct driver::bounded_state {
  explicit bounded_state(asio::io_context& io) : done(io, clock::time_point::max()) {}
  size_t next = 0, n = 0, running = 0;
  setup_step step;
  asio::steady_timer done;
};

asio::awaitable<void> driver::bounded_worker(std::shared_ptr<bounded_state> st, size_t worker) {
  while (st->next < st->n && !stopping_) co_await st->step(st->next++, *setup_conns_[worker]);
  if (--st->running == 0) st->done.cancel();
}

// Runs step(0..n-1) with at most setup_concurrency in flight, each worker on its own connection.
asio::awaitable<void> driver::bounded(size_t n, setup_step step) {
  if (n == 0) co_return;
  auto st = std::make_shared<bounded_state>(io_);
  st->n = n;
  st->step = std::move(step);
  size_t workers = std::min<size_t>(n, sc_.setup_concurrency);
  while (setup_conns_.size() < workers)
    setup_conns_.push_back(std::make_unique<http_connection>(io_.get_executor(), target_of(setup_conns_.size())));
  st->running = workers;
  for (size_t w = 0; w < workers; ++w) asio::co_spawn(io_, bounded_worker(st, w), rethrow);
  co_await st->done.async_wait(use_tuple);
}

// A setup request, retried while the server says 429 (its rate limits may be only partly lifted).
asio::awaitable<http_result> driver::setup_request(http_connection& c, req_class cls, std::string_view method,
                                                   std::string_view token, std::string_view body) {
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(seconds_d(sc_.request_timeout));
  http_result r;
  for (int attempt = 0; attempt < 8 && !stopping_; ++attempt) {
    auto issued = clock::now();
    r = co_await c.request(method, c.path, token, body.empty() ? "" : "application/json", body, timeout);
    auto errcode = errcode_of(r.status, r);
    setup_stats_.record(cls, r.status, errcode, micros(clock::now() - issued), r.body.size());
    if (r.status != 429) break;
    uint64_t wait_ms = 1000;
    if (auto* v = parse(r.body); v && v->is_object())
      if (auto* ra = v->get_object().if_contains("retry_after_ms"); ra && ra->is_int64())
        wait_ms = uint64_t(std::clamp<int64_t>(ra->get_int64(), 10, 10000));
    co_await sleep_for(std::chrono::milliseconds(wait_ms));
  }
  co_return r;
}

void driver::setup_failed(const std::string& what, const http_result& r) {
  if (setup_failures_++ > 0) return;
  std::string detail = r.status == 0 ? std::string(r.transport_error)
                                     : std::to_string(r.status) + " " + std::string(r.body.substr(0, 300));
  setup_error_ = what + ": " + detail;
}

void driver::build_users() {
  users_.resize(pop_.users.size());
  for (size_t i = 0; i < users_.size(); ++i) users_[i].info = &pop_.users[i];
  rooms_.resize(pop_.rooms.size());
  for (uint32_t r = 0; r < rooms_.size(); ++r) {
    auto& room = rooms_[r];
    room.info = &pop_.rooms[r];
    room.slots = room.info->members;
    room.slots.insert(room.slots.end(), room.info->run_joins.begin(), room.info->run_joins.end());
    room.live.assign((room.slots.size() + 63) / 64, 0);
    for (uint32_t slot = 0; slot < room.slots.size(); ++slot) {
      auto& u = users_[room.slots[slot]];
      if (!u.rooms.empty() && u.rooms.back().room == r) continue;  // named twice in a population file
      u.rooms.push_back({r, slot, slot < room.info->members.size(), {}});
      if (slot >= room.info->members.size())
        run_joins_.emplace_back(room.slots[slot], uint32_t(u.rooms.size() - 1));
    }
  }
  for (uint32_t u = 0; u < users_.size(); ++u)
    for (uint32_t m = 0; m < users_[u].rooms.size(); ++m)
      if (users_[u].rooms[m].joined) joined_.emplace_back(u, m);
  std::vector<uint32_t> order(users_.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng_);
  order.resize(size_t(std::lround(sc_.sync.fraction * double(users_.size()))));
  syncing_ = std::move(order);
}

asio::awaitable<void> driver::setup() {
  setup_start_ = clock::now();
  for (const auto& url : sc_.base_urls) targets_.push_back(resolve_target(io_, url));
  std::random_device rd;
  std::mt19937_64 tag_rng((uint64_t(rd()) << 32) ^ rd());
  run_tag_ = random_tag(tag_rng);

  if (!sc_.population.empty()) {
    pop_ = load_population(sc_.population);
    reused_population_ = true;
    if (pop_.base_url != sc_.base_url())
      std::cerr << "loadgen: note: the population was saved against " << pop_.base_url << ", now using "
                << sc_.base_url() << "\n";
  } else {
    pop_ = plan_population(sc_, run_tag_);
  }
  build_users();

  if (reused_population_) {
    // The tokens must still be good on this server, or every request of the run would be a 401.
    co_await bounded(1, [this](size_t, http_connection& c) -> asio::awaitable<void> {
      c.path.assign(v3).append("/account/whoami");
      auto r = co_await setup_request(c, req_class::whoami, "GET", pop_.users[0].access_token, "");
      if (r.status != 200) setup_failed("the saved population's tokens do not work on " + sc_.base_url(), r);
    });
  } else {
    co_await bounded(users_.size(), [this](size_t i, http_connection& c) -> asio::awaitable<void> {
      auto& u = pop_.users[i];
      c.path.assign(v3).append("/register");
      c.body = json::serialize(json::object{{"username", u.localpart},
                                            {"password", sc_.password},
                                            {"auth", {{"type", "m.login.dummy"}}},
                                            {"initial_device_display_name", "loadgen"}});
      auto r = co_await setup_request(c, req_class::register_, "POST", "", c.body);
      if (r.status != 200) co_return setup_failed("registering " + u.localpart, r);
      auto* v = parse(r.body);
      const json::object* o = v && v->is_object() ? &v->get_object() : nullptr;
      auto field = [&](const char* key) -> std::string {
        auto* f = o ? o->if_contains(key) : nullptr;
        return f && f->is_string() ? std::string(f->get_string()) : std::string();
      };
      u.user_id = field("user_id");
      u.access_token = field("access_token");
      u.device_id = field("device_id");
      if (u.user_id.empty() || u.access_token.empty()) setup_failed("registering " + u.localpart, r);
    });
    if (!setup_failures_)
      co_await bounded(pop_.rooms.size(), [this](size_t i, http_connection& c) -> asio::awaitable<void> {
        auto& room = pop_.rooms[i];
        c.path.assign(v3).append("/createRoom");
        c.body = json::serialize(json::object{{"preset", "public_chat"}, {"name", "loadgen " + std::to_string(i)}});
        auto r = co_await setup_request(c, req_class::create_room, "POST", pop_.users[room.members[0]].access_token,
                                        c.body);
        auto* v = r.status == 200 ? parse(r.body) : nullptr;
        auto* id = v && v->is_object() ? v->get_object().if_contains("room_id") : nullptr;
        if (!id || !id->is_string()) co_return setup_failed("creating room " + std::to_string(i), r);
        room.room_id = id->get_string();
      });
    std::vector<std::pair<uint32_t, uint32_t>> joins;  // (room, user)
    for (uint32_t r = 0; r < pop_.rooms.size(); ++r)
      for (size_t k = 1; k < pop_.rooms[r].members.size(); ++k) joins.emplace_back(r, pop_.rooms[r].members[k]);
    if (!setup_failures_)
      co_await bounded(joins.size(), [this, &joins](size_t i, http_connection& c) -> asio::awaitable<void> {
        auto [r, u] = joins[i];
        c.path.assign(v3).append("/join/");
        append_escaped_path(c.path, pop_.rooms[r].room_id);
        auto res = co_await setup_request(c, req_class::join, "POST", pop_.users[u].access_token, "{}");
        if (res.status != 200) setup_failed("joining " + pop_.rooms[r].room_id, res);
      });
  }
  for (auto& c : setup_conns_) c->close();
  setup_conns_.clear();
  if (setup_failures_)
    throw fatal_error("setup failed (" + std::to_string(setup_failures_) + " requests): " + setup_error_);
  for (uint32_t r = 0; r < pop_.rooms.size(); ++r) room_index_.emplace(pop_.rooms[r].room_id, r);
  if (!opt_.save_population.empty()) save_population(opt_.save_population, pop_);
  setup_seconds_ = std::chrono::duration<double>(clock::now() - setup_start_).count();
}

void driver::measure_database(bool after) {
  try {
    std::optional<uint64_t> size;
    if (!opt_.db_file.empty()) size = sqlite_size(opt_.db_file);
    if (!opt_.pg_db.empty()) size = postgres_size(opt_.pg_db);
    (after ? db_after_ : db_before_) = size;
  } catch (const std::exception& e) {
    db_error_ = e.what();
  }
}

// ---- the run ----

asio::awaitable<bool> driver::wait_until(clock::time_point t) {
  asio::steady_timer timer(io_);
  for (;;) {
    if (ending_) co_return false;
    auto now = clock::now();
    if (now >= t) co_return true;
    timer.expires_at(std::min(t, now + 100ms));
    co_await timer.async_wait(use_tuple);
  }
}

asio::awaitable<void> driver::sleep_for(clock::duration d) {
  asio::steady_timer timer(io_, d);
  co_await timer.async_wait(use_tuple);
}

bool driver::take_request() {
  if (run_requests_ >= sc_.max_requests) {
    end_run("max_requests");
    return false;
  }
  ++run_requests_;
  return true;
}

void driver::end_run(std::string reason) {
  if (ending_) return;
  ending_ = true;
  stop_reason_ = std::move(reason);
  // Cut short: the measured window ends now (empty if it had not begun).
  measure_end_ = std::clamp(clock::now(), measure_start_, measure_end_);
}

void driver::mark_live(const membership& m) {
  rooms_[m.room].live[m.slot / 64] |= uint64_t(1) << (m.slot % 64);
}

void driver::stop_everything() {
  if (stopping_) return;
  stopping_ = true;
  stopped_at_ = clock::now();
  for (auto& u : users_) {
    if (u.conn) u.conn->close();
    if (u.poll) u.poll->close();
  }
  for (auto& c : setup_conns_) c->close();
  tick_timer_.cancel();
  beast::error_code ignored;
  signals_.cancel(ignored);
}

asio::awaitable<void> driver::main() {
  signals_.async_wait([this](beast::error_code ec, int) {
    if (ec) return;
    std::cerr << "\nloadgen: interrupted, ending the run\n";
    if (run_start_ == clock::time_point{}) {
      exit_code_ = 2;
      stop_everything();
    } else {
      end_run("interrupted");
    }
    signals_.async_wait([this](beast::error_code ec2, int) {
      if (!ec2) io_.stop();
    });
  });
  try {
    co_await setup();
  } catch (const scenario_error& e) {
    setup_error_ = e.what();
  } catch (const fatal_error& e) {
    setup_error_ = e.what();
  }
  if (!setup_error_.empty() || stopping_) {
    if (setup_error_.empty()) setup_error_ = "interrupted during setup";
    exit_code_ = 2;
    stop_everything();
    co_return;
  }
  // Nothing is in flight between setup and run, so the blocking size query holds up no request.
  measure_database(false);
  co_await run_phase();
}

asio::awaitable<void> driver::run_phase() {
  std::string filter = json::serialize(json::object{
      {"room", {{"timeline", {{"limit", sc_.sync.timeline_limit}}}, {"state", {{"lazy_load_members", true}}}}}});
  append_escaped_path(filter_param_, filter);
  message_pad_.assign(sc_.messages.size.max, 'x');
  media_payload_.resize(sc_.media.rate > 0 ? sc_.media.size.max : 0);
  for (auto& ch : media_payload_) ch = char(rng_());

  std::vector<watched_process> procs = opt_.processes;
  procs.push_back({"loadgen", int(getpid())});
  sampler_ = std::make_unique<process_sampler>(std::move(procs));

  run_start_ = clock::now();
  measure_start_ = run_start_ + seconds_d(sc_.measure_start());
  measure_end_ = run_start_ + seconds_d(sc_.run_seconds());
  sampler_->sample(0);

  asio::co_spawn(io_, ticker(), rethrow);
  asio::co_spawn(io_, activate_syncs(), rethrow);
  const std::pair<action_kind, const traffic*> kinds[] = {
      {action_kind::send, &sc_.messages},   {action_kind::typing, &sc_.typing},
      {action_kind::receipt, &sc_.receipts}, {action_kind::presence, &sc_.presence},
      {action_kind::to_device, &sc_.to_device}, {action_kind::upload, &sc_.media}};
  for (auto [kind, t] : kinds)
    if (t->rate > 0) asio::co_spawn(io_, schedule(kind, t->rate), rethrow);
  if (sc_.join.type != join_pattern::kind::setup && !run_joins_.empty())
    asio::co_spawn(io_, schedule_joins(), rethrow);

  co_await wait_until(measure_end_);
  end_run("duration");
  // Grace: actions already sent finish and every syncing member gets the time to see each
  // message — unless the run was cut short, which must stop at once.
  if (stop_reason_ == "duration") {
    auto grace_end = clock::now() + seconds_d(sc_.delivery_grace);
    asio::steady_timer timer(io_);
    while (clock::now() < grace_end && (tracker_.pending() > 0 || in_flight_ > 0) && !stopping_) {
      timer.expires_after(20ms);
      co_await timer.async_wait(use_tuple);
    }
  }
  tick(seconds_since_start(clock::now()), true);
  stop_everything();
}

asio::awaitable<void> driver::ticker() {
  for (uint64_t k = 1;; ++k) {
    tick_timer_.expires_at(run_start_ + std::chrono::seconds(k));
    co_await tick_timer_.async_wait(use_tuple);
    if (stopping_) co_return;
    tick(seconds_since_start(clock::now()), false);
  }
}

const char* driver::phase_at(double t) const {
  if (t < sc_.ramp_up) return "ramp_up";
  if (t < sc_.measure_start()) return "warm_up";
  if (t < seconds_since_start(measure_end_)) return "measure";
  return "grace";
}

void driver::tick(double now_s, bool final) {
  // The stop usually comes just after a whole second: an empty sliver is not a data point.
  if (final && now_s - last_tick_s_ < 0.1 && second_.requests() == 0 && delivery_second_.count() == 0) {
    if (!opt_.quiet && isatty(2)) std::cerr << "\n";
    return;
  }
  double dt = std::max(now_s - last_tick_s_, 1e-3);
  json::object classes;
  histogram non_sync;
  for (size_t i = 0; i < class_count; ++i) {
    const auto& s = second_.classes[i];
    if (s.requests == 0) continue;
    classes[class_name(req_class(i))] = json::object{{"requests", s.requests},
                                                     {"errors", s.errors},
                                                     {"p50_ms", s.latency.percentile(0.5) / 1000.0},
                                                     {"p99_ms", s.latency.percentile(0.99) / 1000.0},
                                                     {"max_ms", s.latency.max() / 1000.0}};
    if (req_class(i) != req_class::sync) non_sync.merge(s.latency);
  }
  auto procs = sampler_->sample(now_s);
  auto requests = second_.requests(), errors = second_.error_count();
  json::object entry{{"t", std::round(now_s * 1000) / 1000},
                     {"phase", phase_at((now_s + last_tick_s_) / 2)},
                     {"requests", requests},
                     {"errors", errors},
                     {"per_second", double(requests) / dt},
                     {"classes", std::move(classes)},
                     {"delivery",
                      {{"count", delivery_second_.count()},
                       {"p50_ms", delivery_second_.percentile(0.5) / 1000.0},
                       {"p99_ms", delivery_second_.percentile(0.99) / 1000.0}}},
                     {"live_users", live_users_},
                     {"in_flight", in_flight_},
                     {"processes", procs}};
  timeseries_.push_back(std::move(entry));

  if (!opt_.quiet) {
    double gen_cpu = 0;
    if (auto* p = procs.if_contains("loadgen"); p && p->is_object())
      if (auto* c = p->get_object().if_contains("cpu_percent")) gen_cpu = c->to_number<double>();
    static const bool tty = isatty(2);
    char line[256];
    std::snprintf(line, sizeof line,
                  "%6.1fs %-8s %8.0f req/s  err %-6" PRIu64 " p99 %7.1f ms (non-sync)  delivery p99 %7.1f ms  "
                  "live %u/%zu  loadgen cpu %3.0f%%",
                  now_s, phase_at((now_s + last_tick_s_) / 2), double(requests) / dt, errors,
                  non_sync.percentile(0.99) / 1000.0, delivery_second_.percentile(0.99) / 1000.0, live_users_,
                  syncing_.size(), gen_cpu);
    std::cerr << (tty ? "\r" : "") << line << (tty && !final ? "" : "\n") << std::flush;
  }
  second_.reset();
  delivery_second_.reset();
  last_tick_s_ = now_s;
}

asio::awaitable<void> driver::activate_syncs() {
  size_t n = syncing_.size();
  asio::steady_timer timer(io_);
  for (size_t i = 0; i < n; ++i) {
    if (!co_await wait_until(run_start_ + seconds_d(sc_.ramp_up * double(i) / double(n)))) co_return;
    while (initial_in_flight_ >= sc_.sync.initial_concurrency) {
      if (ending_) co_return;
      timer.expires_after(5ms);
      co_await timer.async_wait(use_tuple);
    }
    ++initial_in_flight_;
    asio::co_spawn(io_, sync_loop(syncing_[i]), rethrow);
  }
}

asio::awaitable<void> driver::sync_loop(uint32_t ui) {
  auto& u = users_[ui];
  u.poll = std::make_unique<http_connection>(io_.get_executor(), target_of(ui));
  auto& c = *u.poll;
  auto request_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(seconds_d(sc_.request_timeout));
  auto poll_timeout = request_timeout + std::chrono::milliseconds(sc_.sync.timeout_ms);
  const http_result bad_body{0, {}, "unparseable response body"};

  // Initial sync: the user comes online and gets its first `since`.
  bool online = false;
  while (!stopping_ && !ending_) {
    if (!take_request()) break;
    c.path.assign(v3).append("/sync?timeout=0&filter=").append(filter_param_);
    auto issued = clock::now();
    auto r = co_await c.request("GET", c.path, u.info->access_token, "", "", request_timeout);
    auto done = clock::now();
    online = r.status == 200 && handle_sync(u, r.body, true, done);
    record(req_class::sync_initial, issued, done, online || r.status != 200 ? r : bad_body);
    if (online) break;
    co_await sleep_for(1s);
  }
  --initial_in_flight_;
  if (!online) co_return;
  u.live = true;
  ++live_users_;
  for (auto& m : u.rooms)
    if (m.joined) mark_live(m);

  // The long-poll, until the run stops (it goes on through the delivery grace period).
  while (!stopping_) {
    if (!take_request()) break;
    c.path.assign(v3).append("/sync?timeout=");
    append_number(c.path, sc_.sync.timeout_ms);
    c.path.append("&filter=").append(filter_param_).append("&since=");
    append_escaped_path(c.path, u.since);
    auto issued = clock::now();
    auto r = co_await c.request("GET", c.path, u.info->access_token, "", "", poll_timeout);
    auto done = clock::now();
    bool ok = r.status == 200 && handle_sync(u, r.body, false, done);
    record(req_class::sync, issued, done, ok || r.status != 200 ? r : bad_body);
    if (!ok && !stopping_) co_await sleep_for(1s);  // a failing server is not hammered in a loop
  }
}

asio::awaitable<void> driver::schedule(action_kind kind, double rate) {
  std::mt19937_64 rng(rng_());
  std::exponential_distribution<double> exponential(1.0);
  // Arrivals follow the cumulative intensity Λ(t) = rate·t²/(2·ramp) during the ramp, then
  // rate·(t − ramp/2): each arrival is where Λ crosses the next unit (uniform) or exponential step
  // (poisson), which stays right however small the rate is at the start of the ramp.
  const double ramp = sc_.ramp_up;
  double lambda = 0;
  for (;;) {
    lambda += sc_.poisson ? exponential(rng) : 1.0;
    double t = ramp > 0 && lambda < rate * ramp / 2 ? std::sqrt(2 * ramp * lambda / rate) : lambda / rate + ramp / 2;
    auto due = run_start_ + seconds_d(t);
    if (due >= measure_end_) co_return;
    if (!co_await wait_until(due)) co_return;
    dispatch(kind, due);
  }
}

asio::awaitable<void> driver::schedule_joins() {
  auto joins = run_joins_;
  std::shuffle(joins.begin(), joins.end(), rng_);
  if (sc_.join.type == join_pattern::kind::storm) {
    auto due = measure_start_ + seconds_d(sc_.join.at);
    if (!co_await wait_until(due)) co_return;
    for (auto [u, m] : joins) enqueue(u, {action_kind::join, m, due}, false);
    co_return;
  }
  for (size_t i = 0; i < joins.size(); ++i) {
    auto due = measure_start_ + seconds_d(sc_.duration * double(i) / double(joins.size()));
    if (!co_await wait_until(due)) co_return;
    enqueue(joins[i].first, {action_kind::join, joins[i].second, due}, false);
  }
}

// Transaction ids are unique per run: a reused population's devices would otherwise have the
// server answer each send with the previous run's event (the spec's idempotent retry).
void driver::append_txn_id(std::string& out, vuser& u) {
  out.append(run_tag_).push_back('-');
  append_number(out, ++u.txn);
}

bool driver::pick_membership(uint32_t& user, uint32_t& m, bool needs_event) {
  if (joined_.empty()) return false;
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto [u, mi] = joined_[rng_() % joined_.size()];
    if (needs_event && users_[u].rooms[mi].last_event.empty()) continue;
    user = u;
    m = mi;
    return true;
  }
  return false;
}

void driver::dispatch(action_kind kind, clock::time_point due) {
  uint32_t u = 0, m = 0;
  switch (kind) {
    case action_kind::send:
    case action_kind::typing:
    case action_kind::receipt:
      if (!pick_membership(u, m, kind == action_kind::receipt)) {
        ++skipped_[size_t(kind)];  // nobody in a room yet (or no event to acknowledge)
        return;
      }
      break;
    default: u = uint32_t(rng_() % users_.size()); break;
  }
  schedule_lag_.record(micros(clock::now() - due));
  enqueue(u, {kind, m, due});
}

void driver::enqueue(uint32_t ui, const action& a, bool bounded_queue) {
  auto& u = users_[ui];
  if (bounded_queue && u.queue.size() >= sc_.max_queue_per_user) {
    ++dropped_[size_t(a.kind)];  // this user's earlier actions are still waiting for the server
    return;
  }
  u.queue.push_back(a);
  if (!u.worker_running) {
    u.worker_running = true;
    asio::co_spawn(io_, user_worker(ui), rethrow);
  }
}

asio::awaitable<void> driver::user_worker(uint32_t ui) {
  auto& u = users_[ui];
  if (!u.conn) u.conn = std::make_unique<http_connection>(io_.get_executor(), target_of(ui));
  while (!u.queue.empty() && !ending_) {
    auto a = u.queue.front();
    u.queue.pop_front();
    co_await perform(ui, a);
  }
  u.queue.clear();
  u.worker_running = false;
}

asio::awaitable<void> driver::perform(uint32_t ui, const action& a) {
  if (!take_request()) co_return;
  auto& u = users_[ui];
  auto& c = *u.conn;
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(seconds_d(sc_.request_timeout));
  membership* m = nullptr;
  if (a.kind == action_kind::send || a.kind == action_kind::typing || a.kind == action_kind::receipt ||
      a.kind == action_kind::join)
    m = &u.rooms[a.membership];
  const std::string& room_id = m ? rooms_[m->room].info->room_id : u.info->user_id;
  auto pick_size = [this](const size_range& r) {
    return r.min == r.max ? r.max : r.min + rng_() % (r.max - r.min + 1);
  };

  std::string_view method = "PUT", content_type = "application/json", body;
  uint64_t seq = 0;
  c.path.assign(v3);
  c.body.clear();
  switch (a.kind) {
    case action_kind::send: {
      seq = ++msg_seq_;
      c.path.append("/rooms/");
      append_escaped_path(c.path, room_id);
      c.path.append("/send/m.room.message/");
      append_txn_id(c.path, u);
      c.body.append(R"({"msgtype":"m.text","body":")")
          .append(std::string_view(message_pad_).substr(0, pick_size(sc_.messages.size)))
          .append(R"(",")")
          .append(content_key)
          .append(R"(":{"run":")")
          .append(run_tag_)
          .append(R"(","seq":)");
      append_number(c.body, seq);
      c.body.append(R"(,"ts":)");
      append_number(c.body, uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count()));
      c.body.append("}}");
      break;
    }
    case action_kind::typing:
      c.path.append("/rooms/");
      append_escaped_path(c.path, room_id);
      c.path.append("/typing/");
      append_escaped_path(c.path, u.info->user_id);
      c.body.assign(R"({"typing":true,"timeout":10000})");
      break;
    case action_kind::receipt:
      method = "POST";
      c.path.append("/rooms/");
      append_escaped_path(c.path, room_id);
      c.path.append("/receipt/m.read/");
      append_escaped_path(c.path, m->last_event);
      c.body.assign("{}");
      break;
    case action_kind::presence:
      c.path.append("/presence/");
      append_escaped_path(c.path, u.info->user_id);
      c.path.append("/status");
      u.away = !u.away;
      c.body.assign(u.away ? R"({"presence":"unavailable"})" : R"({"presence":"online"})");
      break;
    case action_kind::to_device: {
      // Olm-shaped content to `recipients` other users' devices: what E2EE key sharing sends.
      c.path.append("/sendToDevice/m.room.encrypted/");
      append_txn_id(c.path, u);
      size_t n = std::min<size_t>(sc_.to_device.recipients, users_.size() > 1 ? users_.size() - 1 : 1);
      c.body.assign(R"({"messages":{)");
      uint32_t picked[64];
      size_t count = 0;
      for (size_t k = 0; k < n * 4 && count < std::min<size_t>(n, 64); ++k) {
        auto r = uint32_t(rng_() % users_.size());
        if ((r == ui && users_.size() > 1) || std::find(picked, picked + count, r) != picked + count) continue;
        picked[count++] = r;
      }
      for (size_t k = 0; k < count; ++k) {
        const auto& to = *users_[picked[k]].info;
        if (k) c.body.push_back(',');
        c.body.append("\"").append(to.user_id).append(R"(":{")").append(to.device_id);
        c.body.append(R"(":{"algorithm":"m.olm.v1.curve25519-aes-sha2","sender_key":"loadgen","ciphertext":{"loadgen":{"type":1,"body":")");
        c.body.append(pick_size(sc_.to_device.size), 'A').append("\"}}}}");
      }
      c.body.append("}}");
      break;
    }
    case action_kind::upload:
      method = "POST";
      content_type = "application/octet-stream";
      c.path.assign("/_matrix/media/v3/upload?filename=loadgen.bin");
      body = std::string_view(media_payload_).substr(0, pick_size(sc_.media.size));
      break;
    case action_kind::join:
      method = "POST";
      c.path.append("/join/");
      append_escaped_path(c.path, room_id);
      c.body.assign("{}");
      break;
    case action_kind::count_: break;
  }
  if (a.kind != action_kind::upload) body = c.body;

  auto issued = clock::now();
  // A message is tracked when it leaves inside the measured window: every other member syncing
  // at this moment must see it.
  bool tracked = a.kind == action_kind::send && !ending_ && issued >= measure_start_ && issued < measure_end_;
  if (tracked) {
    auto expected = rooms_[m->room].live;
    expected[m->slot / 64] &= ~(uint64_t(1) << (m->slot % 64));
    tracker_.begin(seq, m->room, issued, std::move(expected));
  }
  ++in_flight_;
  auto r = co_await c.request(method, c.path, u.info->access_token, content_type, body, timeout);
  --in_flight_;
  auto done = clock::now();
  if (tracked) {
    if (r.status == 200)
      tracker_.send_ok(seq);
    else if (!(r.status == 0 && stopping_))
      tracker_.send_failed(seq);
  }
  if (r.status == 200 && a.kind == action_kind::join && !m->joined) {
    m->joined = true;
    joined_.emplace_back(ui, a.membership);
    if (u.live) mark_live(*m);
  }
  if (r.status == 200 && a.kind == action_kind::send && m->last_event.empty()) {
    // Non-syncing senders learn an event id to acknowledge from their own send.
    if (auto* v = parse(r.body); v && v->is_object())
      if (auto* id = v->get_object().if_contains("event_id"); id && id->is_string())
        m->last_event.assign(id->get_string());
  }
  record(action_class[size_t(a.kind)], issued, done, r);
}

// ---- responses ----

json::value* driver::parse(std::string_view body) {
  parsed_.reset();  // the previous DOM lives in parse_mr_: drop it before its memory goes
  parse_mr_.release();
  parser_.reset(json::storage_ptr(&parse_mr_));
  json::error_code ec;
  parser_.write(body.data(), body.size(), ec);
  if (ec) return nullptr;
  parsed_.emplace(parser_.release());
  return &*parsed_;
}

std::string_view driver::errcode_of(int status, const http_result& r) {
  if (status == 0) return r.transport_error;
  if (status == 200) return {};
  if (auto* v = parse(r.body); v && v->is_object())
    if (auto* e = v->get_object().if_contains("errcode"); e && e->is_string()) {
      errcode_buf_.assign(e->get_string());
      return errcode_buf_;
    }
  return {};
}

bool driver::handle_sync(vuser& u, std::string_view body, bool initial, clock::time_point now) {
  auto* v = parse(body);
  if (!v || !v->is_object()) return false;
  const auto& o = v->get_object();
  auto* next = o.if_contains("next_batch");
  if (!next || !next->is_string()) return false;
  u.since.assign(next->get_string());
  auto member_of = [](const json::value* parent, std::string_view key) -> const json::object* {
    if (!parent || !parent->is_object()) return nullptr;
    auto* v = parent->get_object().if_contains(key);
    return v && v->is_object() ? &v->get_object() : nullptr;
  };
  if (auto* join = member_of(o.if_contains("rooms"), "join")) {
    for (const auto& [room_id, room] : *join) {
      auto it = room_index_.find(std::string_view(room_id));
      if (it == room_index_.end()) continue;
      auto* m = u.find_room(it->second);
      auto* timeline = member_of(&room, "timeline");
      if (!m || !timeline) continue;
      if (auto* limited = timeline->if_contains("limited"); !initial && limited && limited->is_bool() && limited->get_bool())
        ++sync_gaps_;  // events were left out: any of ours among them count as missed
      auto* events = timeline->if_contains("events");
      if (!events || !events->is_array()) continue;
      for (const auto& ev : events->get_array()) {
        if (!ev.is_object()) continue;
        const auto& e = ev.get_object();
        if (auto* id = e.if_contains("event_id"); id && id->is_string()) m->last_event.assign(id->get_string());
        if (initial) continue;
        auto* lg = member_of(e.if_contains("content"), content_key);
        if (!lg) continue;
        auto* run = lg->if_contains("run");
        auto* seq = lg->if_contains("seq");
        auto* sender = e.if_contains("sender");
        if (!run || !run->is_string() || run->get_string() != run_tag_ || !seq || !seq->is_number()) continue;
        if (sender && sender->is_string() && sender->get_string() == u.info->user_id) continue;  // own echo
        tracker_.seen(seq->to_number<uint64_t>(), m->slot, now, delivery_second_);
      }
    }
  }
  if (auto* to_device = member_of(&*v, "to_device"))
    if (auto* events = to_device->if_contains("events"); events && events->is_array())
      to_device_received_ += events->get_array().size();
  return true;
}

void driver::record(req_class c, clock::time_point issued, clock::time_point done, const http_result& r) {
  if (r.status == 0 && stopping_) {
    ++unfinished_[size_t(c)];  // cut off by the end of the run, not a server failure
    return;
  }
  auto errcode = errcode_of(r.status, r);
  auto us = micros(done - issued);
  second_.record(c, r.status, errcode, us, r.body.size());
  if (issued >= measure_start_ && issued < measure_end_) measured_.record(c, r.status, errcode, us, r.body.size());
}

// ---- report ----

json::object driver::summary() {
  double window = std::chrono::duration<double>(measure_end_ - measure_start_).count();
  if (run_start_ == clock::time_point{}) window = 0;
  auto measured = measured_.to_json(window);
  json::object dropped, skipped, unfinished;
  for (size_t k = 0; k < size_t(action_kind::count_); ++k) {
    if (dropped_[k]) dropped[action_names[k]] = dropped_[k];
    if (skipped_[k]) skipped[action_names[k]] = skipped_[k];
  }
  for (size_t c = 0; c < class_count; ++c)
    if (unfinished_[c]) unfinished[class_name(req_class(c))] = unfinished_[c];
  uint64_t reconnects = 0, memberships = 0;
  for (const auto& u : users_) {
    if (u.conn) reconnects += u.conn->reconnects();
    if (u.poll) reconnects += u.poll->reconnects();
    memberships += u.rooms.size();
  }
  json::object database;
  if (!opt_.db_file.empty() || !opt_.pg_db.empty()) {
    database["kind"] = opt_.pg_db.empty() ? "sqlite" : "postgres";
    if (db_before_) database["bytes_before_run"] = *db_before_;
    if (db_after_) database["bytes_after_run"] = *db_after_;
    if (db_before_ && db_after_) database["growth_bytes"] = int64_t(*db_after_) - int64_t(*db_before_);
    if (!db_error_.empty()) database["error"] = db_error_;
  }
  double run_s = run_start_ == clock::time_point{} ? 0 : seconds_since_start(stopped_at_);
  double from = std::chrono::duration<double>(measure_start_ - run_start_).count();
  return {{"generator",
           {{"name", "myelin-loadgen"},
            {"started_at", started_at_},
            {"run_tag", run_tag_},
            {"stop_reason", setup_error_.empty() ? stop_reason_ : "setup_failed"},
            {"setup_error", setup_error_},
            {"run_seconds", run_s}}},
          {"scenario", to_json(sc_)},
          {"population",
           {{"users", users_.size()},
            {"rooms", rooms_.size()},
            {"memberships", memberships},
            {"run_joins", run_joins_.size()},
            {"syncing_users", syncing_.size()},
            {"reused", reused_population_}}},
          {"setup", [&] {
             auto s = setup_stats_.to_json(setup_seconds_);
             s["seconds"] = setup_seconds_;
             return s;
           }()},
          {"window", {{"start_s", from}, {"end_s", from + window}, {"seconds", window}}},
          {"measured", std::move(measured)},
          {"delivery", [&] {
             auto d = tracker_.to_json();
             json::array sample;
             for (auto [seq, room, slot] : tracker_.missed_sample(10))
               sample.push_back(json::object{{"seq", seq},
                                             {"room_id", rooms_[room].info->room_id},
                                             {"user_id", users_[rooms_[room].slots[slot]].info->user_id}});
             d["missed_sample"] = std::move(sample);
             return d;
           }()},
          {"client",
           {{"run_requests", run_requests_},
            {"unfinished_at_stop", std::move(unfinished)},
            {"dropped_backlog", std::move(dropped)},
            {"skipped_no_target", std::move(skipped)},
            {"schedule_lag", schedule_lag_.summary()},
            {"reconnects", reconnects},
            {"sync_gaps", sync_gaps_},
            {"to_device_received", to_device_received_},
            {"live_users", live_users_}}},
          {"latency_cdf", [&] {
             json::object cdfs;
             for (size_t c = 0; c < class_count; ++c)
               if (measured_.classes[c].latency.count())
                 cdfs[class_name(req_class(c))] = measured_.classes[c].latency.cdf();
             if (tracker_.latency().count()) cdfs["delivery"] = tracker_.latency().cdf();
             return cdfs;
           }()},
          {"processes", sampler_ ? sampler_->summary(from, from + window) : json::array{}},
          {"database", std::move(database)}};
}

int driver::finish() {
  if (run_start_ != clock::time_point{}) measure_database(true);
  auto s = summary();
  if (!setup_error_.empty()) std::cerr << "loadgen: " << setup_error_ << "\n";
  try {
    if (opt_.out_dir.empty())
      std::cout << json::serialize(s) << "\n";
    else
      write_report(opt_.out_dir, s, timeseries_);
  } catch (const std::exception& e) {
    std::cerr << "loadgen: writing the report: " << e.what() << "\n";
    return 1;
  }
  return exit_code_;
}

}  // namespace

int run(const run_options& options) {
  // Thousands of users hold two connections each.
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  asio::io_context io(1);
  driver d(io, options);
  asio::co_spawn(io, d.main(), rethrow);
  try {
    while (!io.stopped()) {
      io.run_for(250ms);
      if (d.overdue()) io.stop();
    }
  } catch (const std::exception& e) {
    std::cerr << "loadgen: internal error: " << e.what() << "\n";
    return 1;
  }
  return d.finish();
}

}  // namespace loadgen
