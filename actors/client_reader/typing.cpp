// Typing notifications (spec: client-server "Typing Notifications"):
//   PUT /rooms/{roomId}/typing/{userId} {typing, timeout}
// Only for yourself, only in a room you are joined to. The typing writer keeps the state in
// memory and expires it; the timeout defaults to 30 s and is capped at 120 s, as in Synapse.
#include <boost/json.hpp>

#include <utility>

#include "actors/client_reader/presence.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/rooms/rooms.hpp"
#include "actors/runtime/writer_client.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

constexpr int64_t default_timeout_ms = 30000;
constexpr int64_t max_timeout_ms = 120000;

api_response set_typing(runtime::handler_context& ctx, const api_request& req) {
  const auto& room_id = req.path_params.at(0);
  if (req.path_params.at(1) != req.user_id) throw protocol::errors::forbidden("Cannot set another user's typing state");
  if (!protocol::is_valid_room_id(room_id)) throw protocol::errors::invalid_param("Invalid room id");
  auto body = body_object(ctx, req);
  auto typing = protocol::opt_bool(body, "typing");
  if (!typing) throw protocol::errors::missing_param("Missing 'typing'");
  auto timeout = protocol::opt_int(body, "timeout").value_or(default_timeout_ms);
  if (timeout < 0) throw protocol::errors::invalid_param("'timeout' must not be negative");
  {
    auto c = ctx.db.acquire();
    rooms::require_joined(*c, room_id, req.user_id);
  }
  auto w = ctx.writers.write("typing", room_id, "set",
                             {{"room_id", room_id},
                              {"user_id", req.user_id},
                              {"typing", *typing},
                              {"timeout_ms", std::min(timeout, max_timeout_ms)}});
  bump_presence(ctx, req.user_id);
  return json_response_after(json::object{}, w.position);
}

} // namespace

void register_typing(runtime::endpoint_registry& r) {
  // Also under the legacy api/v1 prefix, which Synapse still serves for typing.
  for (auto [prefix, suffix] : {std::pair{"/_matrix/client/{:r0|v3}", ""}, std::pair{"/_matrix/client/api/v1", ".v1"}})
    r.add({.name = std::string("typing.put") + suffix, .method = "PUT",
           .path = std::string(prefix) + "/rooms/{roomId}/typing/{userId}"},
          set_typing);
}

} // namespace myelin::endpoints
