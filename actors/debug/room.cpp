// GET /_myelin/debug/room/{roomId}: which persister (events stream writer instance) owns a room,
// for operators checking how rooms spread over persisters, and for the split-placement tests.
// Only members of the room may ask.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/rooms/rooms.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

void register_debug_room(runtime::endpoint_registry& r) {
  r.add({.name = "debug.room", .method = "GET", .path = "/_myelin/debug/room/{roomId}"},
        [](runtime::handler_context& ctx, const api_request& req) {
          const auto& room_id = req.path_params.at(0);
          auto c = ctx.db.acquire();
          rooms::require_joined(*c, room_id, req.user_id);
          auto room = rooms::require_room(*c, room_id);
          auto head = storage::events::get_room_head(*c, room_id);
          json::object out{{"room_id", room_id}, {"room_version", room.room_version}};
          if (head) {
            out["persister"] = head->last_persister;
            out["depth"] = head->depth;
            out["stream_ordering"] = head->last_stream_ordering;
          }
          return runtime::json_response(out);
        });
}

} // namespace myelin::endpoints
