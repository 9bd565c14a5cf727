// GET /v1/rooms/{roomId}/timestamp_to_event?ts=&dir=f|b (spec: client-server "Room
// participation"): the event closest to a point in time, in one direction, among the events the
// user may see. Only local history is searched (no federation fallback yet).
#include <boost/json.hpp>

#include "actors/client_reader/params.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/federation/federation.hpp"
#include "actors/federation/room_events.hpp"
#include "actors/rooms/rooms.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

constexpr size_t batch_size = 50;
constexpr size_t max_batches = 20;  // a user who left long ago must not make us scan the room

api_response timestamp_to_event(runtime::handler_context& ctx, const api_request& req) {
  const auto& room_id = req.path_params.at(0);
  if (!protocol::is_valid_room_id(room_id)) throw protocol::errors::invalid_param("Invalid room id");
  auto ts = int_param(req, "ts");
  if (!ts) throw protocol::errors::missing_param("Missing ts");
  auto dir = query_param(req, "dir");
  if (!dir) throw protocol::errors::missing_param("Missing dir");
  if (*dir != "f" && *dir != "b") throw protocol::errors::invalid_param("dir must be 'f' or 'b'");
  bool forwards = *dir == "f";

  auto c = ctx.db.acquire();
  // Not in the room and not world_readable: 403, as for other room reads (unknown room: 404).
  rooms::readable_state_group(*c, room_id, req.user_id);
  for (size_t batch = 0; batch < max_batches; ++batch) {
    auto rows = storage::events::events_by_ts(*c, room_id, *ts, forwards, batch * batch_size, batch_size);
    auto visible = rooms::filter_visible(*c, room_id, req.user_id, rows);
    if (!visible.empty())
      return runtime::json_response(json::object{{"event_id", visible.front().event_id},
                                                 {"origin_server_ts", visible.front().origin_server_ts}});
    if (rows.size() < batch_size) break;
  }
  throw protocol::errors::not_found("Unable to find event from " + std::to_string(*ts) + " in " +
                                    (forwards ? "forward" : "backward") + " direction");
}

} // namespace

// Another server asking (server-server "Timestamp to event"): any event of the room near the time,
// for servers in the room — the asking server filters for its own users.
api_response federation_timestamp_to_event(runtime::handler_context& ctx, const api_request& req) {
  auto origin = federation::authenticate_origin(ctx, req);
  const auto& room_id = req.path_params.at(0);
  auto ts = int_param(req, "ts");
  if (!ts) throw protocol::errors::missing_param("Missing ts");
  auto dir = query_param(req, "dir");
  if (!dir || (*dir != "f" && *dir != "b")) throw protocol::errors::invalid_param("dir must be 'f' or 'b'");
  auto c = ctx.db.acquire();
  federation::room_version_of(*c, room_id);
  federation::require_server_in_room(*c, room_id, origin);
  auto rows = storage::events::events_by_ts(*c, room_id, *ts, *dir == "f", 0, 1);
  if (rows.empty()) throw protocol::errors::not_found("No event found");
  return runtime::json_response(
      json::object{{"event_id", rows.front().event_id}, {"origin_server_ts", rows.front().origin_server_ts}});
}

void register_timestamp_to_event(runtime::endpoint_registry& r) {
  r.add({.name = "federation.timestamp_to_event", .method = "GET",
         .path = "/_matrix/federation/v1/timestamp_to_event/{roomId}", .auth = auth_mode::none},
        federation_timestamp_to_event);
  r.add({.name = "rooms.timestamp_to_event", .method = "GET",
         .path = "/_matrix/client/v1/rooms/{roomId}/timestamp_to_event", .allow_guest = true},
        timestamp_to_event);
}

} // namespace myelin::endpoints
