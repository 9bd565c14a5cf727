// The hub, and how updates reach the other nodes.
//
// Without Redis: every update a local writer publishes is forwarded to every linked peer hub
// (forward_atom); node_link's catch_up covers what a peer missed while its link was down.
//
// With Redis (placement `redis:`), correctness across a Redis outage is the point. Per peer:
//  1. Each hub tells its linked peer hubs whether its Redis subscriber is subscribed
//     (redis_atom, node, bool): when that changes, and to each peer right after it links.
//  2. publish_atom: if this node's publisher is up, the update is queued for one PUBLISH, and also
//     forwarded directly to every linked peer NOT known to be subscribed (to all of them when the
//     publisher is down). So every peer gets every update by at least one path.
//  3. Publisher failure: updates queued but not confirmed by a PUBLISH reply come back
//     (redis_atom, vector) and are forwarded directly to all peers.
//  4. Subscriber loss on node B: B's hub first tells its peers "not subscribed", THEN asks each peer
//     hub for the positions its writers have published (position_atom). CAF keeps the order of
//     messages between two actors, so the peer answers after it took the notice: from then on it
//     forwards directly, and anything B missed through Redis is at or below the answer. B applies
//     each position with catch_up_row (every long-poll wakes and reads the database). The same
//     catch-up runs when the subscriber (re)subscribes.
// An update may therefore arrive twice, or a direct copy before a Redis one. Applying is
// idempotent and order-tolerant: subscribers (sync) only take rows as wake-ups and read the
// database; positions only move forward; the token cache's revocation is idempotent; the typing
// cache keeps, per room, the row with the highest position (node_views.cpp).
#include "actors/runtime/stream_hub.hpp"

#include <caf/all.hpp>

#include "actors/runtime/redis_bus.hpp"
#include "common/log.hpp"

namespace myelin::runtime {
namespace {

constexpr auto peer_request_timeout = std::chrono::seconds(5);

struct peer_redis_state {
  std::string node;
  bool subscribed = false;
};

struct waiter {
  std::vector<stream_position> positions;
  caf::typed_response_promise<bool> promise;
  std::chrono::steady_clock::time_point deadline;
};

struct hub_state {
  std::shared_ptr<const hub_listeners> listeners;
  std::map<std::pair<std::string, std::string>, int64_t> seen;
  std::map<std::string, std::vector<caf::actor>> subscribers;
  std::vector<caf::actor> peer_hubs;  // linked nodes' hubs: they get what this node's writers publish
  std::vector<waiter> waiters;
  // Redis fan-out (null without it).
  std::shared_ptr<redis_bus> bus;
  bool subscribed = false;                               // this node's Redis subscriber
  std::map<caf::actor_addr, peer_redis_state> peer_redis;  // what each peer hub reports of its own
  std::map<std::pair<std::string, std::string>, int64_t> published_here;  // local writers' last positions
  bool sweep_scheduled = false;
  logger log{"streams"};

  bool reached(const std::vector<stream_position>& ps) const {
    for (const auto& p : ps) {
      auto it = seen.find({p.stream, p.writer});
      if (it == seen.end() || it->second < p.position) return false;
    }
    return true;
  }

  // One update on this node: listeners first, then subscribers, then the position counts as seen.
  void apply(const stream_update& u) {
    for (const std::string& key : {u.stream, std::string("*")}) {
      auto range = listeners->by_stream.equal_range(key);
      for (auto it = range.first; it != range.second; ++it) {
        try {
          it->second(u);
        } catch (const std::exception& e) {
          log.error("stream listener failed", {{"stream", u.stream}, {"error", e.what()}});
        }
      }
    }
    if (auto sit = subscribers.find(u.stream); sit != subscribers.end())
      for (const auto& sub : sit->second) caf::anon_send(sub, u);  // subscribers are dynamically typed
    auto& pos = seen[{u.stream, u.writer}];
    if (u.position > pos) pos = u.position;
    if (!waiters.empty()) release(true);
  }

  bool peer_subscribed(const caf::actor& peer) const {
    auto it = peer_redis.find(peer.address());
    return it != peer_redis.end() && it->second.subscribed;
  }

  void forward_to_peers(const stream_update& u, bool skip_subscribed) {
    for (const auto& peer : peer_hubs)
      if (!skip_subscribed || !peer_subscribed(peer)) caf::anon_send(peer, atoms::forward_atom_v, u);
  }

  // Releases waiters whose positions are reached, or whose time is up (they get false).
  void release(bool only_reached) {
    auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < waiters.size();) {
      bool ok = reached(waiters[i].positions);
      if (ok || (!only_reached && now >= waiters[i].deadline)) {
        waiters[i].promise.deliver(ok);
        waiters[i] = std::move(waiters.back());
        waiters.pop_back();
      } else {
        ++i;
      }
    }
  }
};

using hub_type = stream_hub_actor::stateful_pointer<hub_state>;

// Step 1: tells a peer hub whether this node's subscriber is subscribed. Sent by the hub itself
// (not anonymously) like the request in catch_up_from, so the peer takes them in this order.
void tell_peer(hub_type self, const caf::actor& peer) {
  self->send(caf::actor_cast<stream_hub_actor>(peer), atoms::redis_atom_v, self->state.bus->node(),
             self->state.subscribed);
}

// Step 4: asks a peer hub what its writers have published and catches up to it.
void catch_up_from(hub_type self, const caf::actor& peer) {
  self->request(caf::actor_cast<stream_hub_actor>(peer), peer_request_timeout, atoms::position_atom_v)
      .then(
          [=](std::vector<stream_position>& positions) {
            for (auto& p : positions)
              self->state.apply(stream_update{std::move(p.stream), std::move(p.writer), p.position, {catch_up_row}});
            if (self->state.bus) self->state.bus->count_catch_up();
          },
          [](caf::error&) {});  // the link dropped: node_link's catch_up runs when it re-forms
}

stream_hub_actor::behavior_type hub_impl(hub_type self, std::shared_ptr<const hub_listeners> listeners,
                                         std::vector<stream_position> initial, std::shared_ptr<redis_bus> bus) {
  self->state.listeners = std::move(listeners);
  self->state.bus = std::move(bus);
  for (const auto& p : initial) self->state.seen[{p.stream, p.writer}] = p.position;
  self->set_down_handler([=](caf::down_msg& dm) {
    for (auto& [stream, subs] : self->state.subscribers)
      subs.erase(std::remove_if(subs.begin(), subs.end(), [&](const caf::actor& a) { return a.address() == dm.source; }),
                 subs.end());
  });
  return {
      [=](atoms::publish_atom, const stream_update& u) {
        auto& st = self->state;
        auto& mine = st.published_here[{u.stream, u.writer}];
        mine = std::max(mine, u.position);
        bool via_redis = st.bus && st.bus->publish(u);  // step 2
        st.forward_to_peers(u, via_redis);
        st.apply(u);
      },
      [=](atoms::forward_atom, const stream_update& u) { self->state.apply(u); },
      [=](atoms::link_atom, const caf::actor& peer, bool linked) {
        auto& st = self->state;
        auto& peers = st.peer_hubs;
        peers.erase(std::remove(peers.begin(), peers.end(), peer), peers.end());
        if (linked) {
          peers.push_back(peer);
          if (st.bus) tell_peer(self, peer);  // step 1
        } else if (auto it = st.peer_redis.find(peer.address()); it != st.peer_redis.end()) {
          if (st.bus) st.bus->peer_reports(it->second.node, std::nullopt);
          st.peer_redis.erase(it);  // a peer that links again starts as "not subscribed"
        }
      },
      // From this node's bus: its subscriber became (un)subscribed (steps 1 and 4).
      [=](atoms::redis_atom, bool subscribed) {
        auto& st = self->state;
        st.subscribed = subscribed;
        if (!st.bus) return;
        for (const auto& peer : st.peer_hubs) tell_peer(self, peer);
        for (const auto& peer : st.peer_hubs) catch_up_from(self, peer);
      },
      // From this node's bus: updates it could not confirm (step 3).
      [=](atoms::redis_atom, const std::vector<stream_update>& unconfirmed) {
        for (const auto& u : unconfirmed) self->state.forward_to_peers(u, false);
      },
      // From a peer hub: whether its subscriber is subscribed (step 1).
      [=](atoms::redis_atom, const std::string& node, bool subscribed) {
        auto& st = self->state;
        auto from = caf::actor_cast<caf::actor_addr>(self->current_sender());
        if (!from) return;
        st.peer_redis[from] = {node, subscribed};
        if (st.bus) st.bus->peer_reports(node, subscribed);
      },
      // From a peer hub: what this node's writers have published (step 4).
      [=](atoms::position_atom) {
        std::vector<stream_position> out;
        for (const auto& [key, position] : self->state.published_here) out.push_back({key.first, key.second, position});
        return out;
      },
      [=](atoms::subscribe_atom, const std::string& stream, const caf::actor& who) {
        self->state.subscribers[stream].push_back(who);
        self->monitor(who);
      },
      [=](atoms::wait_atom, std::vector<stream_position>& ps) -> caf::result<bool> {
        auto& st = self->state;
        if (st.reached(ps)) return true;
        auto promise = self->make_response_promise<bool>();
        st.waiters.push_back({std::move(ps), promise, std::chrono::steady_clock::now() + std::chrono::seconds(10)});
        if (!st.sweep_scheduled) {
          st.sweep_scheduled = true;
          self->delayed_send(self, std::chrono::seconds(1), atoms::wait_atom_v);
        }
        return promise;
      },
      [=](atoms::wait_atom) {
        auto& st = self->state;
        st.release(false);
        st.sweep_scheduled = !st.waiters.empty();
        if (st.sweep_scheduled) self->delayed_send(self, std::chrono::seconds(1), atoms::wait_atom_v);
      },
  };
}

} // namespace

stream_hub_actor spawn_stream_hub(caf::actor_system& sys, std::shared_ptr<const hub_listeners> listeners,
                                  std::vector<stream_position> initial_positions, std::shared_ptr<redis_bus> bus) {
  return sys.spawn(hub_impl, std::move(listeners), std::move(initial_positions), std::move(bus));
}

} // namespace myelin::runtime
