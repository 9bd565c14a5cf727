// The legacy (pre-/sync) endpoints Synapse still serves on its sync workers: GET /events (a
// long-polled stream of everything new, tokens interchangeable with /sync's), GET /initialSync and
// GET /rooms/{roomId}/initialSync. Each is a /sync computation reshaped into the old format, so
// visibility, filters and tokens behave the same.
#include "actors/endpoint_helpers.hpp"
#include "actors/sync/sync.hpp"
#include "protocol/errors.hpp"

namespace myelin::sync {

namespace json = boost::json;

namespace {

constexpr int64_t default_legacy_limit = 10;
constexpr int64_t max_legacy_limit = 100;

// The legacy endpoints' `limit` as a /sync filter on the timeline.
std::string timeline_filter(int64_t limit, bool include_leave, const std::string* only_room = nullptr) {
  json::object room{{"timeline", json::object{{"limit", limit}}}, {"include_leave", include_leave}};
  if (only_room) room["rooms"] = json::array{json::value(*only_room)};
  return json::serialize(json::object{{"room", std::move(room)}});
}

int64_t limit_of(const api_request& req) {
  auto v = endpoints::query_param(req, "limit");
  if (!v || v->empty()) return default_legacy_limit;
  try {
    size_t used = 0;
    int64_t n = std::stoll(*v, &used);
    if (used != v->size() || n < 0) throw std::invalid_argument("limit");
    return std::min(n, max_legacy_limit);
  } catch (const std::exception&) {
    throw protocol::errors::invalid_param("limit must be a non-negative integer");
  }
}

json::object& as_obj(json::value& v) { return v.as_object(); }

// Adds room_id back to events of a room section (legacy formats carry it on every event).
json::array with_room(json::array events, const std::string& room_id) {
  for (auto& e : events)
    if (e.is_object()) e.as_object()["room_id"] = room_id;
  return events;
}

json::array events_of(json::object& section, const char* key) {
  if (auto* s = section.if_contains(key); s && s->is_object())
    if (auto* e = s->as_object().if_contains("events"); e && e->is_array()) return e->as_array();
  return {};
}

// State + the timeline's state events, newest per (type, state_key): the room's state at the end.
json::array current_state(json::object& room) {
  std::map<std::pair<std::string, std::string>, json::value> latest;
  for (const char* part : {"state", "timeline"})
    for (auto& e : events_of(room, part))
      if (auto* sk = e.as_object().if_contains("state_key"); sk && sk->is_string())
        latest[{std::string(e.as_object().at("type").as_string()), std::string(sk->as_string())}] = e;
  json::array out;
  for (auto& [key, e] : latest) out.push_back(std::move(e));
  return out;
}

// One room of /initialSync or /rooms/{roomId}/initialSync in the legacy shape.
json::object legacy_room(const std::string& room_id, const char* membership, json::object& room,
                         const std::string& end) {
  json::object messages{{"chunk", with_room(events_of(room, "timeline"), room_id)}, {"end", end}};
  if (auto* tl = room.if_contains("timeline"); tl && tl->is_object())
    if (auto* pb = tl->as_object().if_contains("prev_batch")) messages["start"] = *pb;
  json::object out{{"room_id", room_id},
                   {"membership", membership},
                   {"messages", std::move(messages)},
                   {"state", with_room(current_state(room), room_id)},
                   {"account_data", events_of(room, "account_data")}};
  for (const auto& e : out["state"].as_array())
    if (e.as_object().at("type") == "m.room.join_rules")
      if (auto* c = e.as_object().at("content").as_object().if_contains("join_rule"))
        out["visibility"] = *c == "public" ? "public" : "private";
  return out;
}

json::object initial_sync_body(runtime::handler_context& ctx, const api_request& req, const std::string& filter,
                               json::object& rooms_out, std::string& end) {
  sync_params params;
  params.filter = filter;
  auto outcome = compute_sync(ctx, req, params, current_token(ctx, std::nullopt));
  auto body = json::parse(outcome.response.body).as_object();
  end = std::string(body["next_batch"].as_string());
  rooms_out = body["rooms"].as_object();
  return body;
}

} // namespace

sync_params parse_events_params(const api_request& req) {
  sync_params p;
  if (auto from = endpoints::query_param(req, "from"); from && !from->empty()) {
    p.since = protocol::parse_sync_token(*from);
    if (!p.since) throw protocol::errors::invalid_param("Invalid from token");
  } else {
    p.from_now = true;
  }
  if (auto t = endpoints::query_param(req, "timeout"); t && !t->empty()) {
    try {
      size_t used = 0;
      int64_t v = std::stoll(*t, &used);
      if (used != t->size() || v < 0) throw std::invalid_argument("timeout");
      p.timeout_ms = std::min(v, max_timeout_ms);
    } catch (const std::exception&) {
      throw protocol::errors::invalid_param("timeout must be a non-negative integer");
    }
  }
  p.filter = timeline_filter(max_legacy_limit, false);
  return p;
}

sync_outcome compute_events(runtime::handler_context& ctx, const api_request& req, const sync_params& params,
                            const protocol::sync_token& upto) {
  sync_params p = params;
  if (!p.since) p.since = upto;  // from now: nothing yet
  auto out = compute_sync(ctx, req, p, upto);
  if (out.response.status != 200) return out;
  auto body = json::parse(out.response.body).as_object();
  json::array chunk;
  auto& rooms = body["rooms"].as_object();
  for (const char* section : {"join", "leave"})
    for (auto& [room_id, room] : rooms[section].as_object())
      for (const char* part : {"timeline", "ephemeral"})
        for (auto& e : with_room(events_of(as_obj(room), part), std::string(room_id))) chunk.push_back(std::move(e));
  for (auto& [room_id, room] : rooms["invite"].as_object())
    for (auto& e : events_of(as_obj(room), "invite_state"))
      if (e.as_object().at("type") == "m.room.member") {
        e.as_object()["room_id"] = room_id;
        chunk.push_back(std::move(e));
      }
  for (auto& e : events_of(body, "presence")) chunk.push_back(std::move(e));
  out.empty = chunk.empty();
  out.response = runtime::json_response(json::object{
      {"chunk", std::move(chunk)}, {"start", protocol::format_sync_token(*p.since)}, {"end", body["next_batch"]}});
  return out;
}

} // namespace myelin::sync

namespace myelin::endpoints {

namespace json = boost::json;

void register_legacy_sync(runtime::endpoint_registry& r) {
  r.add({.name = "events", .method = "GET", .path = "/_matrix/client/{:r0|v3}/events", .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          // Without the sync instance (tests calling handlers directly): one computation, no wait.
          auto params = sync::parse_events_params(req);
          return sync::compute_events(ctx, req, params, sync::current_token(ctx, params.since)).response;
        });
  r.add({.name = "initial_sync", .method = "GET", .path = "/_matrix/client/{:r0|v3}/initialSync"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto archived = query_param(req, "archived").value_or("false") == "true";
          json::object rooms;
          std::string end;
          auto body = sync::initial_sync_body(ctx, req, sync::timeline_filter(sync::limit_of(req), archived), rooms, end);
          json::array out_rooms;
          for (auto& [room_id, room] : rooms["join"].as_object())
            out_rooms.push_back(sync::legacy_room(std::string(room_id), "join", room.as_object(), end));
          for (auto& [room_id, room] : rooms["leave"].as_object())
            out_rooms.push_back(sync::legacy_room(std::string(room_id), "leave", room.as_object(), end));
          for (auto& [room_id, room] : rooms["invite"].as_object()) {
            json::object entry{{"room_id", room_id}, {"membership", "invite"},
                               {"invite_state", room.as_object()["invite_state"]}};
            out_rooms.push_back(std::move(entry));
          }
          return runtime::json_response(json::object{{"end", end},
                                                     {"rooms", std::move(out_rooms)},
                                                     {"presence", sync::events_of(body, "presence")},
                                                     {"account_data", sync::events_of(body, "account_data")}});
        });
  r.add({.name = "room.initial_sync", .method = "GET",
         .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/initialSync"},
        [](runtime::handler_context& ctx, const api_request& req) {
          const auto& room_id = req.path_params.at(0);
          json::object rooms;
          std::string end;
          sync::initial_sync_body(ctx, req, sync::timeline_filter(sync::limit_of(req), true, &room_id), rooms, end);
          for (const char* section : {"join", "leave"})
            if (auto* room = rooms[section].as_object().if_contains(room_id)) {
              auto out = sync::legacy_room(room_id, section, room->as_object(), end);
              out["presence"] = json::array{};
              return runtime::json_response(out);
            }
          throw protocol::errors::forbidden("You are not a member of this room");
        });
}

} // namespace myelin::endpoints
