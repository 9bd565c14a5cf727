// Synapse-compatible admin API, rooms (docs: Synapse "Rooms" admin API): the room list (ordered,
// searched, paged), one room's details, its joined members and its current state. Admins only.
#include <algorithm>
#include <functional>
#include <variant>
#include <boost/json.hpp>

#include "actors/admin/admin_helpers.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/rooms/rooms.hpp"
#include "common/config.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "storage/tables/admin.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace errors = protocol::errors;
using storage::admin::room_summary;

namespace {


json::object room_json(const room_summary& s) {
  return json::object{{"room_id", s.room_id},
                      {"name", admin::or_null(s.name)},
                      {"canonical_alias", admin::or_null(s.canonical_alias)},
                      {"joined_members", s.joined_members},
                      {"joined_local_members", s.joined_local_members},
                      {"version", s.version},
                      {"creator", s.creator},
                      {"encryption", admin::or_null(s.encryption)},
                      {"federatable", s.federatable},
                      {"public", s.is_public},
                      {"join_rules", admin::or_null(s.join_rules)},
                      {"guest_access", admin::or_null(s.guest_access)},
                      {"history_visibility", admin::or_null(s.history_visibility)},
                      {"state_events", s.state_events},
                      {"room_type", admin::or_null(s.room_type)}};
}

// The sort key of an order_by name: strings (a missing one sorts after every present one),
// numbers or flags. Unknown names are refused.
using sort_key = std::pair<int, std::variant<std::string, int64_t>>;
std::function<sort_key(const room_summary&)> order_key(const std::string& order_by) {
  auto text = [](std::optional<std::string> room_summary::*m) {
    return [m](const room_summary& s) { return sort_key{(s.*m) ? 0 : 1, (s.*m).value_or("")}; };
  };
  auto number = [](auto get) { return [get](const room_summary& s) { return sort_key{0, int64_t(get(s))}; }; };
  if (order_by == "name" || order_by == "alphabetical") return text(&room_summary::name);
  if (order_by == "canonical_alias") return text(&room_summary::canonical_alias);
  if (order_by == "encryption") return text(&room_summary::encryption);
  if (order_by == "join_rules") return text(&room_summary::join_rules);
  if (order_by == "guest_access") return text(&room_summary::guest_access);
  if (order_by == "history_visibility") return text(&room_summary::history_visibility);
  if (order_by == "version") return [](const room_summary& s) { return sort_key{0, s.version}; };
  if (order_by == "creator") return [](const room_summary& s) { return sort_key{0, s.creator}; };
  if (order_by == "joined_members" || order_by == "size")
    return number([](const room_summary& s) { return s.joined_members; });
  if (order_by == "joined_local_members") return number([](const room_summary& s) { return s.joined_local_members; });
  if (order_by == "state_events") return number([](const room_summary& s) { return s.state_events; });
  if (order_by == "federatable") return number([](const room_summary& s) { return s.federatable; });
  if (order_by == "public") return number([](const room_summary& s) { return s.is_public; });
  throw errors::invalid_param("Unknown value for order_by: " + order_by);
}

bool contains_ci(const std::optional<std::string>& haystack, const std::string& needle) {
  if (!haystack) return false;
  auto it = std::search(haystack->begin(), haystack->end(), needle.begin(), needle.end(),
                        [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) ==
                                                    std::tolower(static_cast<unsigned char>(b)); });
  return it != haystack->end();
}

// The list is built from every room's summary (a few queries over all rooms), then searched,
// sorted and paged here: an admin listing, not a hot path.
api_response list_rooms(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto from = admin::query_count(req, "from", 0);
  auto limit = admin::query_count(req, "limit", 100, 1000);
  auto key = order_key(query_param(req, "order_by").value_or("name"));
  auto dir = query_param(req, "dir").value_or("f");
  if (dir != "f" && dir != "b") throw errors::invalid_param("dir must be f or b");
  auto search = query_param(req, "search_term");
  if (search && search->empty()) throw errors::invalid_param("search_term cannot be empty");

  std::vector<room_summary> rooms;
  {
    auto c = ctx.db.acquire();
    rooms = storage::admin::room_summaries(*c, ctx.config.server_name);
  }
  if (search)
    std::erase_if(rooms, [&](const room_summary& s) {
      return !contains_ci(s.name, *search) && !contains_ci(s.canonical_alias, *search) &&
             !contains_ci(s.room_id, *search);
    });
  // Ties (and the whole order when keys are equal) fall back to the room id, so pages are stable.
  std::stable_sort(rooms.begin(), rooms.end(), [&](const room_summary& a, const room_summary& b) {
    auto ka = key(a), kb = key(b);
    if (ka != kb) return dir == "f" ? ka < kb : kb < ka;
    return a.room_id < b.room_id;
  });
  json::array page;
  auto total = static_cast<int64_t>(rooms.size());
  for (int64_t i = from; i < std::min(total, from + limit); ++i) page.push_back(room_json(rooms[size_t(i)]));
  json::object out{{"rooms", std::move(page)}, {"offset", from}, {"total_rooms", total}};
  if (from + limit < total) out["next_batch"] = from + limit;
  if (from > 0) out["prev_batch"] = std::max<int64_t>(0, from - limit);
  return runtime::json_response(out);
}

room_summary existing_room(storage::connection& c, const runtime::handler_context& ctx, const std::string& room_id) {
  auto found = storage::admin::room_summaries(c, ctx.config.server_name, room_id);
  if (found.empty()) throw errors::not_found("Room not found");
  return found.front();
}

api_response room_details(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto room_id = admin::checked_room_id(req);
  auto c = ctx.db.acquire();
  auto s = existing_room(*c, ctx, room_id);
  auto out = room_json(s);
  out["topic"] = admin::or_null(s.topic);
  out["avatar"] = admin::or_null(s.avatar);
  return runtime::json_response(out);
}

api_response room_members(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto room_id = admin::checked_room_id(req);
  auto c = ctx.db.acquire();
  existing_room(*c, ctx, room_id);
  json::array members;
  for (auto& m : storage::admin::joined_members(*c, room_id)) members.emplace_back(m);
  auto total = static_cast<int64_t>(members.size());
  return runtime::json_response(json::object{{"members", std::move(members)}, {"total", total}});
}

api_response room_state(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto room_id = admin::checked_room_id(req);
  auto c = ctx.db.acquire();
  if (!storage::events::get_room(*c, room_id)) throw errors::not_found("Room not found");
  std::vector<std::string> ids;
  for (const auto& [_, id] : storage::events::current_state(*c, room_id)) ids.push_back(id);
  auto events = storage::events::get_events(*c, ids);
  std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) {
    return std::tie(a.type, a.state_key) < std::tie(b.type, b.state_key);
  });
  return runtime::json_response(json::object{{"state", rooms::client_events(*c, events, {req.user_id, req.device_id})}});
}

} // namespace

void register_admin_rooms(runtime::endpoint_registry& r) {
  r.add({.name = "admin.rooms.list", .method = "GET", .path = "/_synapse/admin/v1/rooms"}, list_rooms);
  r.add({.name = "admin.rooms.get", .method = "GET", .path = "/_synapse/admin/v1/rooms/{roomId}"}, room_details);
  r.add({.name = "admin.rooms.members", .method = "GET", .path = "/_synapse/admin/v1/rooms/{roomId}/members"},
        room_members);
  r.add({.name = "admin.rooms.state", .method = "GET", .path = "/_synapse/admin/v1/rooms/{roomId}/state"},
        room_state);
}

} // namespace myelin::endpoints
