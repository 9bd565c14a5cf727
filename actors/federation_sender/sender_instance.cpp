#include "actors/federation_sender/sender_instance.hpp"

#include <atomic>

#include <caf/all.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "actors/federation/federation.hpp"
#include "actors/federation_sender/queue.hpp"
#include "actors/runtime/groups.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "storage/database.hpp"
#include "storage/tables/events_follow.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/e2e_keys.hpp"
#include "storage/tables/events.hpp"
#include "storage/tables/federation_sender.hpp"
#include "storage/tables/presence.hpp"

namespace myelin::federation_sender {

namespace json = boost::json;
namespace tables = storage::federation_sender;
using std::chrono::milliseconds;

namespace {

constexpr size_t batch_size = 100;  // events read (and progress saved) at a time
constexpr size_t max_pending_rows = 10000;  // ephemeral rows waiting for the worker thread
constexpr int64_t heard_check_interval_ms = 5000;  // how often backed-off destinations are checked for signs of life

struct sender_metrics {
  metrics::family<metrics::gauge>& queue_depth = metrics::registry::global().gauges(
      "myelin_federation_queue_depth",
      "PDUs and EDUs held in memory for other servers (backed-off servers hold none).", {"instance"});
  metrics::family<metrics::gauge>& backed_off = metrics::registry::global().gauges(
      "myelin_federation_destinations_backed_off", "Destinations whose last transaction failed.", {"instance"});
  metrics::family<metrics::counter>& transactions = metrics::registry::global().counters(
      "myelin_federation_transactions_total",
      "Transactions sent to other servers, by outcome (sent, refused: 4xx and dropped, failed: retried).",
      {"outcome"});
};

sender_metrics& series() {
  static sender_metrics m;
  return m;
}

// One destination of this shard, on the worker thread.
struct destination {
  destination_queue queue;
  tables::destination_state state;
  bool outbox = false;  // to-device EDUs may wait in federation_outbox

  int64_t retry_due_ms() const { return state.retry_interval_ms ? state.retry_last_ts + state.retry_interval_ms : 0; }
  bool backed_off(int64_t now) const { return state.retry_interval_ms > 0 && now < retry_due_ms(); }
};

std::string json_text(const json::value& v) { return json::serialize(v); }

class sender_worker {
public:
  sender_worker(sender_deps deps, std::string label)
      : deps_(std::move(deps)), log_("federation_sender", label),
        instance_("federation_sender/" + std::to_string(deps_.index)), thread_([this] { run(); }) {}
  ~sender_worker() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();  // at most one request's timeout
  }

  // From the actor thread: a stream published something.
  void published(const stream_update& u) {
    {
      std::lock_guard lock(mu_);
      if (u.stream == "events") {
        std::optional<int64_t> first;
        for (const auto& text : u.rows) {
          auto row = parse_row(text);
          if (!row || type_of(*row) != "event") continue;
          auto p = row->if_contains("position");
          if (p && p->is_int64()) first = std::min(first.value_or(p->as_int64()), p->as_int64());
        }
        if (first) {
          auto [it, fresh] = announced_.emplace(u.writer, *first);
          if (!fresh) it->second = std::min(it->second, *first);
        }
        events_more_ = true;
      } else if (u.stream == "to_device") {
        // Only a wake-up (the EDUs are in federation_outbox): one entry per destination.
        for (const auto& text : u.rows)
          if (auto row = parse_row(text); row && type_of(*row) == "to_device_remote")
            outbox_woken_.insert(string_of(*row, "destination"));
      } else if (ephemeral_.size() < max_pending_rows) {
        for (const auto& text : u.rows) ephemeral_.emplace_back(u.stream, text);
      } else {
        dropped_rows_ += u.rows.size();  // a worker stuck on a slow server: typing and the like go stale anyway
      }
      more_ = true;
    }
    cv_.notify_all();
  }

private:
  static std::optional<json::object> parse_row(const std::string& text) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object()) return std::nullopt;
    return std::move(v.as_object());
  }
  static std::string type_of(const json::object& o) {
    auto* t = o.if_contains("type");
    return t && t->is_string() ? std::string(t->as_string()) : std::string();
  }
  static std::string string_of(const json::object& o, const char* key) {
    auto* t = o.if_contains(key);
    return t && t->is_string() ? std::string(t->as_string()) : std::string();
  }

  const homeserver_config& cfg() const { return *deps_.config; }
  const federation_sender_config& scfg() const { return deps_.config->federation_sender; }
  bool ours(const std::string& dest) const {
    size_t n = deps_.instances ? deps_.instances() : 1;
    return runtime::shard_for(dest, n) == deps_.index;
  }
  bool is_local_user(const std::string& user_id) const {
    auto parts = protocol::split_user_id(user_id);
    return parts && parts->server_name == cfg().server_name;
  }

  void run() {
    while (!start())
      if (!pause(milliseconds(1000))) return;
    while (true) {
      std::map<std::string, int64_t> announced;
      std::vector<std::pair<std::string, std::string>> ephemeral;
      std::set<std::string> outbox_woken;
      size_t dropped = 0;
      bool events_more = false;
      {
        std::unique_lock lock(mu_);
        auto wake = next_retry();
        cv_.wait_until(lock, wake, [&] { return stopping_ || more_ || std::chrono::system_clock::now() >= wake; });
        if (stopping_) return;
        more_ = false;
        announced.swap(announced_);
        ephemeral.swap(ephemeral_);
        outbox_woken.swap(outbox_woken_);
        std::swap(dropped, dropped_rows_);
        std::swap(events_more, events_more_);
      }
      try {
        for (const auto& [persister, first] : announced) progress_.emplace(persister, first - 1);
        if (events_more) follow_events();
        if (dropped) log_.warn("federation sender behind: ephemeral updates dropped", {{"rows", std::to_string(dropped)}});
        for (const auto& name : outbox_woken)
          if (!name.empty() && ours(name)) get(name).outbox = true;
        for (const auto& [stream, text] : ephemeral) on_ephemeral(stream, text);
        revive_heard_from();
        send_due();
      } catch (const std::exception& e) {
        log_.warn("federation send round failed", {{"error", e.what()}});
        {
          std::lock_guard lock(mu_);
          more_ = events_more_ = true;  // look again after the pause
          outbox_woken_.insert(outbox_woken.begin(), outbox_woken.end());
        }
        if (!pause(milliseconds(1000))) return;
      }
      report();
    }
  }

  // Progress and the destinations a previous run left with work: backed off, catching up, or
  // with to-device EDUs waiting. Whatever was only in memory then is sent as catch-up.
  bool start() {
    try {
      std::vector<tables::destination_state> pending;
      {
        auto c = deps_.db->acquire();
        progress_ = tables::load_progress(*c, instance_);
        pending = tables::pending_destinations(*c);
      }
      for (auto& d : pending) {
        if (!ours(d.destination)) continue;
        auto& dest = get(d.destination);
        dest.state = d;
        dest.state.catching_up = true;
        dest.outbox = true;
      }
      std::lock_guard lock(mu_);
      more_ = events_more_ = true;  // what was persisted while the instance was down
      return true;
    } catch (const std::exception& e) {
      log_.warn("cannot read federation sender state", {{"error", e.what()}});
      return false;
    }
  }

  bool pause(milliseconds d) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [&] { return stopping_; });
  }
  bool stopping() {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  // A backed-off destination that sent us a transaction since it failed is up again: its backoff
  // ends now instead of at the next retry (Synapse does the same), so an outage ends for both
  // directions as soon as the remote talks. Checked at most every few seconds, in one query.
  void revive_heard_from() {
    int64_t now = now_ms();
    if (now - last_heard_check_ms_ < heard_check_interval_ms) return;
    int64_t since = 0;
    for (const auto& [_, d] : dests_)
      if (d.state.retry_interval_ms && has_work(d) && (!since || d.state.retry_last_ts < since))
        since = d.state.retry_last_ts;
    if (!since) return;
    last_heard_check_ms_ = now;
    std::map<std::string, int64_t> heard;
    {
      auto c = deps_.db->acquire();
      heard = tables::heard_from_since(*c, since);
    }
    for (const auto& [origin, ts] : heard) {
      auto it = dests_.find(origin);
      if (it == dests_.end() || !it->second.state.retry_interval_ms || ts <= it->second.state.retry_last_ts) continue;
      it->second.state.retry_interval_ms = 0;
      it->second.state.retry_last_ts = 0;
      save(it->second);
      log_.info("destination sent us a transaction: retrying it now", {{"destination", origin}});
    }
  }

  // The earliest retry of a destination with something to send; while one waits, at least every
  // heard_check_interval_ms (revive_heard_from).
  std::chrono::system_clock::time_point next_retry() const {
    int64_t due = 0;
    for (const auto& [_, d] : dests_)
      if (d.state.retry_interval_ms && has_work(d) && (!due || d.retry_due_ms() < due)) due = d.retry_due_ms();
    if (!due) return std::chrono::system_clock::time_point::max();
    due = std::min(due, now_ms() + heard_check_interval_ms);
    return std::chrono::system_clock::time_point(milliseconds(due));
  }

  static bool has_work(const destination& d) { return d.state.catching_up || d.outbox || !d.queue.empty(); }

  destination& get(const std::string& name) {
    auto it = dests_.find(name);
    if (it != dests_.end()) return it->second;
    destination d{destination_queue(scfg().max_queue), {}, false};
    d.state.destination = name;
    // A destination first seen since start: its stored backoff still holds.
    auto c = deps_.db->acquire();
    if (auto stored = tables::get_destination(*c, name)) d.state = *stored;
    return dests_.emplace(name, std::move(d)).first->second;
  }

  void save(const destination& d) {
    auto c = deps_.db->acquire();
    tables::save_destination(*c, d.state);
  }

  // ---- PDUs ----

  void follow_events() {
    for (auto& entry : progress_) {
      const std::string& persister = entry.first;  // lambdas cannot capture structured bindings (clang 15)
      int64_t& position = entry.second;
      storage::events::follow_persister(
          *deps_.db, persister, position, batch_size, [this] { return stopping(); },
          [this](const storage::events::event_row& ev) { fan_out(ev); },
          [&](int64_t upto) {
            // One transaction per batch: what each destination is due, then the progress past it.
            deps_.db->transact([&](storage::connection& c) {
              for (const auto& [key, event_id] : due_rows_) tables::record_pdu_due(c, key.first, key.second, event_id);
              tables::save_progress(c, instance_, {{persister, upto}});
            });
            due_rows_.clear();
          });
    }
  }

  // The servers an event goes to: those with a member joined now, and for a membership event
  // the target's too (a kicked or banned user's server hears it).
  std::vector<std::string> destinations_of(const storage::events::event_row& ev) {
    std::vector<std::string> users;
    {
      auto c = deps_.db->acquire();
      users = tables::joined_users(*c, ev.room_id);
    }
    if (ev.type == "m.room.member" && ev.state_key) users.push_back(*ev.state_key);
    return servers_of(users, cfg().server_name);
  }

  void fan_out(const storage::events::event_row& ev) {
    // Other servers' events are theirs to send, except memberships they made through our
    // send_join/leave/knock, which we pass on to everyone but their origin.
    std::optional<std::string> relay_origin;
    if (!is_local_user(ev.sender)) {
      if (ev.type != "m.room.member") return;
      auto c = deps_.db->acquire();
      relay_origin = tables::relayed_for(*c, ev.event_id);
      if (!relay_origin) return;
    }
    std::optional<queued_pdu> pdu;
    int64_t now = now_ms();
    for (const auto& name : destinations_of(ev)) {
      if (!ours(name) || name == relay_origin) continue;
      auto& d = get(name);
      due_rows_[{name, ev.room_id}] = ev.event_id;  // recorded with the batch's progress
      if (d.state.catching_up) continue;  // catch-up sends the newest unsent event of the room
      if (d.backed_off(now)) {
        d.state.catching_up = true;
        save(d);
        continue;
      }
      if (!pdu) pdu = queued_pdu{ev.event_id, pdu_for_federation(ev.json)};
      if (!d.queue.push_pdu(*pdu)) {
        log_.warn("federation queue full: the destination will catch up",
                  {{"destination", name}, {"limit", std::to_string(scfg().max_queue)}});
        d.state.catching_up = true;
        save(d);
      }
    }
  }

  // ---- EDUs of the ephemeral streams ----

  void queue_edu(const std::vector<std::string>& servers, const json::object& edu) {
    int64_t now = now_ms();
    for (const auto& name : servers) {
      if (!ours(name)) continue;
      auto& d = get(name);
      if (d.backed_off(now)) continue;  // ephemeral: not worth keeping for a server that is down
      d.queue.push_edu(edu);
    }
  }

  std::vector<std::string> servers_in_room(const std::string& room_id) {
    auto c = deps_.db->acquire();
    return servers_of(tables::joined_users(*c, room_id), cfg().server_name);
  }

  void on_ephemeral(const std::string& stream, const std::string& text) {
    auto row = parse_row(text);
    if (!row) return;
    auto type = type_of(*row);
    if (stream == "typing" && type == "typing") {
      on_typing(*row);
    } else if (stream == "receipts" && type == "receipt") {
      on_receipt(*row);
    } else if (stream == "presence" && type == "presence") {
      on_presence(*row);
    } else if (stream == "device_lists" && type == "device_list") {
      on_device_list(*row);
    }
  }

  // The row is the room's whole typing list: each local user who started or stopped is an EDU.
  void on_typing(const json::object& row) {
    auto room_id = string_of(row, "room_id");
    std::set<std::string> now_typing;
    if (auto* ids = row.if_contains("user_ids"); ids && ids->is_array())
      for (const auto& u : ids->as_array())
        if (u.is_string() && is_local_user(std::string(u.as_string()))) now_typing.insert(std::string(u.as_string()));
    auto& before = typing_[room_id];
    std::vector<std::pair<std::string, bool>> changes;
    for (const auto& u : now_typing)
      if (!before.count(u)) changes.emplace_back(u, true);
    for (const auto& u : before)
      if (!now_typing.count(u)) changes.emplace_back(u, false);
    before = std::move(now_typing);
    if (before.empty()) typing_.erase(room_id);
    if (changes.empty()) return;
    auto servers = servers_in_room(room_id);
    for (const auto& [user, typing] : changes)
      queue_edu(servers, {{"edu_type", "m.typing"},
                          {"content", {{"room_id", room_id}, {"user_id", user}, {"typing", typing}}}});
  }

  void on_receipt(const json::object& row) {
    auto user = string_of(row, "user_id");
    if (string_of(row, "receipt_type") != "m.read" || !is_local_user(user)) return;  // private receipts stay here
    auto room_id = string_of(row, "room_id");
    json::object data{{"ts", now_ms()}};
    if (auto thread = string_of(row, "thread_id"); !thread.empty()) data["thread_id"] = thread;
    json::object receipt{{"event_ids", json::array{json::value(string_of(row, "event_id"))}}, {"data", std::move(data)}};
    json::object content{{room_id, json::object{{"m.read", json::object{{user, std::move(receipt)}}}}}};
    queue_edu(servers_in_room(room_id), {{"edu_type", "m.receipt"}, {"content", std::move(content)}});
  }

  // The servers sharing one of the row's "rooms" (the user's joined rooms when it changed).
  std::vector<std::string> servers_in_rooms(const json::object& row) {
    std::set<std::string> servers;
    if (auto* rooms = row.if_contains("rooms"); rooms && rooms->is_array())
      for (const auto& r : rooms->as_array())
        if (r.is_string())
          for (auto& s : servers_in_room(std::string(r.as_string()))) servers.insert(std::move(s));
    return {servers.begin(), servers.end()};
  }

  void on_presence(const json::object& row) {
    auto user = string_of(row, "user_id");
    if (!is_local_user(user)) return;
    auto servers = servers_in_rooms(row);
    if (servers.empty()) return;
    std::optional<storage::presence::presence_state> p;
    {
      auto c = deps_.db->acquire();
      p = storage::presence::get(*c, user);
    }
    if (!p) return;
    auto item = storage::presence::presence_content(*p, now_ms());
    item["user_id"] = user;
    queue_edu(servers, {{"edu_type", "m.presence"}, {"content", {{"push", json::array{std::move(item)}}}}});
  }

  // A local user's devices or cross-signing keys changed (a row with "rooms": everyone sharing
  // one sees it): m.device_list_update per device — stream_id the change's position, prev_id the
  // previous one sent for the user — and m.signing_key_update for cross-signing keys.
  void on_device_list(const json::object& row) {
    auto user = string_of(row, "user_id");
    auto* position = row.if_contains("position");
    if (!is_local_user(user) || !row.contains("rooms") || !position || !position->is_int64()) return;
    auto servers = servers_in_rooms(row);
    if (servers.empty()) return;
    bool deleted = row.contains("deleted");
    json::array prev;
    if (auto it = last_device_change_.find(user); it != last_device_change_.end()) prev.emplace_back(it->second);
    last_device_change_[user] = position->as_int64();
    std::vector<json::object> edus;
    {
      auto c = deps_.db->acquire();
      if (auto* ids = row.if_contains("device_ids"); ids && ids->is_array())
        for (const auto& v : ids->as_array()) {
          if (!v.is_string()) continue;
          std::string device_id(v.as_string());
          json::object content{{"user_id", user},  {"device_id", device_id}, {"stream_id", position->as_int64()},
                               {"prev_id", prev},  {"deleted", deleted}};
          if (!deleted) {
            if (auto keys = storage::e2e_keys::device_keys(*c, user, device_id)) content["keys"] = json::parse(*keys);
            if (auto dev = storage::accounts::get_device(*c, user, device_id); dev && dev->display_name)
              content["device_display_name"] = *dev->display_name;
          }
          edus.push_back({{"edu_type", "m.device_list_update"}, {"content", std::move(content)}});
        }
      if (row.contains("cross_signing")) {
        json::object content{{"user_id", user}};
        for (auto [type, field] : {std::pair{"master", "master_key"}, std::pair{"self_signing", "self_signing_key"}})
          if (auto k = storage::e2e_keys::cross_signing_key(*c, user, type)) content[field] = json::parse(k->key_json);
        edus.push_back({{"edu_type", "m.signing_key_update"}, {"content", std::move(content)}});
      }
    }
    for (const auto& e : edus) queue_edu(servers, e);
  }

  // ---- transactions ----

  // Every destination with work, `parallel_destinations` at a time, each on its own thread until
  // its queue is empty or it fails: a slow or dead server delays only its own slot. The threads
  // touch only their destination (and the thread-safe pool, log and metrics); dests_ itself is
  // not changed meanwhile.
  void send_due() {
    int64_t now = now_ms();
    std::vector<std::pair<const std::string*, destination*>> due;
    for (auto& [name, d] : dests_)
      if (!d.backed_off(now) && has_work(d)) due.emplace_back(&name, &d);
    auto drain = [this](const std::string& name, destination& d) {
      try {
        while (!stopping() && send_one(name, d)) {
        }
      } catch (const std::exception& e) {
        log_.warn("federation send failed", {{"destination", name}, {"error", e.what()}});
      }
    };
    size_t width = std::max<size_t>(1, scfg().parallel_destinations);
    if (width == 1 || due.size() == 1) {
      for (auto [name, d] : due) drain(*name, *d);
      return;
    }
    std::atomic<size_t> next{0};
    std::vector<std::thread> workers;
    for (size_t i = 0; i < std::min(width, due.size()); ++i)
      workers.emplace_back([&] {
        for (size_t k; (k = next.fetch_add(1)) < due.size();) drain(*due[k].first, *due[k].second);
      });
    for (auto& t : workers) t.join();
  }

  // One transaction: catch-up PDUs (or the queue's), to-device EDUs from the outbox, then the
  // queue's EDUs. False when there was nothing to send or it failed.
  bool send_one(const std::string& name, destination& d) {
    std::vector<json::object> pdus, edus;
    std::vector<std::string> pdu_ids;
    size_t queued_pdus = 0, queued_edus = 0;
    int64_t outbox_upto = 0;
    {
      auto c = deps_.db->acquire();
      if (d.state.catching_up) {
        auto ids = tables::unsent_pdus(*c, name, max_pdus_per_transaction);
        for (auto& ev : storage::events::get_events(*c, ids)) {
          pdus.push_back(pdu_for_federation(ev.json));
          pdu_ids.push_back(ev.event_id);
        }
        if (ids.empty()) {  // caught up: back to the in-memory queue
          d.state.catching_up = false;
          tables::save_destination(*c, d.state);
        }
      }
      if (!d.state.catching_up) {
        for (const auto* p : d.queue.peek_pdus()) {
          pdus.push_back(p->pdu);
          pdu_ids.push_back(p->event_id);
        }
        queued_pdus = pdus.size();
      }
      if (d.outbox) {
        auto waiting = tables::outbox_peek(*c, name, max_edus_per_transaction);
        for (const auto& e : waiting) {
          edus.push_back(json::parse(e.edu_json).as_object());
          outbox_upto = e.position;
        }
        if (waiting.empty()) d.outbox = false;
      }
    }
    auto queued = d.queue.peek_edus(max_edus_per_transaction - edus.size());
    for (const auto* e : queued) edus.push_back(*e);
    queued_edus = queued.size();
    if (pdus.empty() && edus.empty()) return false;

    std::string txn_id = std::to_string(now_ms()) + "." + std::to_string(++txn_counter_);
    auto body = json::value(transaction_body(cfg().server_name, now_ms(), pdus, edus));
    runtime::handler_context ctx{cfg(), *deps_.db, *deps_.writers, instance_, log_, nullptr, nullptr, deps_.signing_key};
    bool delivered = true;
    try {
      auto answer = federation::request(ctx, name, "PUT", "/_matrix/federation/v1/send/" + txn_id, &body,
                                        milliseconds(scfg().timeout_ms));
      log_pdu_errors(name, answer);
      series().transactions.with({"sent"}).inc();
    } catch (const protocol::matrix_error& e) {
      if (e.status() == 400 || e.status() == 403 || e.status() == 404) {
        // The remote refuses this transaction itself: sending it again would not help.
        log_.warn("transaction refused: dropped", {{"destination", name}, {"txn_id", txn_id}, {"error", e.what()}});
        series().transactions.with({"refused"}).inc();
      } else {
        delivered = false;
        back_off(name, d, e.what());
      }
    }
    if (!delivered) return false;
    {
      auto c = deps_.db->acquire();
      tables::mark_pdus_sent(*c, name, pdu_ids);
      if (outbox_upto) tables::outbox_remove(*c, name, outbox_upto);
      if (d.state.retry_interval_ms) {
        d.state.retry_interval_ms = 0;
        d.state.retry_last_ts = 0;
        tables::save_destination(*c, d.state);
        log_.info("destination reachable again", {{"destination", name}});
      }
    }
    d.queue.pop(queued_pdus, queued_edus);
    return true;
  }

  void back_off(const std::string& name, destination& d, const std::string& why) {
    auto interval = next_backoff(milliseconds(d.state.retry_interval_ms), milliseconds(scfg().retry_delay_ms),
                                 milliseconds(scfg().max_retry_delay_ms));
    d.state.retry_interval_ms = interval.count();
    d.state.retry_last_ts = now_ms();
    // Nothing waits in memory for a server that is down: its PDUs are caught up from the
    // database, its ephemeral EDUs are stale by then.
    d.state.catching_up = true;
    d.queue.clear();
    save(d);
    series().transactions.with({"failed"}).inc();
    log_.warn("transaction failed: destination backed off",
              {{"destination", name}, {"error", why}, {"retry_in_ms", std::to_string(interval.count())}});
  }

  void log_pdu_errors(const std::string& name, const json::value& answer) {
    if (!answer.is_object()) return;
    auto* results = answer.as_object().if_contains("pdus");
    if (!results || !results->is_object()) return;
    for (const auto& [event_id, result] : results->as_object())
      if (result.is_object() && result.as_object().contains("error"))
        log_.warn("remote rejected a PDU", {{"destination", name},
                                            {"event_id", std::string(event_id)},
                                            {"error", json_text(result.as_object().at("error"))}});
  }

  void report() {
    size_t depth = 0, backed_off = 0;
    for (const auto& [_, d] : dests_) {
      depth += d.queue.pdu_count() + d.queue.edu_count();
      backed_off += d.state.retry_interval_ms > 0 ? 1 : 0;
    }
    series().queue_depth.with({instance_}).set(static_cast<int64_t>(depth));
    series().backed_off.with({instance_}).set(static_cast<int64_t>(backed_off));
  }

  sender_deps deps_;
  logger log_;
  std::string instance_;
  // Shared with the actor thread:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, int64_t> announced_;  // persister → first event position published since the last round
  std::vector<std::pair<std::string, std::string>> ephemeral_;  // (stream, row) of typing, receipts, presence, device lists
  std::set<std::string> outbox_woken_;                           // destinations with new to-device EDUs
  size_t dropped_rows_ = 0;
  bool more_ = false, events_more_ = false, stopping_ = false;
  // The worker thread's own:
  tables::progress progress_;
  std::map<std::string, destination> dests_;
  std::map<std::string, std::set<std::string>> typing_;  // room → local users typing, as last sent
  std::map<std::string, int64_t> last_device_change_;     // local user → stream_id of the last device list update
  std::atomic<uint64_t> txn_counter_{0};
  int64_t last_heard_check_ms_ = 0;
  // (destination, room) → the newest event it is due, read in the current batch of events and not
  // yet in federation_destination_rooms.
  std::map<std::pair<std::string, std::string>, std::string> due_rows_;
  std::thread thread_;  // last: started once everything it uses exists
};

struct sender_state {
  std::unique_ptr<sender_worker> worker;
};

using instance_type = sender_instance_actor::stateful_pointer<sender_state>;

sender_instance_actor::behavior_type sender_impl(instance_type self, std::string label, sender_deps deps,
                                                 runtime::stream_hub_actor hub) {
  self->state.worker = std::make_unique<sender_worker>(deps, label);
  for (const char* stream : followed_streams)
    caf::anon_send(hub, atoms::subscribe_atom_v, std::string(stream), caf::actor_cast<caf::actor>(self));
  return {
      [=](stream_update& u) { self->state.worker->published(u); },
      [=](atoms::crash_atom) { self->quit(caf::sec::runtime_error); },
  };
}

} // namespace

sender_instance_actor spawn_sender_instance(caf::actor_system& sys, std::string label, sender_deps deps,
                                            runtime::stream_hub_actor hub) {
  return sys.spawn(sender_impl, std::move(label), std::move(deps), std::move(hub));
}

} // namespace myelin::federation_sender
