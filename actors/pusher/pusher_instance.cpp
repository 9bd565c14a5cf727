#include "actors/pusher/pusher_instance.hpp"

#include <caf/all.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "actors/pusher/push_gateway.hpp"
#include "actors/runtime/groups.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "storage/database.hpp"
#include "storage/tables/events_follow.hpp"
#include "storage/tables/events.hpp"
#include "storage/tables/notifications.hpp"
#include "storage/tables/pushers.hpp"

namespace myelin::pusher {

namespace json = boost::json;
namespace tables = storage::pushers;
using clock_type = std::chrono::steady_clock;

namespace {

// The user's badge: every room's notification count, as /sync shows them (threads included).
int64_t unread_badge(storage::connection& c, const std::string& user_id) {
  auto rooms = storage::events::rooms_for_user(c, user_id, "join");
  int64_t total = 0;
  for (const auto& [room, counts] : storage::notifications::unread_for_rooms(c, user_id, rooms))
    total += counts.totals().first;
  return total;
}

constexpr size_t batch_size = 100;          // events read (and progress saved) at a time
constexpr size_t max_waiting_per_pusher = 100;

using pusher_key = std::tuple<std::string, std::string, std::string>;  // user, app_id, pushkey

// What an operator watches (docs/configuration.md lists the series).
struct pusher_metrics {
  metrics::family<metrics::gauge>& lag = metrics::registry::global().gauges(
      "myelin_pusher_lag_events", "Events a pusher instance has yet to read, per persister.", {"instance", "persister"});
  metrics::family<metrics::gauge>& backed_off = metrics::registry::global().gauges(
      "myelin_pusher_backed_off", "Pushers whose gateway is failing (their notifications wait).", {"instance"});
  metrics::family<metrics::gauge>& waiting = metrics::registry::global().gauges(
      "myelin_pusher_waiting_notifications", "Notifications waiting for a backed-off pusher.", {"instance"});
  metrics::family<metrics::counter>& attempts = metrics::registry::global().counters(
      "myelin_pusher_attempts_total", "Requests to push gateways by outcome (delivered, refused, retry).",
      {"instance", "outcome"});
};

pusher_metrics& series() {
  static pusher_metrics m;
  return m;
}

const char* outcome_name(outcome o) {
  return o == outcome::delivered ? "delivered" : o == outcome::refused ? "refused" : "retry";
}

pusher_key key_of(const tables::pusher& p) { return {p.user_id, p.app_id, p.pushkey}; }

// A pusher whose gateway failed: its notifications wait, in order, until the next attempt is due,
// so one slow or dead gateway costs the others at most one request timeout per retry.
struct backing_off {
  struct waiting {
    std::string url;
    json::object body;
    size_t attempts = 1;
  };
  std::deque<waiting> queue;
  std::chrono::milliseconds delay{0};
  clock_type::time_point due;
};

// The delivery thread. It reads the events stream from the database in order, from where the
// instance's stored progress says (so a restart pushes what was persisted meanwhile); the actor
// only says that there is more. Everything that blocks is here.
class delivery_worker {
public:
  delivery_worker(pusher_deps deps, std::string label)
      : deps_(std::move(deps)), log_("pusher", label), instance_("pusher/" + std::to_string(deps_.index)),
        thread_([this] { run(); }) {}
  ~delivery_worker() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();  // at most one request's timeout
  }

  // A persister published events from `first_position` on (unknown: something, look) up to
  // `position`.
  void published(const std::string& persister, std::optional<int64_t> first_position, int64_t position) {
    {
      std::lock_guard lock(mu_);
      auto& latest = latest_[persister];
      latest = std::max(latest, position);
      if (first_position) {
        auto [it, fresh] = announced_.emplace(persister, *first_position);
        if (!fresh) it->second = std::min(it->second, *first_position);
      }
      more_ = true;
    }
    cv_.notify_all();
  }

private:
  void run() {
    while (!load_progress())
      if (!pause(std::chrono::seconds(1))) return;
    while (true) {
      std::map<std::string, int64_t> announced;
      {
        std::unique_lock lock(mu_);
        cv_.wait_until(lock, next_retry(), [&] { return stopping_ || more_ || clock_type::now() >= next_retry(); });
        if (stopping_) return;
        more_ = false;
        announced.swap(announced_);
      }
      try {
        // A persister never seen before starts at its first announced event (a new instance does
        // not push history).
        for (const auto& [persister, first] : announced) progress_.emplace(persister, first - 1);
        catch_up();
        retry_due();
        report_backoff();
      } catch (const std::exception& e) {
        log_.warn("push round failed", {{"error", e.what()}});
        {
          std::lock_guard lock(mu_);
          more_ = true;  // try again after the pause
        }
        if (!pause(std::chrono::seconds(1))) return;
      }
    }
  }

  bool load_progress() {
    try {
      auto c = deps_.db->acquire();
      progress_ = tables::load_progress(*c, instance_);
      std::lock_guard lock(mu_);
      more_ = true;  // catch up on what was persisted while the instance was down
      return true;
    } catch (const std::exception& e) {
      log_.warn("cannot read push progress", {{"error", e.what()}});
      return false;
    }
  }

  bool stopping() {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  // Waits; false when the instance is stopping.
  bool pause(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [&] { return stopping_; });
  }

  clock_type::time_point next_retry() const {
    auto t = clock_type::time_point::max();
    for (const auto& [_, b] : backing_off_) t = std::min(t, b.due);
    return t;
  }

  const pusher_config& cfg() const { return deps_.config->pusher; }
  std::chrono::milliseconds timeout() const { return std::chrono::milliseconds(cfg().timeout_ms); }

  void catch_up() {
    for (auto& entry : progress_) {
      const std::string& persister = entry.first;  // lambdas cannot capture structured bindings (clang 15)
      int64_t& position = entry.second;
      storage::events::follow_persister(
          *deps_.db, persister, position, batch_size, [this] { return stopping(); },
          [this](const storage::events::event_row& ev) { deliver(ev); },
          [&](int64_t upto) {
            {
              auto c = deps_.db->acquire();
              tables::save_progress(*c, instance_, {{persister, upto}});
            }
            report_lag(persister, upto);  // per batch, so a long catch-up shows its progress
          });
      report_lag(persister, position);
    }
  }

  void deliver(const storage::events::event_row& ev) {
    std::vector<tables::target> targets;
    std::map<std::string, int64_t> badges;  // per notified user of this shard
    {
      auto c = deps_.db->acquire();
      size_t n = deps_.instances ? deps_.instances() : 1;
      for (auto& t : tables::targets_for_event(*c, ev.room_id, ev.event_id))
        if (runtime::shard_for(t.p.user_id, n) == deps_.index) targets.push_back(std::move(t));
      if (targets.empty()) return;
      for (const auto& t : targets)
        if (!badges.count(t.p.user_id)) badges[t.p.user_id] = unread_badge(*c, t.p.user_id);
    }
    event_info info{ev.event_id, ev.room_id, ev.type, ev.sender, ev.json};
    for (const auto& t : targets) {
      auto url = std::string(json::parse(t.p.data).as_object().at("url").as_string());
      auto body = notification_body(info, t, badges[t.p.user_id]);
      if (auto it = backing_off_.find(key_of(t.p)); it != backing_off_.end()) {
        wait_behind(it->first, it->second, {std::move(url), std::move(body)});
        continue;
      }
      auto d = attempt(url, body);
      if (d.result == outcome::retry) {
        auto& b = backing_off_[key_of(t.p)];
        b.delay = std::chrono::milliseconds(cfg().retry_delay_ms);
        b.due = clock_type::now() + b.delay;
        b.queue.push_back({std::move(url), std::move(body)});
        log_.warn("push gateway unreachable: retrying later",
                  {{"url", url_of(b)}, {"error", d.error}, {"delay_ms", std::to_string(b.delay.count())}});
      } else {
        settled(t.p.user_id, t.p.app_id, t.p.pushkey, d);
      }
    }
  }

  static const std::string& url_of(const backing_off& b) { return b.queue.back().url; }

  void report_lag(const std::string& persister, int64_t position) {
    int64_t latest = 0;
    {
      std::lock_guard lock(mu_);
      if (auto it = latest_.find(persister); it != latest_.end()) latest = it->second;
    }
    series().lag.with({instance_, persister}).set(std::max<int64_t>(0, latest - position));
  }

  void report_backoff() {
    size_t waiting = 0;
    for (const auto& [_, b] : backing_off_) waiting += b.queue.size();
    series().backed_off.with({instance_}).set(static_cast<int64_t>(backing_off_.size()));
    series().waiting.with({instance_}).set(static_cast<int64_t>(waiting));
  }

  delivery attempt(const std::string& url, const json::object& body) {
    auto d = post_notification(url, body, timeout());
    series().attempts.with({instance_, outcome_name(d.result)}).inc();
    return d;
  }

  void wait_behind(const pusher_key& key, backing_off& b, backing_off::waiting w) {
    // A gateway down for long must not grow memory without bound: past the limit the oldest
    // notifications of that pusher go unpushed.
    if (b.queue.size() >= max_waiting_per_pusher) {
      b.queue.pop_front();
      log_.warn("push queue of a pusher full: oldest notification dropped",
                {{"user_id", std::get<0>(key)}, {"limit", std::to_string(max_waiting_per_pusher)}});
    }
    b.queue.push_back(std::move(w));
  }

  // After a delivered or refused notification: a pushkey the gateway rejected loses its pusher.
  void settled(const std::string& user_id, const std::string& app_id, const std::string& pushkey, const delivery& d) {
    if (d.result == outcome::refused)
      log_.warn("push gateway refused a notification", {{"user_id", user_id}, {"error", d.error}});
    if (std::find(d.rejected.begin(), d.rejected.end(), pushkey) == d.rejected.end()) return;
    // The gateway no longer knows this device: stop pushing to it (spec: the homeserver should
    // remove the pusher).
    auto c = deps_.db->acquire();
    tables::remove(*c, user_id, app_id, pushkey);
    backing_off_.erase({user_id, app_id, pushkey});
    log_.info("pushkey rejected: pusher removed", {{"user_id", user_id}, {"app_id", app_id}});
  }

  // Tries the waiting notifications of every pusher whose retry is due, oldest first; the first
  // that fails again backs that pusher off further (doubling, up to max_retry_delay).
  void retry_due() {
    auto now = clock_type::now();
    std::vector<pusher_key> due;
    for (const auto& [key, b] : backing_off_)
      if (b.due <= now) due.push_back(key);
    for (const auto& key : due) {
      if (stopping()) return;
      const auto& [user_id, app_id, pushkey] = key;
      if (!still_exists(key)) {  // deleted meanwhile (by the user, or with its device)
        backing_off_.erase(key);
        continue;
      }
      auto& b = backing_off_.at(key);
      while (!b.queue.empty()) {
        auto& w = b.queue.front();
        auto d = attempt(w.url, w.body);
        if (d.result != outcome::retry) {
          b.queue.pop_front();
          b.delay = std::chrono::milliseconds(cfg().retry_delay_ms);
          settled(user_id, app_id, pushkey, d);
          if (!backing_off_.count(key)) break;  // removed: `b` is gone
          continue;
        }
        if (++w.attempts >= cfg().max_attempts) {
          log_.warn("push gateway unreachable: giving up a notification",
                    {{"url", w.url}, {"error", d.error}, {"attempts", std::to_string(w.attempts)}});
          b.queue.pop_front();
        }
        b.delay = std::min(b.delay * 2, std::chrono::milliseconds(cfg().max_retry_delay_ms));
        b.due = clock_type::now() + b.delay;
        break;
      }
      if (auto it = backing_off_.find(key); it != backing_off_.end() && it->second.queue.empty()) backing_off_.erase(it);
    }
  }

  bool still_exists(const pusher_key& key) {
    auto c = deps_.db->acquire();
    for (const auto& p : tables::for_user(*c, std::get<0>(key)))
      if (key_of(p) == key) return true;
    return false;
  }

  pusher_deps deps_;
  logger log_;
  std::string instance_;
  // Shared with the actor thread:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, int64_t> announced_;  // persister → first position published since the last round
  std::map<std::string, int64_t> latest_;     // persister → newest position published
  bool more_ = false;
  bool stopping_ = false;
  // The delivery thread's own:
  tables::progress progress_;
  std::map<pusher_key, backing_off> backing_off_;
  std::thread thread_;  // last: started once everything it uses exists
};

struct pusher_state {
  std::unique_ptr<delivery_worker> worker;
};

using instance_type = pusher_instance_actor::stateful_pointer<pusher_state>;

pusher_instance_actor::behavior_type pusher_impl(instance_type self, std::string label, pusher_deps deps,
                                                 runtime::stream_hub_actor hub) {
  self->state.worker = std::make_unique<delivery_worker>(deps, label);
  caf::anon_send(hub, atoms::subscribe_atom_v, std::string("events"), caf::actor_cast<caf::actor>(self));
  return {
      [=](stream_update& u) {
        // Only new events can notify (rows of type "event": see storage/streams/events_stream).
        std::optional<int64_t> first;
        for (const auto& text : u.rows) {
          boost::system::error_code ec;
          auto row = json::parse(text, ec);
          if (ec || !row.is_object()) continue;
          const auto& o = row.as_object();
          const auto* type = o.if_contains("type");
          const auto* position = o.if_contains("position");
          if (!type || !type->is_string() || type->as_string() != "event" || !position || !position->is_int64()) continue;
          first = std::min(first.value_or(position->as_int64()), position->as_int64());
        }
        // Without event rows (a catch-up notice after a lost Redis subscription), look anyway.
        self->state.worker->published(u.writer, first, u.position);
      },
      [=](atoms::crash_atom) { self->quit(caf::sec::runtime_error); },
  };
}

} // namespace

pusher_instance_actor spawn_pusher_instance(caf::actor_system& sys, std::string label, pusher_deps deps,
                                            runtime::stream_hub_actor hub) {
  return sys.spawn(pusher_impl, std::move(label), std::move(deps), std::move(hub));
}

} // namespace myelin::pusher
