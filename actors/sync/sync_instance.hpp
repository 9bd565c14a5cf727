// An instance of the sync group. It answers every endpoint like any API instance, and adds the
// long-poll to /sync: a request with `since` and a `timeout` whose computation finds nothing new
// is parked — no thread, a small record — in the instance's notifier, and computed again only when
// a stream update names its user or one of its rooms, or when its time is up.
//
// The instance subscribes to its node's hub for every stream a sync token carries. An update that
// arrives while a computation runs is kept until it ends: if it is past the computed token and
// concerns the request, the request is computed again at once instead of parked (no lost wake-up).
#pragma once
#include <caf/fwd.hpp>

#include "actors/runtime/api_instance.hpp"
#include "actors/runtime/interfaces.hpp"

namespace myelin::sync {

using sync_instance_actor = runtime::api_instance_actor::extend<
    caf::reacts_to<stream_update>,                  // from the hub
    caf::reacts_to<atoms::wait_atom, uint64_t>,     // a long-poll's deadline (self-sent)
    caf::reacts_to<atoms::release_atom>>;           // shutting down: answer every long-poll now

sync_instance_actor spawn_sync_instance(caf::actor_system& sys, std::string label, runtime::api_instance_deps deps,
                                        runtime::stream_hub_actor hub);

} // namespace myelin::sync
