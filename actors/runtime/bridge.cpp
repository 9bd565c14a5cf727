#include "actors/runtime/bridge.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "actors/runtime/endpoint_registry.hpp"
#include "actors/runtime/groups.hpp"
#include "actors/runtime/instance_registry.hpp"
#include "protocol/errors.hpp"

namespace myelin::runtime {
namespace {

using done_fn = std::function<void(api_response, std::string)>;

// What is needed to send a request again: a GET or HEAD to a round-robin group (safe to repeat,
// and another instance may serve it) whose instance died before answering — its node was killed,
// say. Kept only for those, so other requests are never copied.
struct retry_copy {
  std::string group, key;
  api_request request;
  std::vector<caf::actor_addr> failed;  // instances it died on (a node takes several with it)
};

bool may_retry(const std::string& group, const api_request& r) {
  if (r.method != "GET" && r.method != "HEAD") return false;
  const group_info* g = find_group(group);
  return g && g->balance == balance_policy::round_robin;
}

struct bridge_state {
  const instance_registry* registry = nullptr;
  stream_hub_actor hub;
  std::chrono::seconds timeout{30};
  uint64_t next_id = 0;
  struct pending {
    caf::actor_addr instance;
    std::string label;
    done_fn done;
    std::optional<retry_copy> retry;  // a retryable request: what its next attempt needs
  };
  std::unordered_map<uint64_t, pending> in_flight;
  std::unordered_set<caf::actor_addr> monitored;
};

using bridge_ptr = caf::stateful_actor<bridge_state>*;

void send_job(bridge_ptr self, std::string group, std::string key, api_request request, done_fn done,
              std::vector<caf::actor_addr> avoid, bool retryable);

// The instance serving in-flight request `id` is gone (stopped, or its node lost): send a
// retryable request to another instance (each at most once), answer the others 503.
void fail_or_retry(bridge_ptr self, uint64_t id, const std::string& why) {
  auto& st = self->state;
  auto it = st.in_flight.find(id);
  if (it == st.in_flight.end()) return;
  auto p = std::move(it->second);
  st.in_flight.erase(it);
  if (p.retry) {
    auto r = std::move(*p.retry);
    r.failed.push_back(p.instance);
    return send_job(self, std::move(r.group), std::move(r.key), std::move(r.request), std::move(p.done),
                    std::move(r.failed), true);
  }
  p.done(error_response(protocol::errors::unavailable(why)), p.label);
}

// `avoid`: the instances a retry must not go back to (empty on a first attempt). A retryable
// request keeps a copy and is tried on each other instance until one answers.
void send_job(bridge_ptr self, std::string group, std::string key, api_request request, done_fn done,
              std::vector<caf::actor_addr> avoid, bool retryable) {
  auto& st = self->state;
  auto avoided = [&](const instance_ref& r) {
    return std::find(avoid.begin(), avoid.end(), r.handle.address()) != avoid.end();
  };
  auto ref = st.registry->pick(group, key);
  // Round robin: each pick is the next instance, so as many picks as instances visit them all.
  for (size_t n = st.registry->size(group); ref.handle && avoided(ref) && n > 0; --n)
    ref = st.registry->pick(group, key);
  if (!ref.handle || avoided(ref)) {
    done(error_response(protocol::errors::unavailable("No instance of " + group + " is available")),
         ref.label.empty() ? group : ref.label);
    return;
  }
  if (st.monitored.insert(ref.handle.address()).second) self->monitor(ref.handle);
  auto id = ++st.next_id;
  bridge_state::pending p{ref.handle.address(), ref.label, std::move(done), std::nullopt};
  if (retryable) p.retry = retry_copy{group, key, request, std::move(avoid)};
  st.in_flight.emplace(id, std::move(p));
  // A long-poll may legitimately take its whole timeout before the handler even starts.
  auto timeout = group == "sync" ? st.timeout + long_poll_allowance : st.timeout;
  self->request(ref.handle, caf::duration{timeout}, std::move(request))
      .then(
          [=](api_response& resp) {
            auto it = self->state.in_flight.find(id);
            if (it == self->state.in_flight.end()) return;  // already failed (or retried) by down_msg
            it->second.done(std::move(resp), it->second.label);
            self->state.in_flight.erase(it);
          },
          [=](caf::error& err) {
            auto it = self->state.in_flight.find(id);
            if (it == self->state.in_flight.end()) return;
            if (err == caf::sec::request_timeout) {
              // It may still be running: never repeated.
              it->second.done(error_response(protocol::errors::unavailable("The request timed out")),
                              it->second.label);
              self->state.in_flight.erase(it);
              return;
            }
            fail_or_retry(self, id, "The instance failed: " + self->system().render(err));
          });
}

caf::behavior bridge_impl(bridge_ptr self, const instance_registry* registry, stream_hub_actor hub,
                          std::chrono::seconds timeout) {
  self->state.registry = registry;
  self->state.hub = hub;
  self->state.timeout = timeout;
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    st.monitored.erase(dm.source);
    std::vector<uint64_t> lost;
    for (const auto& [id, p] : st.in_flight)
      if (p.instance == dm.source) lost.push_back(id);
    for (auto id : lost) fail_or_retry(self, id, "The instance serving this request stopped");
  });
  return {
      [=](dispatch_job& job) {
        bool retryable = may_retry(job.group, job.request);
        send_job(self, std::move(job.group), std::move(job.key), std::move(job.request), std::move(job.done), {},
                 retryable);
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
