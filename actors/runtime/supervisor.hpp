// The node's supervisor: spawns every instance the placement assigns to this node, monitors it,
// and respawns an instance that dies abnormally into its registry slot (with a one-second
// back-off once an instance has died more than five times in ten seconds).
#pragma once
#include <caf/fwd.hpp>

#include <functional>
#include <string>

namespace myelin::runtime {

class instance_registry;

using instance_factory = std::function<caf::actor(const std::string& group, size_t index)>;

caf::actor spawn_supervisor(caf::actor_system& sys, instance_factory spawn, instance_registry* registry);

// Asks the supervisor to start (and from then on watch) one instance slot.
void supervise(const caf::actor& supervisor, const std::string& group, size_t index);

} // namespace myelin::runtime
