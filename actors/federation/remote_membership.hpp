// Local users' memberships that need another server: joining a room this server is not in
// (client /join with server_name, a remote alias, or a remote room id), knocking on one, inviting
// another server's user, and rejecting an invite to (or withdrawing a knock on) a room this server
// is not in.
#pragma once
#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "actors/runtime/endpoint_registry.hpp"
#include "protocol/pdu.hpp"
#include "protocol/room_versions.hpp"

namespace myelin::federation {

// Tries `servers` in order: make_join, sign, send_join, then stores the room's state and the join
// through the room's persister. `content`: the member event content (profile, reason). Returns
// the join's position. Throws the last server's Matrix error (403 refused, 404 unknown room,
// 502 unreachable) when none succeeds.
stream_position join_remote_room(runtime::handler_context& ctx, const std::string& user_id, const std::string& room_id,
                                 const std::vector<std::string>& servers, const boost::json::object& content);

// `user_id` knocks on a room this server is not in, through `servers` in turn: make_knock, sign,
// send_knock; the knock is stored with the room's stripped state (knock_room_state), which /sync
// shows under rooms.knock. Returns its position; throws the last server's error.
stream_position knock_remote_room(runtime::handler_context& ctx, const std::string& user_id,
                                  const std::string& room_id, const std::vector<std::string>& servers,
                                  const boost::json::object& content);

// The template step that joins, knocks and leaves through another server share: make_<membership>
// from `server` (with our room versions for join and knock), checked to be the event asked for,
// `content` merged in (keeping a restricted join's authorising user), signed by us.
struct signed_membership {
  const protocol::room_version* version = nullptr;
  protocol::pdu event;
};
signed_membership make_membership_event(runtime::handler_context& ctx, const std::string& server,
                                        const std::string& room_id, const std::string& user_id,
                                        const std::string& membership, const boost::json::object& content);

// Invites another server's user: the room's persister builds the invite from `event_template`
// ({type, state_key, content, sender}), the invitee's server countersigns it (invite v2), and it
// is stored. Returns its position. Auth failures are 403; the remote's refusal its own error.
stream_position invite_remote_user(runtime::handler_context& ctx, const std::string& room_id,
                                   const boost::json::object& event_template);

// `user_id` rejects (or withdraws from) a room this server is only invited to (or knocked on):
// make_leave / send_leave through the inviting server, or a leave stored here only when that
// server cannot be reached. Returns the leave's position.
stream_position leave_remote_room(runtime::handler_context& ctx, const std::string& user_id, const std::string& room_id,
                                  const boost::json::object& content);

} // namespace myelin::federation
