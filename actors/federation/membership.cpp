// Another server's user joining or leaving one of the rooms this server is in (server-server API
// "Joining Rooms", "Leaving Rooms"): make_join / make_leave hand out an event template built on
// the room's current head, send_join / send_leave take the event back, signed by its server,
// and store it like any received event. send_join answers with the state before the join and its
// auth chain, which the joining server needs to take part in the room; with omit_members (the
// spec's reduced answer for faster joins) the member events are left out, but for a nameless
// room's heroes.
#include <algorithm>
#include <iterator>
#include <set>
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/federation/federation.hpp"
#include "actors/federation/inbound_pdus.hpp"
#include "actors/federation/room_events.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "protocol/auth_rules.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "protocol/redaction.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
using federation::checked_pdu;

namespace {

protocol::pdu stored_pdu(const storage::events::event_row& e, const std::string& room_version) {
  protocol::pdu p{e.event_id, json::parse(e.json).as_object()};
  if (e.redacted_by) p.json = protocol::redact(p.json, room_version);
  return p;
}

// The user a membership request is about, who must belong to the requesting server.
std::string member_of_origin(const api_request& req, const std::string& origin) {
  const auto& user_id = req.path_params.at(1);
  auto parts = protocol::split_user_id(user_id);
  if (!parts || !protocol::is_valid_user_id(user_id)) throw protocol::errors::invalid_param("Invalid user id");
  if (parts->server_name != origin) throw protocol::errors::forbidden("The user does not belong to your server");
  return user_id;
}

api_response make_membership(runtime::handler_context& ctx, const api_request& req, const std::string& membership) {
  auto origin = federation::authenticate_origin(ctx, req);
  const auto& room_id = req.path_params.at(0);
  auto user_id = member_of_origin(req, origin);
  auto c = ctx.db.acquire();
  const auto& version = federation::room_version_of(*c, room_id);
  federation::require_acl_allows(*c, room_id, origin);
  if (membership == "join" || membership == "knock") {
    // The joining server lists the versions it supports (`ver`, repeated); v1 when none.
    bool supported = false;
    bool any = false;
    for (const auto& [k, v] : req.query)
      if (k == "ver") {
        any = true;
        supported = supported || v == version.id;
      }
    if (!any) supported = version.id == "1";
    if (!supported)
      throw protocol::matrix_error(400, "M_INCOMPATIBLE_ROOM_VERSION",
                                   "Your server does not support room version " + std::string(version.id),
                                   json::object{{"room_version", std::string(version.id)}});
  }
  auto head = storage::events::get_room_head(*c, room_id);
  auto servers = federation::servers_in_room(*c, room_id);
  if (!head || std::find(servers.begin(), servers.end(), ctx.config.server_name) == servers.end())
    throw protocol::errors::not_found("This server is not in the room");

  protocol::pdu ev;
  ev.json = {{"type", "m.room.member"},
             {"state_key", user_id},
             {"sender", user_id},
             {"room_id", room_id},
             {"content", json::object{{"membership", membership}}}};
  // Auth events from the current state, and the rules checked now so a refusal is clear.
  protocol::auth_state auth;
  std::vector<protocol::pdu> auth_pdus;
  auth_pdus.reserve(8);
  json::array auth_ids;
  for (const auto& key : protocol::auth_types_for_event(version, ev))
    if (auto id = storage::events::current_state_event_id(*c, room_id, key.first, key.second))
      if (auto row = storage::events::get_event(*c, *id)) {
        auth_pdus.push_back(stored_pdu(*row, std::string(version.id)));
        auth_ids.emplace_back(*id);
      }
  for (const auto& p : auth_pdus) auth[{std::string(p.type()), std::string(*p.state_key())}] = &p;
  if (auto why = protocol::check_auth(version, ev, auth)) throw protocol::errors::forbidden(*why);

  json::array prev;
  for (const auto& x : head->forward_extremities) prev.emplace_back(x);
  ev.json["auth_events"] = std::move(auth_ids);
  ev.json["prev_events"] = std::move(prev);
  ev.json["depth"] = head->depth + 1;
  ev.json["origin"] = origin;
  ev.json["origin_server_ts"] = now_ms();
  return runtime::json_response(json::object{{"event", std::move(ev.json)}, {"room_version", std::string(version.id)}});
}

// send_join / send_leave: the signed event back from the server that asked for the template.
// Returns the stored event's row (for the join's answer).
storage::events::event_row accept_membership(runtime::handler_context& ctx, const api_request& req,
                                             const std::string& origin, const std::string& membership,
                                             const protocol::room_version*& version_out) {
  const auto& room_id = req.path_params.at(0);
  const auto& event_id = req.path_params.at(1);
  const protocol::room_version* version = nullptr;
  {
    auto c = ctx.db.acquire();
    version = &federation::room_version_of(*c, room_id);
    federation::require_acl_allows(*c, room_id, origin);
  }
  version_out = version;
  auto body = protocol::parse_object(req.body);
  auto checked = federation::check_received_pdu(ctx, *version, body);
  if (auto* why = std::get_if<std::string>(&checked)) throw protocol::errors::bad_json("Bad event: " + *why);
  auto& ev = std::get<checked_pdu>(checked);
  if (ev.event_id != event_id) throw protocol::errors::bad_json("The event id does not match the event");
  if (ev.room_id() != room_id) throw protocol::errors::bad_json("The event is for another room");
  if (ev.type() != "m.room.member" || ev.membership() != membership)
    throw protocol::errors::bad_json("Not a " + membership + " event");
  if (!ev.state_key() || *ev.state_key() != ev.sender()) throw protocol::errors::bad_json("state_key must be the sender");
  auto parts = protocol::split_user_id(std::string(ev.sender()));
  if (!parts || parts->server_name != origin) throw protocol::errors::forbidden("The sender does not belong to your server");
  if (auto why = federation::receive_pdu(ctx, origin, ev, *version, /*relay=*/true))
    throw protocol::errors::forbidden(*why);
  auto c = ctx.db.acquire();
  auto row = storage::events::get_event(*c, ev.event_id);
  if (!row || row->stream_ordering < 0) throw protocol::errors::forbidden("The event was not accepted");
  return *row;
}

// With omit_members (faster joins): the member events a room without a name or canonical alias
// still needs in the answer, so the joining server can name it — its heroes, the first five joined
// or invited members other than `joiner` by stream order, as /sync picks them.
std::vector<std::string> hero_member_ids(storage::connection& c, const storage::events::state_ids& state,
                                         const std::string& joiner) {
  constexpr size_t max_heroes = 5;
  std::vector<std::string> member_ids;
  for (const auto& [key, id] : state) {
    if (key.first == "m.room.name" || key.first == "m.room.canonical_alias") return {};
    if (key.first == "m.room.member" && key.second != joiner) member_ids.push_back(id);
  }
  auto rows = storage::events::get_events(c, member_ids);
  std::erase_if(rows, [](const auto& e) { return e.membership != "join" && e.membership != "invite"; });
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.stream_ordering < b.stream_ordering; });
  std::vector<std::string> out;
  for (size_t i = 0; i < rows.size() && i < max_heroes; ++i) out.push_back(rows[i].event_id);
  return out;
}

api_response send_join(runtime::handler_context& ctx, const api_request& req) {
  auto origin = federation::authenticate_origin(ctx, req);
  bool omit_members = query_param(req, "omit_members") == "true";
  const protocol::room_version* version = nullptr;
  auto row = accept_membership(ctx, req, origin, "join", version);
  auto c = ctx.db.acquire();
  std::string v(version->id);
  auto state = federation::state_before(*c, row);
  std::vector<std::string> state_ids;
  if (omit_members) {
    for (const auto& [key, id] : state)
      if (key.first != "m.room.member") state_ids.push_back(id);
    std::ranges::move(hero_member_ids(*c, state, row.sender), std::back_inserter(state_ids));
  } else {
    for (const auto& [key, id] : state) state_ids.push_back(id);
  }
  json::array state_pdus, chain;
  for (const auto& e : storage::events::get_events(*c, state_ids)) state_pdus.push_back(federation::federation_format(e, v));
  auto roots = state_ids;
  roots.push_back(row.event_id);
  // The spec lets a reduced answer leave out of the auth chain what `state` already carries.
  std::set<std::string> in_state(state_ids.begin(), state_ids.end());
  for (const auto& e : federation::auth_chain(*c, roots))
    if (!omit_members || !in_state.count(e.event_id)) chain.push_back(federation::federation_format(e, v));
  // The servers in the room before the join: the joining server only if it was already in.
  std::vector<std::string> origin_members;
  for (const auto& [key, id] : state)
    if (key.first == "m.room.member" && key.second.ends_with(":" + origin)) origin_members.push_back(id);
  bool origin_was_in = std::ranges::any_of(storage::events::get_events(*c, origin_members),
                                           [](const auto& e) { return e.membership == "join"; });
  json::array servers;
  for (const auto& s : federation::servers_in_room(*c, row.room_id))
    if (s != origin || origin_was_in) servers.emplace_back(s);
  return runtime::json_response(json::object{{"origin", ctx.config.server_name},
                                             {"state", std::move(state_pdus)},
                                             {"auth_chain", std::move(chain)},
                                             {"event", federation::federation_format(row, v)},
                                             {"members_omitted", omit_members},
                                             {"servers_in_room", std::move(servers)}});
}

} // namespace

void register_federation_membership(runtime::endpoint_registry& r) {
  r.add({.name = "federation.make_join", .method = "GET",
         .path = "/_matrix/federation/v1/make_join/{roomId}/{userId}", .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) { return make_membership(ctx, req, "join"); });
  r.add({.name = "federation.make_leave", .method = "GET",
         .path = "/_matrix/federation/v1/make_leave/{roomId}/{userId}", .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) { return make_membership(ctx, req, "leave"); });
  r.add({.name = "federation.send_join", .method = "PUT",
         .path = "/_matrix/federation/v2/send_join/{roomId}/{eventId}", .auth = auth_mode::none},
        send_join);
  r.add({.name = "federation.make_knock", .method = "GET",
         .path = "/_matrix/federation/v1/make_knock/{roomId}/{userId}", .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) { return make_membership(ctx, req, "knock"); });
  // send_knock answers with the stripped state the knocking user's client shows.
  r.add({.name = "federation.send_knock", .method = "PUT",
         .path = "/_matrix/federation/v1/send_knock/{roomId}/{eventId}", .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto origin = federation::authenticate_origin(ctx, req);
          const protocol::room_version* version = nullptr;
          auto row = accept_membership(ctx, req, origin, "knock", version);
          auto c = ctx.db.acquire();
          return runtime::json_response(json::object{{"knock_room_state", federation::stripped_room_state(*c, row.room_id)}});
        });
  r.add({.name = "federation.send_leave", .method = "PUT",
         .path = "/_matrix/federation/v2/send_leave/{roomId}/{eventId}", .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto origin = federation::authenticate_origin(ctx, req);
          const protocol::room_version* version = nullptr;
          accept_membership(ctx, req, origin, "leave", version);
          return runtime::json_response(json::object{});
        });
}

} // namespace myelin::endpoints
