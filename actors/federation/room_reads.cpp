// What other servers read of a room (server-server API "Retrieving events", "Backfilling and
// retrieving missing events"): one event, the state at an event (whole or as ids), an event's auth
// chain, missing events between two points of the DAG, and history before a point. Only servers
// with a user in the room may read (or anyone, for a world readable room).
#include <boost/json.hpp>
#include <charconv>
#include <queue>
#include <set>

#include "actors/endpoint_helpers.hpp"
#include "actors/federation/federation.hpp"
#include "actors/federation/room_events.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
using storage::events::event_row;

namespace {

// An event of `room_id` (404 otherwise; outliers included, rejected events are not stored).
event_row event_in_room(storage::connection& c, const std::string& room_id, const std::string& event_id) {
  auto e = storage::events::get_event(c, event_id);
  if (!e || e->room_id != room_id) throw protocol::errors::not_found("Unknown event " + event_id);
  return *e;
}

json::array as_pdus(const std::vector<event_row>& rows, const std::string& room_version) {
  json::array out;
  out.reserve(rows.size());
  for (const auto& e : rows) out.push_back(federation::federation_format(e, room_version));
  return out;
}

json::object transaction_of(runtime::handler_context& ctx, json::array pdus) {
  return {{"origin", ctx.config.server_name}, {"origin_server_ts", now_ms()}, {"pdus", std::move(pdus)}};
}

std::vector<std::string> prev_events_of(const event_row& e) {
  std::vector<std::string> out;
  auto pdu = json::parse(e.json).as_object();
  if (auto* p = pdu.if_contains("prev_events"); p && p->is_array())
    for (const auto& id : p->as_array())
      if (id.is_string()) out.emplace_back(id.as_string());
  return out;
}

// Walks back through prev_events from `start`, breadth first, newest depth first, skipping
// `stop` and what is below `min_depth`; at most `limit` events. `include_start`: backfill returns
// the starting events too, get_missing_events does not.
std::vector<event_row> walk_back(storage::connection& c, const std::string& room_id, const std::vector<std::string>& start,
                                 const std::set<std::string>& stop, int64_t min_depth, size_t limit, bool include_start) {
  auto by_depth = [](const event_row& a, const event_row& b) { return a.topological_ordering < b.topological_ordering; };
  std::priority_queue<event_row, std::vector<event_row>, decltype(by_depth)> frontier(by_depth);
  std::set<std::string> seen(stop.begin(), stop.end());
  auto push = [&](const std::vector<std::string>& ids) {
    std::vector<std::string> fresh;
    for (const auto& id : ids)
      if (seen.insert(id).second) fresh.push_back(id);
    for (auto& e : storage::events::get_events(c, fresh))
      if (e.room_id == room_id && e.topological_ordering >= min_depth) frontier.push(std::move(e));
  };
  std::vector<event_row> out;
  if (include_start) {
    push(start);
  } else {
    for (const auto& id : start) seen.insert(id);
    for (auto& e : storage::events::get_events(c, start))
      if (e.room_id == room_id) push(prev_events_of(e));
  }
  while (!frontier.empty() && out.size() < limit) {
    auto e = frontier.top();
    frontier.pop();
    push(prev_events_of(e));
    out.push_back(std::move(e));
  }
  return out;
}

struct room_read {
  std::string origin;
  std::string room_version;
  storage::database::lease c;
};

room_read open_read(runtime::handler_context& ctx, const api_request& req, const std::string& room_id) {
  auto origin = federation::authenticate_origin(ctx, req);
  auto c = ctx.db.acquire();
  std::string version(federation::room_version_of(*c, room_id).id);
  federation::require_acl_allows(*c, room_id, origin);
  federation::require_server_in_room(*c, room_id, origin);
  return {origin, version, std::move(c)};
}

std::vector<std::string> state_and_chain_ids(storage::connection& c, const event_row& at,
                                             std::vector<event_row>* state_rows, std::vector<event_row>* chain_rows) {
  auto state = federation::state_before(c, at);
  std::vector<std::string> ids;
  for (const auto& [key, id] : state) ids.push_back(id);
  auto rows = storage::events::get_events(c, ids);
  auto chain = federation::auth_chain(c, ids);
  if (state_rows) *state_rows = std::move(rows);
  if (chain_rows) *chain_rows = std::move(chain);
  return ids;
}

// The event the state is asked at (`event_id` is required by the spec).
event_row state_point(storage::connection& c, const api_request& req, const std::string& room_id) {
  auto event_id = query_param(req, "event_id");
  if (!event_id) throw protocol::errors::missing_param("Missing event_id");
  return event_in_room(c, room_id, *event_id);
}

} // namespace

void register_federation_room_reads(runtime::endpoint_registry& r) {
  r.add({.name = "federation.event", .method = "GET", .path = "/_matrix/federation/v1/event/{eventId}",
         .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto origin = federation::authenticate_origin(ctx, req);
          auto c = ctx.db.acquire();
          auto e = storage::events::get_event(*c, req.path_params.at(0));
          if (!e) throw protocol::errors::not_found("Unknown event");
          federation::require_server_in_room(*c, e->room_id, origin);
          std::string version(federation::room_version_of(*c, e->room_id).id);
          return runtime::json_response(transaction_of(ctx, as_pdus({*e}, version)));
        });
  r.add({.name = "federation.state", .method = "GET", .path = "/_matrix/federation/v1/state/{roomId}",
         .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto rd = open_read(ctx, req, req.path_params.at(0));
          std::vector<event_row> state, chain;
          state_and_chain_ids(*rd.c, state_point(*rd.c, req, req.path_params.at(0)), &state, &chain);
          return runtime::json_response(json::object{{"pdus", as_pdus(state, rd.room_version)},
                                                     {"auth_chain", as_pdus(chain, rd.room_version)}});
        });
  r.add({.name = "federation.state_ids", .method = "GET", .path = "/_matrix/federation/v1/state_ids/{roomId}",
         .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto rd = open_read(ctx, req, req.path_params.at(0));
          std::vector<event_row> chain;
          auto ids = state_and_chain_ids(*rd.c, state_point(*rd.c, req, req.path_params.at(0)), nullptr, &chain);
          json::array pdu_ids, chain_ids;
          for (const auto& id : ids) pdu_ids.emplace_back(id);
          for (const auto& e : chain) chain_ids.emplace_back(e.event_id);
          return runtime::json_response(json::object{{"pdu_ids", std::move(pdu_ids)}, {"auth_chain_ids", std::move(chain_ids)}});
        });
  r.add({.name = "federation.event_auth", .method = "GET",
         .path = "/_matrix/federation/v1/event_auth/{roomId}/{eventId}", .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto rd = open_read(ctx, req, req.path_params.at(0));
          auto e = event_in_room(*rd.c, req.path_params.at(0), req.path_params.at(1));
          auto chain = federation::auth_chain(*rd.c, {e.event_id});
          return runtime::json_response(json::object{{"auth_chain", as_pdus(chain, rd.room_version)}});
        });
  r.add({.name = "federation.get_missing_events", .method = "POST",
         .path = "/_matrix/federation/v1/get_missing_events/{roomId}", .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) {
          const auto& room_id = req.path_params.at(0);
          auto rd = open_read(ctx, req, room_id);
          auto body = protocol::parse_object(req.body);
          auto earliest = protocol::string_array(body, "earliest_events");
          auto latest = protocol::string_array(body, "latest_events");
          auto limit = std::clamp<int64_t>(protocol::opt_int(body, "limit").value_or(10), 0, 100);
          auto min_depth = protocol::opt_int(body, "min_depth").value_or(0);
          auto events = walk_back(*rd.c, room_id, latest, {earliest.begin(), earliest.end()}, min_depth, size_t(limit), false);
          std::sort(events.begin(), events.end(),
                    [](const event_row& a, const event_row& b) { return a.topological_ordering < b.topological_ordering; });
          return runtime::json_response(json::object{{"events", as_pdus(events, rd.room_version)}});
        });
  r.add({.name = "federation.backfill", .method = "GET", .path = "/_matrix/federation/v1/backfill/{roomId}",
         .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) {
          const auto& room_id = req.path_params.at(0);
          auto rd = open_read(ctx, req, room_id);
          std::vector<std::string> from;
          for (const auto& [k, v] : req.query)
            if (k == "v") from.push_back(v);
          if (from.empty()) throw protocol::errors::missing_param("Missing v");
          int64_t limit = 10;
          if (auto l = query_param(req, "limit")) {
            auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), limit);
            if (ec != std::errc{} || p != l->data() + l->size()) throw protocol::errors::invalid_param("limit is not an integer");
          }
          limit = std::clamp<int64_t>(limit, 0, 100);
          auto events = walk_back(*rd.c, room_id, from, {}, 0, size_t(limit), true);
          return runtime::json_response(transaction_of(ctx, as_pdus(events, rd.room_version)));
        });
}

} // namespace myelin::endpoints
