// Sending an event from an endpoint: the template goes to the room's persister (the events
// stream writer its room hashes to), which builds, authorises, signs and stores it.
#pragma once
#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "actors/runtime/endpoint_registry.hpp"

namespace myelin::endpoints {

struct appended_event {
  std::string event_id;
  stream_position position;
};

// Sends `event_template` ({type, state_key?, content, sender, redacts?}) into `room_id`. With a
// txn (scope + txn_id), a repeated request returns the first event. Auth failures are 403
// M_FORBIDDEN, an unknown room 404 M_NOT_FOUND.
appended_event append_event(runtime::handler_context& ctx, const api_request& req, const std::string& room_id,
                            boost::json::object event_template, std::optional<std::string> txn_scope = std::nullopt,
                            std::optional<std::string> txn_id = std::nullopt);

// The template of a state event.
boost::json::object state_template(std::string type, std::string state_key, boost::json::object content,
                                   const std::string& sender);

// The member event content for `user_id` with their profile (displayname, avatar_url) filled in.
boost::json::object member_content(runtime::handler_context& ctx, const std::string& user_id,
                                   const std::string& membership, const std::optional<std::string>& reason = {});

// POST /createRoom's handler: `req.user_id` creates the room `req.body` describes. Also used by
// the admin room deletion to make the room its users are moved to.
api_response create_room(runtime::handler_context& ctx, const api_request& req);

// Largest content a client may send, below the spec's 64 KiB limit for a whole PDU.
inline constexpr size_t max_event_content_bytes = 60 * 1024;
// 400 M_BAD_JSON / 413 M_TOO_LARGE for content that cannot become an event.
void check_event_content(const boost::json::object& content);

} // namespace myelin::endpoints
