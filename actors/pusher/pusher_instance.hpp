// An instance of the pusher group (sharded by user): it follows the events stream and, for each
// persisted event, sends a Push Gateway notification to every HTTP pusher of every user of its
// shard the event notifies. "Notifies" is what the events persister stored in event_push_actions
// when it persisted the event (the same rows /notifications and /sync's counts read), so pushes and
// badges agree with the client API by construction.
//
// Deliveries happen on the instance's own thread, in event order: requests (and the waits between
// retries) never occupy an actor thread or the shared blocking pool.
#pragma once
#include <caf/fwd.hpp>
#include <functional>
#include <string>

#include "actors/runtime/interfaces.hpp"

namespace myelin {
struct homeserver_config;
namespace storage { class database; }
}

namespace myelin::pusher {

using pusher_instance_actor = caf::typed_actor<caf::reacts_to<stream_update>,  // from the hub
                                               caf::reacts_to<atoms::crash_atom>>;

struct pusher_deps {
  const homeserver_config* config = nullptr;
  storage::database* db = nullptr;
  size_t index = 0;                     // this instance's shard
  std::function<size_t()> instances;    // the group's size now (placements can grow)
};

pusher_instance_actor spawn_pusher_instance(caf::actor_system& sys, std::string label, pusher_deps deps,
                                            runtime::stream_hub_actor hub);

} // namespace myelin::pusher
