// Leaving rooms on someone's behalf: deactivation (client and admin API) makes the account leave
// every room it is in and reject its pending invites, as Synapse does, so the other members see it
// go; the admin room deletion makes every local member leave.
#pragma once
#include <string>
#include <vector>

#include "actors/runtime/endpoint_registry.hpp"

namespace myelin::endpoints {

// Sends `sender`'s m.room.member "leave" event for `target` into `room_id` (sender == target: a
// leave or a rejected invite; otherwise a kick, which needs the sender's power). `reason` may be empty.
stream_position send_leave(runtime::handler_context& ctx, const std::string& room_id, const std::string& target,
                           const std::string& sender, const std::string& reason = {});

// `user_id` leaves every room they are joined to and rejects every invite and knock. A room where
// the leave is refused is logged and skipped (the account change itself has happened). Returns the
// positions of the events sent, for read-after-write.
std::vector<stream_position> leave_all_rooms(runtime::handler_context& ctx, const std::string& user_id);

// Deactivation as the client and admin APIs do it: the accounts writer's "deactivate" (sessions,
// password, profile gone), its device follow-ups, then leave_all_rooms. Returns every position
// written, the accounts write's first.
std::vector<stream_position> deactivate_account(runtime::handler_context& ctx, const std::string& user_id);

} // namespace myelin::endpoints
