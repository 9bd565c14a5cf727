// Receiving PDUs from another server (server-server API "Checks performed on receipt of a PDU"):
// format, signatures, hashes, auth against the event's auth events and the state before it,
// soft-fail against the current state; missing prev_events are fetched. Used by /send/.
#pragma once
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <string>

#include "actors/federation/room_events.hpp"
#include "actors/runtime/endpoint_registry.hpp"

namespace myelin::federation {

// Handles the `pdus` of a transaction from `origin`. Returns the `pdus` object of the /send/
// answer: event id → {} when accepted (or already known), {"error": reason} otherwise. Never
// throws for one bad PDU; a database failure propagates (the whole transaction is retried).
boost::json::object receive_pdus(runtime::handler_context& ctx, const std::string& origin,
                                 const boost::json::array& pdus);

// One checked event from `origin` (send_join, send_leave, send_knock): gaps filled as for /send/.
// nullopt when accepted (or known), else why not.
// `relay`: the event came to us to be passed on (send_join/leave/knock): the federation sender
// sends it to the room's other servers.
std::optional<std::string> receive_pdu(runtime::handler_context& ctx, const std::string& origin,
                                       const checked_pdu& ev, const protocol::room_version& version,
                                       bool relay = false);

} // namespace myelin::federation
