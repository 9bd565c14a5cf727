#include "actors/runtime/stream_hub.hpp"

#include <caf/all.hpp>

#include "common/log.hpp"

namespace myelin::runtime {
namespace {

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

stream_hub_actor::behavior_type hub_impl(hub_type self, std::shared_ptr<const hub_listeners> listeners,
                                         std::vector<stream_position> initial) {
  self->state.listeners = std::move(listeners);
  for (const auto& p : initial) self->state.seen[{p.stream, p.writer}] = p.position;
  self->set_down_handler([=](caf::down_msg& dm) {
    for (auto& [stream, subs] : self->state.subscribers)
      subs.erase(std::remove_if(subs.begin(), subs.end(), [&](const caf::actor& a) { return a.address() == dm.source; }),
                 subs.end());
  });
  return {
      [=](atoms::publish_atom, const stream_update& u) {
        for (const auto& peer : self->state.peer_hubs) caf::anon_send(peer, atoms::forward_atom_v, u);
        self->state.apply(u);
      },
      [=](atoms::forward_atom, const stream_update& u) { self->state.apply(u); },
      [=](atoms::link_atom, const caf::actor& peer, bool linked) {
        auto& peers = self->state.peer_hubs;
        peers.erase(std::remove(peers.begin(), peers.end(), peer), peers.end());
        if (linked) peers.push_back(peer);
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
                                  std::vector<stream_position> initial_positions) {
  return sys.spawn(hub_impl, std::move(listeners), std::move(initial_positions));
}

} // namespace myelin::runtime
