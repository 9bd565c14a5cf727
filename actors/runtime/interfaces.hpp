// The typed interfaces of the runtime's actors. Anything another group or node may call is listed
// here with its message types (all registered in messages.hpp), so a handle can be remote.
#pragma once
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/runtime/messages.hpp"

namespace myelin::runtime {

// An instance of an API group (sync, client_reader, …): answers client API requests.
using api_instance_actor = caf::typed_actor<
    caf::replies_to<api_request>::with<api_response>,
    caf::replies_to<atoms::label_atom>::with<std::string>,
    caf::reacts_to<atoms::crash_atom>,                                // tests: die, to exercise supervision
    caf::reacts_to<atoms::done_atom, uint64_t, api_response>>;        // a pool job finished (self-sent)

// A stream writer: the only writer of its stream's tables.
using stream_writer_actor = caf::typed_actor<
    caf::replies_to<write_request>::with<write_result>,
    caf::replies_to<atoms::position_atom>::with<stream_position>,
    caf::reacts_to<atoms::flush_atom>,                                // group commit trigger (self-sent)
    caf::reacts_to<atoms::wait_atom>,                                 // periodic operation tick (self-sent)
    caf::reacts_to<atoms::crash_atom>>;

// A node's stream hub: writers publish to it; it fans updates out to subscribers and tracks the
// positions this node has seen, answering "wait until position p" for read-after-write.
//
// Across nodes: every hub forwards what this node's writers publish to the hubs of the linked
// nodes (link_atom adds or, with false, removes one), which take it as `forward_atom` updates and
// do not pass them on — each update crosses one link, once.
//
// With Redis (placement `redis:`), an update goes once to Redis and directly only to the peers
// that do not report their Redis subscriber subscribed (stream_hub.cpp has the protocol):
//   (redis_atom, bool)                        this node's subscriber is (not) subscribed (its bus)
//   (redis_atom, vector<stream_update>)       published to the bus but not confirmed (its bus)
//   (redis_atom, node, bool)                  a peer hub: its subscriber is (not) subscribed
//   (position_atom) → vector<stream_position> a peer hub: what this node's writers have published
using stream_hub_actor = caf::typed_actor<
    caf::reacts_to<atoms::publish_atom, stream_update>,
    caf::reacts_to<atoms::forward_atom, stream_update>,
    caf::reacts_to<atoms::link_atom, caf::actor, bool>,
    caf::reacts_to<atoms::redis_atom, bool>,
    caf::reacts_to<atoms::redis_atom, std::vector<stream_update>>,
    caf::reacts_to<atoms::redis_atom, std::string, bool>,
    caf::replies_to<atoms::position_atom>::with<std::vector<stream_position>>,
    caf::reacts_to<atoms::subscribe_atom, std::string, caf::actor>,
    caf::replies_to<atoms::wait_atom, std::vector<stream_position>>::with<bool>,
    caf::reacts_to<atoms::wait_atom>>;                                // periodic deadline sweep (self-sent)

} // namespace myelin::runtime
