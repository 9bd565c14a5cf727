// State resolution v2 (server-server / rooms v2 "State resolution"): merges the state of forks of
// a room's DAG into one state. Pure; events are fetched through a callback.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "protocol/pdu.hpp"
#include "protocol/room_versions.hpp"

namespace myelin::protocol {

using state_map = std::map<state_key_pair, std::string>;  // (type, state_key) → event id

// Returns the event with this id, or nullptr if unknown (unknown events are left out of the
// resolution, as the spec allows for events we cannot fetch).
using event_lookup = std::function<const pdu*(const std::string& event_id)>;

// Resolves `state_sets` (the state at each fork) for a room of `version` (state_resolution 2).
// Implements: unconflicted/conflicted split, auth difference over full auth chains, reverse
// topological power ordering of power events, iterative auth checks, mainline ordering of the
// rest, and re-application of the unconflicted state.
state_map resolve_state_v2(const room_version& version, const std::vector<state_map>& state_sets,
                           const event_lookup& lookup);

// Whether an event was rejected. The iterative auth checks never take a rejected event as an
// auth event (spec "Rejected events"); the events being resolved are re-checked as usual.
using rejected_check = std::function<bool(const std::string& event_id)>;

// As above, with the caller's rejection status (the overload above treats no event as rejected).
state_map resolve_state_v2(const room_version& version, const std::vector<state_map>& state_sets,
                           const event_lookup& lookup, const rejected_check& is_rejected);

} // namespace myelin::protocol
