// The per-node stream hub. Writers publish (stream, writer, position, rows) to it after each
// commit; it calls the node's in-process listeners (caches), forwards to subscribed actors, and
// records the position so that "wait until this node has seen position p" can be answered.
#pragma once
#include <caf/fwd.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/runtime/interfaces.hpp"

namespace myelin::runtime {

// In-process listeners (e.g. the access-token cache). They run on the hub's thread before the
// position counts as seen, so a waiter released at position p sees every cache effect up to p.
// The key is a stream name, or "*" for every stream.
struct hub_listeners {
  std::multimap<std::string, std::function<void(const stream_update&)>> by_stream;
};

stream_hub_actor spawn_stream_hub(caf::actor_system& sys, std::shared_ptr<const hub_listeners> listeners,
                                  std::vector<stream_position> initial_positions);

} // namespace myelin::runtime
