#include "actors/pusher/pusher_instance.hpp"

#include <caf/all.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "actors/pusher/push_gateway.hpp"
#include "actors/runtime/groups.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "storage/database.hpp"
#include "storage/tables/events.hpp"
#include "storage/tables/notifications.hpp"
#include "storage/tables/pushers.hpp"

namespace myelin::pusher {

namespace json = boost::json;

namespace {

struct event_ref {
  std::string room_id, event_id;
};

// The user's badge: every room's notification count, as /sync shows them (threads included).
int64_t unread_badge(storage::connection& c, const std::string& user_id) {
  auto rooms = storage::events::rooms_for_user(c, user_id, "join");
  int64_t total = 0;
  for (const auto& [room, counts] : storage::notifications::unread_for_rooms(c, user_id, rooms))
    total += counts.totals().first;
  return total;
}

constexpr size_t max_queue = 100000;

// The delivery thread and its queue. The actor only enqueues; everything that blocks is here.
class delivery_worker {
public:
  delivery_worker(pusher_deps deps, std::string label)
      : deps_(std::move(deps)), log_("pusher", label), thread_([this] { run(); }) {}
  ~delivery_worker() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();  // at most one request's timeout: retries stop waiting at once
  }

  void enqueue(event_ref ev) {
    bool dropped = false;
    {
      std::lock_guard lock(mu_);
      // A gateway down for long (each notification retried for a while) must not grow the queue
      // without bound: past the limit the oldest events go unpushed.
      if (queue_.size() >= max_queue) {
        queue_.pop_front();
        dropped = true;
      }
      queue_.push_back(std::move(ev));
    }
    if (dropped) log_.warn("push queue full: oldest event dropped", {{"limit", std::to_string(max_queue)}});
    cv_.notify_all();
  }

private:
  void run() {
    while (true) {
      event_ref ev;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        ev = std::move(queue_.front());
        queue_.pop_front();
      }
      try {
        deliver(ev);
      } catch (const std::exception& e) {
        log_.warn("push failed", {{"event_id", ev.event_id}, {"error", e.what()}});
      }
    }
  }

  // Waits between retries; false when the instance is stopping.
  bool pause(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [&] { return stopping_; });
  }

  retry_policy policy() const {
    const auto& pc = deps_.config->pusher;
    return retry_policy{std::chrono::milliseconds(pc.timeout_ms), pc.max_attempts,
                        std::chrono::milliseconds(pc.retry_delay_ms), std::chrono::milliseconds(pc.max_retry_delay_ms)};
  }

  void deliver(const event_ref& ev) {
    std::vector<storage::pushers::target> targets;
    std::map<std::string, int64_t> badges;  // per notified user of this shard
    std::optional<storage::events::event_row> row;
    {
      auto c = deps_.db->acquire();
      size_t n = deps_.instances ? deps_.instances() : 1;
      for (auto& t : storage::pushers::targets_for_event(*c, ev.room_id, ev.event_id))
        if (runtime::shard_for(t.p.user_id, n) == deps_.index) targets.push_back(std::move(t));
      if (targets.empty()) return;
      row = storage::events::get_event(*c, ev.event_id);
      if (!row) return;
      for (const auto& t : targets)
        if (!badges.count(t.p.user_id)) badges[t.p.user_id] = unread_badge(*c, t.p.user_id);
    }
    event_info info{row->event_id, row->room_id, row->type, row->sender, row->json};
    auto rp = policy();
    for (const auto& t : targets) {
      auto url = std::string(json::parse(t.p.data).as_object().at("url").as_string());
      auto d = send(url, notification_body(info, t, badges[t.p.user_id]), rp,
                    [this](std::chrono::milliseconds w) { return pause(w); });
      if (std::find(d.rejected.begin(), d.rejected.end(), t.p.pushkey) != d.rejected.end()) {
        // The gateway no longer knows this device: stop pushing to it (spec: the homeserver
        // should remove the pusher).
        auto c = deps_.db->acquire();
        storage::pushers::remove(*c, t.p.user_id, t.p.app_id, t.p.pushkey);
        log_.info("pushkey rejected: pusher removed", {{"user_id", t.p.user_id}, {"app_id", t.p.app_id}});
      }
    }
  }

  pusher_deps deps_;
  logger log_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<event_ref> queue_;
  bool stopping_ = false;
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
        for (const auto& text : u.rows) {
          boost::system::error_code ec;
          auto row = json::parse(text, ec);
          if (ec || !row.is_object()) continue;
          const auto& o = row.as_object();
          const auto* type = o.if_contains("type");
          const auto* room = o.if_contains("room_id");
          const auto* event = o.if_contains("event_id");
          if (!type || !type->is_string() || type->as_string() != "event" || !room || !room->is_string() || !event || !event->is_string()) continue;
          self->state.worker->enqueue({std::string(room->as_string()), std::string(event->as_string())});
        }
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
