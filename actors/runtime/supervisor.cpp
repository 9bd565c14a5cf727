#include "actors/runtime/supervisor.hpp"

#include <caf/all.hpp>

#include <map>
#include <unordered_map>

#include "actors/runtime/instance_registry.hpp"
#include "actors/runtime/messages.hpp"
#include "common/log.hpp"

namespace myelin::runtime {
namespace {

struct respawn_msg {
  std::string group;
  size_t index;
};

} // namespace
} // namespace myelin::runtime

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(myelin::runtime::respawn_msg)

namespace myelin::runtime {
namespace {

struct supervisor_state {
  instance_factory spawn;
  instance_registry* registry = nullptr;
  std::unordered_map<caf::actor_addr, std::pair<std::string, size_t>> watched;
  std::map<std::pair<std::string, size_t>, std::vector<std::chrono::steady_clock::time_point>> restarts;
  logger log{"supervisor"};
};

caf::behavior supervisor_impl(caf::stateful_actor<supervisor_state>* self,
                              instance_factory spawn,
                              instance_registry* registry) {
  self->state.spawn = std::move(spawn);
  self->state.registry = registry;
  auto start = [=](const std::string& group, size_t index) {
    auto& st = self->state;
    caf::actor a = st.spawn(group, index);
    st.watched[a.address()] = {group, index};
    self->monitor(a);
    st.registry->set(group, index, a);
  };
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    auto it = st.watched.find(dm.source);
    if (it == st.watched.end()) return;
    auto [group, index] = it->second;
    st.watched.erase(it);
    st.registry->clear(group, index);
    if (!dm.reason || dm.reason == caf::exit_reason::user_shutdown) return;  // orderly stop
    // Back off when an instance keeps dying: more than 5 restarts in 10 s waits a second.
    auto now = std::chrono::steady_clock::now();
    auto& hist = st.restarts[{group, index}];
    hist.erase(std::remove_if(hist.begin(), hist.end(), [&](auto t) { return now - t > std::chrono::seconds(10); }),
               hist.end());
    hist.push_back(now);
    auto delay = hist.size() > 5 ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(0);
    st.log.error("instance died; restarting", {{"instance", instance_label(group, index)},
                                              {"reason", self->system().render(dm.reason)},
                                              {"delay_ms", std::to_string(delay.count())}});
    if (delay.count() == 0) start(group, index);
    else self->delayed_send(self, delay, respawn_msg{group, index});
  });
  return {
      [=](respawn_msg& m) { start(m.group, m.index); },
      [=](atoms::subscribe_atom, const std::string& group, size_t index) { start(group, index); },
  };
}

} // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, instance_factory spawn, instance_registry* registry) {
  return sys.spawn(supervisor_impl, std::move(spawn), registry);
}

void supervise(const caf::actor& supervisor, const std::string& group, size_t index) {
  caf::anon_send(supervisor, atoms::subscribe_atom_v, group, index);
}

} // namespace myelin::runtime
