// Reading a room's state and members: GET /rooms/{roomId}/event/{eventId}, /state, /members
// (at: a /messages or a /sync token; membership, not_membership), /joined_members, and GET
// /joined_rooms. A former member reads the state as of their leave; someone never in the room gets 403.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/rooms/rooms.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/tables/timeline.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
using storage::events::event_row;

namespace {

// The state ids the caller may read: at `group`, or the current state.
storage::events::state_ids state_for(storage::connection& c, const std::string& room_id, std::optional<int64_t> group) {
  return group ? storage::events::state_at_group(c, *group) : storage::events::current_state(c, room_id);
}

std::vector<event_row> load(storage::connection& c, const storage::events::state_ids& ids,
                            const std::function<bool(const storage::events::state_key_pair&)>& keep) {
  std::vector<std::string> wanted;
  for (const auto& [k, id] : ids)
    if (keep(k)) wanted.push_back(id);
  auto rows = storage::events::get_events(c, wanted);
  // Stable output: ordered by (type, state_key) like the state map.
  std::map<storage::events::state_key_pair, event_row> sorted;
  for (auto& r : rows) sorted.emplace(storage::events::state_key_pair{r.type, r.state_key.value_or("")}, std::move(r));
  std::vector<event_row> out;
  for (auto& [k, r] : sorted) out.push_back(std::move(r));
  return out;
}

api_response get_event(runtime::handler_context& ctx, const api_request& req) {
  const auto& room_id = req.path_params.at(0);
  auto c = ctx.db.acquire();
  rooms::require_room(*c, room_id);
  auto e = storage::events::get_event(*c, req.path_params.at(1));
  if (!e || e->room_id != room_id || !rooms::can_see_event(*c, req.user_id, *e))
    throw protocol::errors::not_found("Event not found");
  return runtime::json_response(rooms::client_events(*c, {*e}, {req.user_id, req.device_id}).at(0));
}

api_response get_state(runtime::handler_context& ctx, const api_request& req) {
  const auto& room_id = req.path_params.at(0);
  auto c = ctx.db.acquire();
  auto group = rooms::readable_state_group(*c, room_id, req.user_id);
  auto events = load(*c, state_for(*c, room_id, group), [](const auto&) { return true; });
  return runtime::json_response(rooms::client_events(*c, events, {req.user_id, req.device_id}));
}

api_response members(runtime::handler_context& ctx, const api_request& req) {
  const auto& room_id = req.path_params.at(0);
  auto membership = query_param(req, "membership");
  auto not_membership = query_param(req, "not_membership");
  auto c = ctx.db.acquire();
  auto group = rooms::readable_state_group(*c, room_id, req.user_id);
  if (auto at = query_param(req, "at"); at && !at->empty()) {
    // matrix-js-sdk sends its last /sync next_batch here; the spec's prev_batch works too.
    auto point = rooms::timeline_point(*c, room_id, *at);
    if (!point) throw protocol::errors::invalid_param("Invalid 'at' token");
    auto e = storage::timeline::last_event_at(*c, room_id, *point);
    // Never later than what the caller may see (a former member: their leave).
    if (e && e->state_group && (!group || *e->state_group < *group)) group = e->state_group;
  }
  auto events = load(*c, state_for(*c, room_id, group), [](const auto& k) { return k.first == "m.room.member"; });
  std::vector<event_row> chosen;
  for (auto& e : events) {
    std::string m = e.membership.value_or("");
    if (membership && m != *membership) continue;
    if (not_membership && m == *not_membership) continue;
    chosen.push_back(std::move(e));
  }
  return runtime::json_response(
      json::object{{"chunk", rooms::client_events(*c, chosen, {req.user_id, req.device_id})}});
}

api_response joined_members(runtime::handler_context& ctx, const api_request& req) {
  const auto& room_id = req.path_params.at(0);
  auto c = ctx.db.acquire();
  rooms::require_joined(*c, room_id, req.user_id);
  auto events = load(*c, storage::events::current_state(*c, room_id),
                     [](const auto& k) { return k.first == "m.room.member"; });
  json::object joined;
  for (const auto& e : events) {
    if (e.membership.value_or("") != "join") continue;
    auto content = rooms::content_of(e);
    json::object entry;
    if (auto* d = content.if_contains("displayname"); d && d->is_string()) entry["display_name"] = *d;
    if (auto* a = content.if_contains("avatar_url"); a && a->is_string()) entry["avatar_url"] = *a;
    joined[*e.state_key] = std::move(entry);
  }
  return runtime::json_response(json::object{{"joined", std::move(joined)}});
}

} // namespace

void register_room_state(runtime::endpoint_registry& r) {
  r.add({.name = "rooms.event", .method = "GET", .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/event/{eventId}",
         .allow_guest = true, .affinity_param = "roomId"},
        get_event);
  r.add({.name = "rooms.state", .method = "GET", .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/state",
         .allow_guest = true, .affinity_param = "roomId"},
        get_state);
  r.add({.name = "rooms.members", .method = "GET", .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/members",
         .allow_guest = true, .affinity_param = "roomId"},
        members);
  r.add({.name = "rooms.joined_members", .method = "GET",
         .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/joined_members", .allow_guest = true,
         .affinity_param = "roomId"},
        joined_members);
  r.add({.name = "joined_rooms", .method = "GET", .path = "/_matrix/client/{:r0|v3}/joined_rooms",
         .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto c = ctx.db.acquire();
          json::array rooms;
          for (auto& id : storage::events::rooms_for_user(*c, req.user_id, "join")) rooms.emplace_back(id);
          return runtime::json_response(json::object{{"joined_rooms", std::move(rooms)}});
        });
}

} // namespace myelin::endpoints
