// What the federation endpoints that carry room events share: checking a PDU another server sent
// (format, signatures with the signers' keys, content hash), handing checked events to the room's
// persister, and the reads other servers may make of a room (state before an event, auth chains),
// with the rule of who may read them. Blocking: handlers on the pool only.
#pragma once
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "actors/runtime/endpoint_registry.hpp"
#include "protocol/pdu.hpp"
#include "protocol/room_versions.hpp"
#include "storage/database.hpp"
#include "storage/tables/events.hpp"

namespace myelin::federation {

// A received PDU that passed the checks that need no room state: well-formed, signed by every
// server that must sign it, and with its event id computed. An event whose content hash does not
// match is kept in its redacted form (server-server API: "the event is redacted").
using checked_pdu = protocol::pdu;

// The checked event, or why it is refused.
std::variant<checked_pdu, std::string> check_received_pdu(runtime::handler_context& ctx,
                                                          const protocol::room_version& version,
                                                          const boost::json::object& pdu);

// Checks every PDU of `pdus` and returns those that pass, as {event_id, event} entries for the
// persister's operations; the others are dropped (and logged).
boost::json::array checked_entries(runtime::handler_context& ctx, const protocol::room_version& version,
                                   const boost::json::array& pdus);

// The room's version (404 M_NOT_FOUND when the room is unknown here).
const protocol::room_version& room_version_of(storage::connection& c, const std::string& room_id);

// 403 M_FORBIDDEN unless a user of `server` is (or was: invited, left) a member of the room —
// who may read a room's events and state over federation — or the room is world readable.
void require_server_in_room(storage::connection& c, const std::string& room_id, const std::string& server);

// Whether the room's server ACL (m.room.server_acl in its current state) lets `server` take
// part; true when the room has none.
bool acl_allows(storage::connection& c, const std::string& room_id, const std::string& server);

// 403 M_FORBIDDEN when the room's server ACL denies `server` (the spec's protected endpoints).
void require_acl_allows(storage::connection& c, const std::string& room_id, const std::string& server);

// The state before an event (its prev events' resolved state), as (type, state_key) → event id.
storage::events::state_ids state_before(storage::connection& c, const storage::events::event_row& event);

// The auth chain of `event_ids`: every event reachable through auth_events (not the events
// themselves unless reachable), as stored.
std::vector<storage::events::event_row> auth_chain(storage::connection& c, const std::vector<std::string>& event_ids);

// An event as it goes over federation: the stored PDU (the v3+ format has no event_id inside) —
// redacted if it was redacted here.
boost::json::object federation_format(const storage::events::event_row& e, const std::string& room_version);

// Servers with a joined member in the room now.
std::vector<std::string> servers_in_room(storage::connection& c, const std::string& room_id);

// The stripped state (spec: "Stripped state") a client sees of a room before joining: create,
// join rules, name, avatar, topic, canonical alias, encryption — sent with invites and knocks.
boost::json::array stripped_room_state(storage::connection& c, const std::string& room_id);

} // namespace myelin::federation
