// The authorization rules (room versions 1–11, spec rooms/v1 … v11 "Authorization rules") and the
// selection of auth events (server-server "Auth events selection"). Pure: the caller supplies the
// state the event is checked against.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/pdu.hpp"
#include "protocol/room_versions.hpp"

namespace myelin::protocol {

// The state an event is authorised against: (type, state_key) → event. Only the entries the
// rules look at matter (create, power levels, join rules, members, third party invites).
using auth_state = std::map<state_key_pair, const pdu*>;

// The state keys an event's auth_events are chosen from: create, power levels, the sender's
// member event, and for m.room.member the target's member event, join rules (join/invite/knock),
// the third party invite (invite with third_party_invite) and the authorising user's member
// event (restricted joins). The create event itself has none.
std::vector<state_key_pair> auth_types_for_event(const room_version& version, const pdu& event);

// Checks `event` against the rules of `version` given `state`. nullopt when allowed, otherwise a
// short human-readable reason ("sender not in room", "insufficient power level to ban", …).
// Signature and hash checks are not part of this (callers verify those first).
std::optional<std::string> check_auth(const room_version& version, const pdu& event, const auth_state& state);

// Rule 2 of every version ("Considering the event's auth_events"), which looks at the event's
// own auth_events list rather than at state: no duplicate (type, state_key), nothing outside
// auth_types_for_event, an m.room.create among them (except for the create event itself, which
// must have none), and every one in the event's room. Entries that were themselves rejected (2.3)
// are the caller's to exclude. nullopt when fine, otherwise the reason.
std::optional<std::string> check_auth_events(const room_version& version, const pdu& event,
                                             const std::vector<const pdu*>& auth_events);

} // namespace myelin::protocol
