// GET /v1/rooms/{roomId}/hierarchy (spec: client-server "Spaces"): the space tree below a room,
// depth first, following m.space.child events with a non-empty `via`. Rooms the user may not
// see (neither joined nor invited, not public, knockable or world readable, not a restricted room
// they qualify for) are left out together with their subtree; rooms this server does not know
// are skipped (walking into remote rooms needs federation).
//
// The walk is deterministic, so a page token is just how many rooms were already returned, plus
// the two parameters that must not change between pages: "h<offset>_<suggested 0|1>_<depth>".
#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <set>

#include "actors/client_reader/params.hpp"
#include "actors/client_reader/room_summary.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/federation/federation.hpp"
#include "actors/rooms/rooms.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
using rooms::room_summary;
using storage::events::event_row;

namespace {

constexpr size_t default_limit = 50;
constexpr size_t max_limit = 100;
constexpr int64_t default_max_depth = 50;
constexpr size_t max_rooms_walked = 2000;  // bounds one request however big the tree

struct page_token {
  size_t offset = 0;
  bool suggested_only = false;
  int64_t max_depth = default_max_depth;
};

std::string to_token(const page_token& t) {
  return "h" + std::to_string(t.offset) + "_" + (t.suggested_only ? "1" : "0") + "_" + std::to_string(t.max_depth);
}

page_token parse_token(const std::string& s) {
  auto bad = [] { return protocol::errors::invalid_param("Unknown pagination token"); };
  if (s.size() < 6 || s[0] != 'h') throw bad();
  auto a = s.find('_'), b = s.rfind('_');
  if (a == std::string::npos || b == a || b != a + 2) throw bad();
  page_token t;
  auto r1 = std::from_chars(s.data() + 1, s.data() + a, t.offset);
  auto r2 = std::from_chars(s.data() + b + 1, s.data() + s.size(), t.max_depth);
  if (r1.ec != std::errc{} || r1.ptr != s.data() + a || r2.ec != std::errc{} || r2.ptr != s.data() + s.size())
    throw bad();
  if (s[a + 1] != '0' && s[a + 1] != '1') throw bad();
  t.suggested_only = s[a + 1] == '1';
  return t;
}

// The spec's list of who may see a room in the hierarchy.
bool accessible(storage::connection& c, const room_summary& s, const std::string& user_id) {
  auto m = storage::events::current_membership(c, s.room_id, user_id);
  if (m && (*m == "join" || *m == "invite")) return true;
  if (s.world_readable()) return true;
  if (s.join_rule && (*s.join_rule == "public" || *s.join_rule == "knock" || *s.join_rule == "knock_restricted"))
    return true;
  if (s.join_rule && *s.join_rule == "restricted")
    for (const auto& allowed : s.allowed_room_ids) {
      auto am = storage::events::current_membership(c, allowed, user_id);
      if (am && *am == "join") return true;
    }
  return false;
}

bool suggested(const json::object& content) {
  auto* s = content.if_contains("suggested");
  return s && s->is_bool() && s->as_bool();
}

// m.space.child "order": printable ASCII, at most 50 characters; anything else is no order.
std::optional<std::string> child_order(const json::object& content) {
  auto* o = content.if_contains("order");
  if (!o || !o->is_string() || o->as_string().size() > 50) return std::nullopt;
  for (char ch : o->as_string())
    if (ch < 0x20 || ch > 0x7e) return std::nullopt;
  return std::string(o->as_string());
}

struct child {
  event_row event;
  json::object content;
  std::optional<std::string> order;
};

// Children in the spec's order: by `order` (rooms without one last), then by when the child was
// added, then by room id.
std::vector<child> ordered_children(const room_summary& s, bool suggested_only) {
  std::vector<child> out;
  for (const auto& e : s.space_children) {
    auto content = rooms::content_of(e);
    if (suggested_only && !suggested(content)) continue;
    auto order = child_order(content);
    out.push_back({e, std::move(content), std::move(order)});
  }
  std::sort(out.begin(), out.end(), [](const child& a, const child& b) {
    if (a.order.has_value() != b.order.has_value()) return a.order.has_value();
    if (a.order && *a.order != *b.order) return *a.order < *b.order;
    if (a.event.origin_server_ts != b.event.origin_server_ts)
      return a.event.origin_server_ts < b.event.origin_server_ts;
    return a.event.state_key.value_or("") < b.event.state_key.value_or("");
  });
  return out;
}

json::object stripped(const child& ch) {
  return {{"type", ch.event.type},
          {"state_key", ch.event.state_key.value_or("")},
          {"content", ch.content},
          {"sender", ch.event.sender},
          {"origin_server_ts", ch.event.origin_server_ts}};
}

api_response hierarchy(runtime::handler_context& ctx, const api_request& req) {
  const auto& root_id = req.path_params.at(0);
  if (!protocol::is_valid_room_id(root_id)) throw protocol::errors::invalid_param("Invalid room id");
  size_t limit = limit_param(req, default_limit, max_limit);
  page_token params;
  params.suggested_only = bool_param(req, "suggested_only").value_or(false);
  if (auto d = int_param(req, "max_depth")) {
    if (*d < 0) throw protocol::errors::invalid_param("max_depth must be a non-negative integer");
    params.max_depth = std::min(*d, default_max_depth);
  }
  if (auto from = query_param(req, "from"); from && !from->empty()) {
    auto t = parse_token(*from);
    if (t.suggested_only != params.suggested_only || t.max_depth != params.max_depth)
      throw protocol::errors::invalid_param("suggested_only and max_depth cannot change on paginated requests");
    params.offset = t.offset;
  }

  auto c = ctx.db.acquire();
  auto root = rooms::summarize_room(*c, root_id);
  // An unknown room answers like an inaccessible one (the spec's 403 for both).
  if (!root || !accessible(*c, *root, req.user_id))
    throw protocol::errors::forbidden("You are not allowed to view this room");

  struct queued {
    std::string room_id;
    int64_t depth;
  };
  std::vector<queued> stack{{root_id, 0}};
  std::set<std::string> seen;
  json::array rooms;
  size_t index = 0;  // rooms produced so far, including those of earlier pages
  bool more = false;
  while (!stack.empty() && seen.size() < max_rooms_walked) {
    auto [room_id, depth] = stack.back();
    stack.pop_back();
    if (!seen.insert(room_id).second) continue;
    auto s = room_id == root_id ? root : rooms::summarize_room(*c, room_id);
    if (!s || !accessible(*c, *s, req.user_id)) continue;
    if (index >= params.offset + limit) {
      more = true;
      break;
    }
    auto children = ordered_children(*s, params.suggested_only);
    if (index >= params.offset) {
      auto entry = s->to_json(true);
      json::array state;
      for (const auto& ch : children) state.push_back(stripped(ch));
      entry["children_state"] = std::move(state);
      rooms.push_back(std::move(entry));
    }
    ++index;
    if (depth < params.max_depth)
      for (auto it = children.rbegin(); it != children.rend(); ++it)
        if (it->event.state_key && !seen.count(*it->event.state_key))
          stack.push_back({*it->event.state_key, depth + 1});
  }
  json::object body{{"rooms", std::move(rooms)}};
  if (more) {
    page_token next = params;
    next.offset = index;
    body["next_batch"] = to_token(next);
  }
  return runtime::json_response(body);
}

// Whether another server may see a room in a hierarchy: world readable, joinable or knockable by
// anyone, or one of its users is in it (joined or invited).
bool server_may_see(storage::connection& c, const room_summary& s, const std::string& server) {
  if (s.world_readable()) return true;
  if (s.join_rule && (*s.join_rule == "public" || *s.join_rule == "knock" || *s.join_rule == "knock_restricted"))
    return true;
  return !c.exec("SELECT 1 FROM current_state_events WHERE room_id = $1 AND type = 'm.room.member' "
                 "AND membership IN ('join', 'invite') AND state_key LIKE $2 LIMIT 1",
                 {s.room_id, "%:" + server})
              .empty();
}

// GET /_matrix/federation/v1/hierarchy/{roomId} (server-server "Spaces"): one room with its
// m.space.child events and the summaries of the children known here; the requesting server walks
// further itself. 404 for a room unknown here or hidden from it.
api_response federation_hierarchy(runtime::handler_context& ctx, const api_request& req) {
  auto origin = federation::authenticate_origin(ctx, req);
  const auto& root_id = req.path_params.at(0);
  bool suggested_only = bool_param(req, "suggested_only").value_or(false);
  auto c = ctx.db.acquire();
  auto root = rooms::summarize_room(*c, root_id);
  if (!root || !server_may_see(*c, *root, origin)) throw protocol::errors::not_found("Unknown room");
  auto children = ordered_children(*root, suggested_only);
  auto entry = root->to_json(true);
  json::array state, known, inaccessible;
  for (const auto& ch : children) {
    state.push_back(stripped(ch));
    if (!ch.event.state_key) continue;
    auto s = rooms::summarize_room(*c, *ch.event.state_key);
    if (!s) continue;  // not known here: the asking server may know it from elsewhere
    if (server_may_see(*c, *s, origin))
      known.push_back(s->to_json(true));
    else
      inaccessible.emplace_back(*ch.event.state_key);
  }
  entry["children_state"] = std::move(state);
  return runtime::json_response(json::object{
      {"room", std::move(entry)}, {"children", std::move(known)}, {"inaccessible_children", std::move(inaccessible)}});
}

} // namespace

void register_hierarchy(runtime::endpoint_registry& r) {
  r.add({.name = "federation.hierarchy", .method = "GET", .path = "/_matrix/federation/v1/hierarchy/{roomId}",
         .auth = auth_mode::none},
        federation_hierarchy);
  r.add({.name = "rooms.hierarchy", .method = "GET", .path = "/_matrix/client/v1/rooms/{roomId}/hierarchy",
         .allow_guest = true},
        hierarchy);
}

} // namespace myelin::endpoints
