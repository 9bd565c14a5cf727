// The room directory (spec: client-server "Room aliases" and "Listing rooms"):
//   GET/PUT/DELETE /directory/room/{roomAlias}   alias → room id mappings of this server
//   GET /rooms/{roomId}/aliases                  a room's local aliases
//   GET/PUT /directory/list/room/{roomId}        whether a room is published in /publicRooms
// Permissions follow Synapse: creating an alias needs membership of the room; deleting one needs
// to be its creator, a server admin, or a member with the power to send m.room.canonical_alias
// (the same "moderator" test decides who may publish a room).
#include <boost/json.hpp>

#include "actors/appservice/as_client.hpp"
#include "actors/appservice/namespaces.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/event_creator/append.hpp"
#include "actors/federation/federation.hpp"
#include "actors/rooms/rooms.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "protocol/appservice.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "protocol/power_levels.hpp"
#include "protocol/room_versions.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

std::string checked_alias(const std::string& alias) {
  if (!protocol::is_valid_room_alias(alias)) throw protocol::errors::invalid_param("Room alias invalid");
  return alias;
}

bool is_local_alias(const runtime::handler_context& ctx, const std::string& alias) {
  return alias.substr(alias.find(':') + 1) == ctx.config.server_name;
}

void check_room_id(const std::string& room_id) {
  if (!protocol::is_valid_room_id(room_id)) throw protocol::errors::invalid_param("Invalid room id");
}

std::optional<protocol::pdu> current_pdu(storage::connection& c, const std::string& room_id, const char* type) {
  auto id = storage::events::current_state_event_id(c, room_id, type, "");
  if (!id) return std::nullopt;
  auto e = storage::events::get_event(c, *id);
  if (!e) return std::nullopt;
  return protocol::pdu{e->event_id, json::parse(e->json).as_object()};
}

// Synapse's "moderator" test (check_can_change_room_list): joined, with at least the power level
// needed to send m.room.canonical_alias.
bool can_moderate_directory(storage::connection& c, const std::string& room_id, const std::string& user_id) {
  auto membership = storage::events::current_membership(c, room_id, user_id);
  if (!membership || *membership != "join") return false;
  auto room = storage::events::get_room(c, room_id);
  const auto* version = room ? protocol::find_room_version(room->room_version) : nullptr;
  if (!version) return false;
  auto pl = current_pdu(c, room_id, "m.room.power_levels");
  auto create = current_pdu(c, room_id, "m.room.create");
  auto levels = protocol::effective_power_levels(pl ? &*pl : nullptr, create ? &*create : nullptr, *version);
  return levels.user_level(user_id) >= levels.event_level("m.room.canonical_alias", true);
}

api_response with_positions(const json::value& body, const std::vector<stream_position>& positions) {
  auto r = runtime::json_response(body);
  for (const auto& p : positions)
    if (p.position > 0) r.wait_for.push_back(p);
  return r;
}

// After an alias is deleted, drop it from the room's m.room.canonical_alias (alias and
// alt_aliases) as Synapse does. Best effort: the deletion stands even if the user may not send
// that event (the spec recommends exactly this).
std::optional<stream_position> forget_canonical_alias(runtime::handler_context& ctx, const api_request& req,
                                                      const std::string& room_id, const std::string& alias) {
  json::object content;
  {
    auto c = ctx.db.acquire();
    auto pdu = current_pdu(*c, room_id, "m.room.canonical_alias");
    if (!pdu) return std::nullopt;
    content = pdu->content();
  }
  bool changed = false;
  if (auto* a = content.if_contains("alias"); a && a->is_string() && a->as_string() == alias) {
    content.erase("alias");
    changed = true;
  }
  if (auto* alt = content.if_contains("alt_aliases"); alt && alt->is_array()) {
    json::array kept;
    for (const auto& v : alt->as_array())
      if (!(v.is_string() && v.as_string() == alias)) kept.push_back(v);
    if (kept.size() != alt->as_array().size()) {
      changed = true;
      if (kept.empty())
        content.erase("alt_aliases");
      else
        content["alt_aliases"] = std::move(kept);
    }
  }
  if (!changed) return std::nullopt;
  try {
    json::object t{{"type", "m.room.canonical_alias"}, {"state_key", ""}, {"content", content},
                   {"sender", req.user_id}};
    return append_event(ctx, req, room_id, std::move(t)).position;
  } catch (const protocol::matrix_error& e) {
    ctx.log.info("canonical alias not updated after alias deletion",
                 {{"room_id", room_id}, {"alias", alias}, {"error", e.what()}});
    return std::nullopt;
  }
}

api_response get_alias(runtime::handler_context& ctx, const api_request& req) {
  auto alias = checked_alias(req.path_params.at(0));
  // Another server's alias: that server answers (server-server query/directory), servers and all.
  if (!is_local_alias(ctx, alias)) {
    auto remote = federation::query_alias(ctx, alias);
    json::array servers;
    for (const auto& v : remote.servers) servers.emplace_back(v);
    return runtime::json_response(json::object{{"room_id", remote.room_id}, {"servers", std::move(servers)}});
  }
  std::optional<std::string> room_id;
  auto lookup = [&] {
    auto c = ctx.db.acquire();
    return storage::events::room_for_alias(*c, alias);
  };
  room_id = lookup();
  // An unknown alias in a service's namespace: the service may create it on demand (spec:
  // Application Service API, "Querying"); look again once it says yes.
  if (!room_id)
    for (const auto* as : current_appservices(ctx.config)->alias_queriers(alias))
      if (appservice::query_alias(ctx.config, *as, alias)) {
        room_id = lookup();
        break;
      }
  if (!room_id) throw protocol::errors::not_found("Room alias " + alias + " not found");
  return runtime::json_response(
      json::object{{"room_id", *room_id}, {"servers", json::array{json::value(ctx.config.server_name)}}});
}

api_response put_alias(runtime::handler_context& ctx, const api_request& req) {
  auto alias = checked_alias(req.path_params.at(0));
  if (!is_local_alias(ctx, alias)) throw protocol::errors::invalid_param("Room alias must be local");
  auto body = body_object(ctx, req);
  auto room_id = protocol::req_string(body, "room_id");
  check_room_id(room_id);
  bool owned_by_requester = appservice::check_alias_creation(ctx.config, req.appservice_id, alias);
  {
    auto c = ctx.db.acquire();
    rooms::require_room(*c, room_id);
    if (!owned_by_requester && !storage::accounts::is_server_admin(*c, req.user_id)) {
      auto m = storage::events::current_membership(*c, room_id, req.user_id);
      if (!m || *m != "join") throw protocol::errors::forbidden("You must be in the room to create an alias for it");
    }
  }
  auto w = ctx.writers.write("events", room_id, "set_alias",
                             {{"room_alias", alias}, {"room_id", room_id}, {"creator", req.user_id}});
  return json_response_after(json::object{}, w.position);
}

api_response delete_alias(runtime::handler_context& ctx, const api_request& req) {
  auto alias = checked_alias(req.path_params.at(0));
  std::string room_id;
  {
    auto c = ctx.db.acquire();
    auto entry = storage::events::get_alias(*c, alias);
    if (!entry) throw protocol::errors::not_found("Room alias " + alias + " not found");
    room_id = entry->room_id;
    bool allowed = entry->creator == req.user_id || storage::accounts::is_server_admin(*c, req.user_id) ||
                   can_moderate_directory(*c, room_id, req.user_id);
    if (!allowed) throw protocol::errors::forbidden("You don't have permission to delete the alias");
  }
  // The writer of the alias's room owns the mapping: the shard key is the room id.
  auto w = ctx.writers.write("events", room_id, "delete_alias", {{"room_alias", alias}});
  std::vector<stream_position> positions{w.position};
  if (auto p = forget_canonical_alias(ctx, req, room_id, alias)) positions.push_back(*p);
  return with_positions(json::object{}, positions);
}

api_response room_aliases(runtime::handler_context& ctx, const api_request& req) {
  const auto& room_id = req.path_params.at(0);
  check_room_id(room_id);
  auto c = ctx.db.acquire();
  if (!storage::accounts::is_server_admin(*c, req.user_id)) {
    auto m = storage::events::current_membership(*c, room_id, req.user_id);
    bool joined = m && *m == "join";
    bool world_readable = false;
    if (!joined)
      if (auto hv = current_pdu(*c, room_id, "m.room.history_visibility"))
        if (auto* v = hv->content().if_contains("history_visibility"); v && v->is_string())
          world_readable = v->as_string() == "world_readable";
    // An unknown room answers like a room the user is not in: 403, no existence oracle.
    if (!joined && !world_readable) throw protocol::errors::forbidden("You are not a member of the room");
  }
  json::array aliases;
  for (const auto& a : storage::events::aliases_for_room(*c, room_id)) aliases.emplace_back(a);
  return runtime::json_response(json::object{{"aliases", std::move(aliases)}});
}

api_response get_visibility(runtime::handler_context& ctx, const api_request& req) {
  const auto& room_id = req.path_params.at(0);
  check_room_id(room_id);
  auto c = ctx.db.acquire();
  auto room = storage::events::get_room(*c, room_id);
  if (!room) throw protocol::errors::not_found("Unknown room");
  return runtime::json_response(json::object{{"visibility", room->is_public ? "public" : "private"}});
}

api_response put_visibility(runtime::handler_context& ctx, const api_request& req) {
  const auto& room_id = req.path_params.at(0);
  check_room_id(room_id);
  auto body = body_object(ctx, req, true);
  auto visibility = protocol::opt_string(body, "visibility").value_or("public");
  if (visibility != "public" && visibility != "private")
    throw protocol::errors::invalid_param("visibility must be 'public' or 'private'");
  {
    auto c = ctx.db.acquire();
    rooms::require_room(*c, room_id);
    if (!storage::accounts::is_server_admin(*c, req.user_id) && !can_moderate_directory(*c, room_id, req.user_id))
      throw protocol::errors::forbidden(
          "You need to be a moderator in the room to edit its room list entry");
  }
  auto w = ctx.writers.write("events", room_id, "set_visibility",
                             {{"room_id", room_id}, {"is_public", visibility == "public"}});
  return json_response_after(json::object{}, w.position);
}

} // namespace

void register_directory(runtime::endpoint_registry& r) {
  r.add({.name = "directory.alias.get", .method = "GET",
         .path = "/_matrix/client/{:r0|v3}/directory/room/{roomAlias}", .auth = auth_mode::optional,
         .allow_guest = true},
        get_alias);
  r.add({.name = "directory.alias.put", .method = "PUT",
         .path = "/_matrix/client/{:r0|v3}/directory/room/{roomAlias}"},
        put_alias);
  r.add({.name = "directory.alias.delete", .method = "DELETE",
         .path = "/_matrix/client/{:r0|v3}/directory/room/{roomAlias}"},
        delete_alias);
  r.add({.name = "rooms.aliases", .method = "GET", .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/aliases",
         .allow_guest = true},
        room_aliases);
  r.add({.name = "directory.list.get", .method = "GET",
         .path = "/_matrix/client/{:r0|v3}/directory/list/room/{roomId}", .auth = auth_mode::optional,
         .allow_guest = true},
        get_visibility);
  r.add({.name = "directory.list.put", .method = "PUT",
         .path = "/_matrix/client/{:r0|v3}/directory/list/room/{roomId}"},
        put_visibility);
}

} // namespace myelin::endpoints
