// Child events and threads (spec: client-server "Relationships" and "Threading"):
//   GET /v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]
//   GET /v1/rooms/{roomId}/threads
// Relations page in topological order with the timeline's tokens ("t<topo>_<stream>"), so a
// /messages token works as `from`/`to` too. Thread roots page by their latest reply
// ("th<topo>_<root event id>"). History visibility is applied to every event returned, and a
// parent the user cannot see is as unknown as a missing one.
#include <boost/json.hpp>
#include <charconv>
#include <set>

#include "actors/client_reader/params.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/rooms/rooms.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "storage/tables/events.hpp"
#include "storage/tables/timeline.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
using storage::events::event_row;
namespace timeline = storage::timeline;

namespace {

constexpr size_t default_relations_limit = 5;  // Synapse's default
constexpr size_t max_limit = 100;
constexpr size_t max_scan_rounds = 8;  // bound the work one request does behind invisible events

// The parent, or 404 when it is not in this room or the user may not see it (the spec's one
// answer for both, so the endpoint reveals nothing about rooms the user cannot read).
event_row visible_parent(storage::connection& c, const std::string& room_id, const std::string& event_id,
                         const std::string& user_id) {
  if (!protocol::is_valid_room_id(room_id)) throw protocol::errors::invalid_param("Invalid room id");
  auto e = storage::events::get_event(c, event_id);
  if (!e || e->room_id != room_id || !rooms::can_see_event(c, user_id, *e))
    throw protocol::errors::not_found("Event not found");
  return *e;
}

api_response relations(runtime::handler_context& ctx, const api_request& req,
                       const std::optional<std::string>& rel_type, const std::optional<std::string>& event_type) {
  const auto& room_id = req.path_params.at(0);
  const auto& event_id = req.path_params.at(1);
  bool backwards = backwards_param(req);
  auto from = token_param(req, "from");
  auto to = token_param(req, "to");
  size_t limit = limit_param(req, default_relations_limit, max_limit);
  auto recurse = bool_param(req, "recurse");

  auto c = ctx.db.acquire();
  visible_parent(*c, room_id, event_id, req.user_id);

  auto past_to = [&](const event_row& e) {
    if (!to) return false;
    auto p = timeline::after(e);
    return backwards ? (p.topo < to->topo || (p.topo == to->topo && p.stream <= to->stream))
                     : (p.topo > to->topo || (p.topo == to->topo && p.stream > to->stream));
  };

  std::vector<event_row> out;
  std::optional<timeline::point> cursor = from;
  bool more = false;
  for (size_t round = 0; round < max_scan_rounds && out.size() < limit; ++round) {
    size_t batch = std::max<size_t>(limit * 2, 20);
    std::optional<storage::events::topo_position> pos;
    if (cursor) pos = storage::events::topo_position{cursor->topo, cursor->stream};
    auto rows = storage::events::relations_page(*c, room_id, event_id, rel_type, event_type, pos, backwards, batch);
    std::vector<event_row> candidates;
    bool hit_to = false;
    for (auto& e : rows) {
      if (past_to(e)) {
        hit_to = true;
        break;
      }
      candidates.push_back(std::move(e));
    }
    auto visible = rooms::filter_visible(*c, room_id, req.user_id, candidates);
    std::set<std::string> visible_ids;
    for (const auto& e : visible) visible_ids.insert(e.event_id);
    size_t taken = 0;
    for (auto& e : candidates) {
      if (out.size() >= limit) break;
      ++taken;
      cursor = backwards ? timeline::before(e) : timeline::after(e);
      if (visible_ids.count(e.event_id)) out.push_back(std::move(e));
    }
    more = taken < candidates.size() || (!hit_to && rows.size() == batch);
    if (!more) break;
  }

  json::object body;
  body["chunk"] = rooms::client_events(*c, out, {req.user_id, req.device_id});
  if (more && cursor) body["next_batch"] = timeline::to_token(*cursor);
  if (from) body["prev_batch"] = timeline::to_token(*from);
  // Only direct children are returned: a client asking to recurse is told the depth was 1.
  if (recurse) body["recursion_depth"] = 1;
  return runtime::json_response(body);
}

// ---- threads ----

std::string thread_token(const storage::events::thread_root& t) {
  return "th" + std::to_string(t.latest_topo) + "_" + t.root_id;
}

storage::events::thread_root parse_thread_token(const std::string& s) {
  auto bad = [] { return protocol::errors::invalid_param("Unknown pagination token"); };
  if (s.size() < 5 || s.compare(0, 2, "th") != 0) throw bad();
  auto sep = s.find('_');
  if (sep == std::string::npos) throw bad();
  storage::events::thread_root t;
  auto [ptr, ec] = std::from_chars(s.data() + 2, s.data() + sep, t.latest_topo);
  if (ec != std::errc{} || ptr != s.data() + sep) throw bad();
  t.root_id = s.substr(sep + 1);
  if (!protocol::is_valid_event_id(t.root_id)) throw bad();
  return t;
}

// The m.thread bundled aggregation of one root (spec: "Server-side aggregation of m.thread
// relationships"): the latest reply the user can see, the number of replies, and whether the
// user started or replied to the thread. nullopt when no reply is visible.
std::optional<json::object> thread_aggregation(storage::connection& c, const event_row& root,
                                               const rooms::viewer& v) {
  auto stats = storage::events::thread_summary(c, root.event_id, v.user_id);
  auto replies = storage::events::thread_latest_replies(c, root.event_id, 20);
  auto visible = rooms::filter_visible(c, root.room_id, v.user_id, std::move(replies));
  if (visible.empty()) return std::nullopt;
  auto latest = rooms::client_events(c, {visible.front()}, v);
  return json::object{{"latest_event", latest.at(0)},
                      {"count", stats.count},
                      {"current_user_participated", stats.user_replied || root.sender == v.user_id}};
}

api_response threads(runtime::handler_context& ctx, const api_request& req) {
  const auto& room_id = req.path_params.at(0);
  if (!protocol::is_valid_room_id(room_id)) throw protocol::errors::invalid_param("Invalid room id");
  auto include = query_param(req, "include").value_or("all");
  if (include != "all" && include != "participated")
    throw protocol::errors::invalid_param("include must be 'all' or 'participated'");
  size_t limit = limit_param(req, 20, max_limit);
  std::optional<storage::events::thread_root> from;
  if (auto f = query_param(req, "from"); f && !f->empty()) from = parse_thread_token(*f);

  auto c = ctx.db.acquire();
  try {
    rooms::readable_state_group(*c, room_id, req.user_id);
  } catch (const protocol::matrix_error& e) {
    if (e.status() == 404) throw protocol::errors::forbidden("You are not allowed to view this room");
    throw;
  }
  rooms::viewer v{req.user_id, req.device_id};
  std::optional<std::string> participant;
  if (include == "participated") participant = req.user_id;

  json::array chunk;
  auto cursor = from;
  bool more = false;
  for (size_t round = 0; round < max_scan_rounds && chunk.size() < limit; ++round) {
    size_t batch = limit + 1;
    auto roots = storage::events::thread_roots(*c, room_id, participant, cursor, batch);
    more = roots.size() == batch;
    size_t used = 0;
    for (const auto& t : roots) {
      if (chunk.size() >= limit) break;
      ++used;
      cursor = t;
      auto root = storage::events::get_event(*c, t.root_id);
      if (!root || root->room_id != room_id || !rooms::can_see_event(*c, req.user_id, *root)) continue;
      auto aggregation = thread_aggregation(*c, *root, v);
      if (!aggregation) continue;
      auto ev = rooms::client_events(*c, {*root}, v).at(0).as_object();
      auto& unsigned_obj = ev["unsigned"].as_object();
      json::object relations;
      if (auto* existing = unsigned_obj.if_contains("m.relations"); existing && existing->is_object())
        relations = existing->as_object();
      relations["m.thread"] = std::move(*aggregation);
      unsigned_obj["m.relations"] = std::move(relations);
      chunk.push_back(std::move(ev));
    }
    more = more || used < roots.size();
    if (!more) break;
  }
  json::object body{{"chunk", std::move(chunk)}};
  if (more && cursor) body["next_batch"] = thread_token(*cursor);
  return runtime::json_response(body);
}

} // namespace

void register_relations(runtime::endpoint_registry& r) {
  r.add({.name = "rooms.relations", .method = "GET",
         .path = "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}", .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          return relations(ctx, req, std::nullopt, std::nullopt);
        });
  r.add({.name = "rooms.relations.type", .method = "GET",
         .path = "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}", .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          return relations(ctx, req, req.path_params.at(2), std::nullopt);
        });
  r.add({.name = "rooms.relations.type_event", .method = "GET",
         .path = "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}",
         .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          return relations(ctx, req, req.path_params.at(2), req.path_params.at(3));
        });
  r.add({.name = "rooms.threads", .method = "GET", .path = "/_matrix/client/v1/rooms/{roomId}/threads",
         .allow_guest = true},
        threads);
}

} // namespace myelin::endpoints
