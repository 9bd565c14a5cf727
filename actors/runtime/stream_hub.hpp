// The per-node stream hub. Writers publish (stream, writer, position, rows) to it after each
// commit; it calls the node's in-process listeners (caches), forwards to subscribed actors, and
// records the position so that "wait until this node has seen position p" can be answered.
// Across nodes it sends what this node's writers publish to the other nodes' hubs, over the node
// links or through Redis (redis_bus.hpp); the protocol is in stream_hub.cpp.
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

class redis_bus;

// The row a hub applies when it may have missed a peer's updates (a link re-formed, Redis was lost
// or came back): it wakes every long-poll, whose next answer reads the database. Late, never lost.
inline constexpr const char* catch_up_row = R"({"type":"catch_up","everyone":true})";

// `bus`: this node's Redis fan-out (null without `redis:` in the placement); the caller starts it
// with the returned hub.
stream_hub_actor spawn_stream_hub(caf::actor_system& sys, std::shared_ptr<const hub_listeners> listeners,
                                  std::vector<stream_position> initial_positions,
                                  std::shared_ptr<redis_bus> bus = nullptr);

} // namespace myelin::runtime
