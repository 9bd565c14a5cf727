#include "actors/runtime/bridge.hpp"

#include <caf/all.hpp>

#include <unordered_map>
#include <unordered_set>

#include "actors/runtime/endpoint_registry.hpp"
#include "actors/runtime/groups.hpp"
#include "actors/runtime/instance_registry.hpp"
#include "protocol/errors.hpp"

namespace myelin::runtime {
namespace {

struct bridge_state {
  const instance_registry* registry = nullptr;
  stream_hub_actor hub;
  std::chrono::seconds timeout{30};
  uint64_t next_id = 0;
  struct pending {
    caf::actor_addr instance;
    std::string label;
    std::function<void(api_response, std::string)> done;
  };
  std::unordered_map<uint64_t, pending> in_flight;
  std::unordered_set<caf::actor_addr> monitored;
};

caf::behavior bridge_impl(caf::stateful_actor<bridge_state>* self, const instance_registry* registry,
                          stream_hub_actor hub, std::chrono::seconds timeout) {
  self->state.registry = registry;
  self->state.hub = hub;
  self->state.timeout = timeout;
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    st.monitored.erase(dm.source);
    for (auto it = st.in_flight.begin(); it != st.in_flight.end();) {
      if (it->second.instance == dm.source) {
        it->second.done(error_response(protocol::errors::unavailable("The instance serving this request stopped")),
                        it->second.label);
        it = st.in_flight.erase(it);
      } else {
        ++it;
      }
    }
  });
  return {
      [=](dispatch_job& job) {
        auto& st = self->state;
        auto ref = st.registry->pick(job.group, job.key);
        if (!ref.handle) {
          job.done(error_response(protocol::errors::unavailable("No instance of " + job.group + " is available")),
                   ref.label.empty() ? job.group : ref.label);
          return;
        }
        if (st.monitored.insert(ref.handle.address()).second) self->monitor(ref.handle);
        auto id = ++st.next_id;
        st.in_flight.emplace(id, bridge_state::pending{ref.handle.address(), ref.label, std::move(job.done)});
        // A long-poll may legitimately take its whole timeout before the handler even starts.
        auto timeout = job.group == "sync" ? st.timeout + long_poll_allowance : st.timeout;
        self->request(ref.handle, caf::duration{timeout}, std::move(job.request))
            .then(
                [=](api_response& resp) {
                  auto it = self->state.in_flight.find(id);
                  if (it == self->state.in_flight.end()) return;  // already failed by down_msg
                  it->second.done(std::move(resp), it->second.label);
                  self->state.in_flight.erase(it);
                },
                [=](caf::error& err) {
                  auto it = self->state.in_flight.find(id);
                  if (it == self->state.in_flight.end()) return;
                  auto msg = err == caf::sec::request_timeout ? std::string("The request timed out")
                                                              : "The instance failed: " + self->system().render(err);
                  it->second.done(error_response(protocol::errors::unavailable(msg)), it->second.label);
                  self->state.in_flight.erase(it);
                });
      },
      [=](wait_job& job) {
        auto done = std::move(job.done);
        self->request(self->state.hub, caf::duration{job.timeout}, atoms::wait_atom_v, std::move(job.positions))
            .then([done](bool) { done(); }, [done](caf::error&) { done(); });
      },
  };
}

} // namespace

caf::actor spawn_bridge(caf::actor_system& sys, const instance_registry* registry, stream_hub_actor hub,
                        std::chrono::seconds request_timeout) {
  return sys.spawn(bridge_impl, registry, std::move(hub), request_timeout);
}

} // namespace myelin::runtime
