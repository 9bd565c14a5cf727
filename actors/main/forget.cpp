// POST /rooms/{roomId}/forget: the room disappears from the user's view once they have left it.
// Routed to main, like Synapse (no worker regex covers it).
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/rooms/rooms.hpp"
#include "actors/runtime/writer_client.hpp"
#include "protocol/errors.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

void register_forget(runtime::endpoint_registry& r) {
  r.add({.name = "rooms.forget", .method = "POST", .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/forget",
         .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          const auto& room_id = req.path_params.at(0);
          {
            auto c = ctx.db.acquire();
            rooms::require_room(*c, room_id);
            auto m = storage::events::current_membership(*c, room_id, req.user_id);
            if (m && (*m == "join" || *m == "invite" || *m == "knock"))
              throw protocol::matrix_error(400, "M_UNKNOWN", "Leave the room before forgetting it");
          }
          auto w = ctx.writers.write("events", room_id, "forget", {{"user_id", req.user_id}, {"room_id", room_id}});
          return json_response_after(json::object{}, w.position);
        });
}

} // namespace myelin::endpoints
