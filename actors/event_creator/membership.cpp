// Membership (spec: client-server "Room membership"): join by id or alias, invite, leave, kick,
// ban, unban, knock. Each is one m.room.member event; the persister's auth rules decide whether
// it is allowed (a banned user joining, an invite without power, … are 403 M_FORBIDDEN).
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/event_creator/append.hpp"
#include "actors/federation/federation.hpp"
#include "actors/federation/remote_membership.hpp"
#include "actors/rooms/rooms.hpp"
#include "common/config.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/events.hpp"
#include "storage/tables/room_moderation.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

std::string target_user(const runtime::handler_context& ctx, const json::object& body) {
  auto user = protocol::req_string(body, "user_id");
  auto parts = protocol::split_user_id(user);
  if (!parts || !protocol::is_valid_user_id(user)) throw protocol::errors::invalid_param("Invalid user id");
  return user;
}

bool is_local_user(const runtime::handler_context& ctx, const std::string& user_id) {
  auto parts = protocol::split_user_id(user_id);
  return parts && parts->server_name == ctx.config.server_name;
}

// Local users must exist (other servers' users are asked by their server: invite v2).
void require_reachable_user(runtime::handler_context& ctx, const std::string& user_id) {
  if (!is_local_user(ctx, user_id)) return;
  auto c = ctx.db.acquire();
  if (!storage::accounts::get_user(*c, user_id)) throw protocol::errors::not_found("Unknown user " + user_id);
}

// A room a server admin blocked (admin API) takes no new members: joins, invites and knocks are
// refused, as Synapse does.
void require_not_blocked(storage::connection& c, const std::string& room_id) {
  if (storage::room_moderation::blocked_by(c, room_id))
    throw protocol::errors::forbidden("This room has been blocked on this server");
}

// The target's membership in the room now ("" when they never had one).
std::string membership_now(runtime::handler_context& ctx, const std::string& room_id, const std::string& user_id) {
  auto c = ctx.db.acquire();
  return storage::events::current_membership(*c, room_id, user_id).value_or("");
}

// Whether a user of this server is joined to the room now: then this server has the room's state
// and takes new members itself; otherwise a join goes through a server that is in the room.
bool server_in_room(storage::connection& c, const std::string& room_id, const std::string& server_name) {
  return storage::events::server_has_member(c, room_id, server_name, {"join"});
}

// The servers to join a room through: the client's `server_name`/`via`, the alias's servers, the
// server of whoever invited the user, and the room id's own server.
std::vector<std::string> join_candidates(storage::connection& c, const api_request& req, const std::string& room_id,
                                         std::vector<std::string> from_alias) {
  std::vector<std::string> out;
  auto add = [&](const std::string& s) {
    if (!s.empty() && std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  };
  for (const auto& [k, v] : req.query)
    if (k == "server_name" || k == "via") add(v);
  for (const auto& s : from_alias) add(s);
  if (auto id = storage::events::current_state_event_id(c, room_id, "m.room.member", req.user_id))
    if (auto e = storage::events::get_event(c, *id); e && e->membership == std::optional<std::string>("invite"))
      if (auto parts = protocol::split_user_id(e->sender)) add(parts->server_name);
  if (auto colon = room_id.find(':'); colon != std::string::npos) add(room_id.substr(colon + 1));
  return out;
}

// The room a /join or /knock names, and the servers to go through when this server is not in it
// (empty `via`: the room is handled here).
struct target_room {
  std::string room_id;
  std::vector<std::string> via;
};

target_room resolve_target_room(runtime::handler_context& ctx, const api_request& req,
                                const std::string& room_id_or_alias) {
  target_room out;
  std::vector<std::string> alias_servers;
  if (room_id_or_alias.starts_with('#') && protocol::is_valid_room_alias(room_id_or_alias) &&
      !room_id_or_alias.ends_with(":" + ctx.config.server_name)) {
    auto remote = federation::query_alias(ctx, room_id_or_alias);
    out.room_id = remote.room_id;
    alias_servers = std::move(remote.servers);
  }
  auto c = ctx.db.acquire();
  // Before resolving: a blocked room may be gone (purged) and still refuse joins with 403.
  if (room_id_or_alias.starts_with('!')) require_not_blocked(*c, room_id_or_alias);
  if (out.room_id.empty()) {
    if (room_id_or_alias.starts_with('!') && protocol::is_valid_room_id(room_id_or_alias) &&
        !room_id_or_alias.ends_with(":" + ctx.config.server_name) && !storage::events::get_room(*c, room_id_or_alias))
      out.room_id = room_id_or_alias;  // another server's room, unknown here
    else
      out.room_id = rooms::resolve_room(*c, room_id_or_alias);
  }
  require_not_blocked(*c, out.room_id);
  if (!server_in_room(*c, out.room_id, ctx.config.server_name) && !out.room_id.ends_with(":" + ctx.config.server_name))
    out.via = join_candidates(*c, req, out.room_id, std::move(alias_servers));
  return out;
}

api_response join(runtime::handler_context& ctx, const api_request& req, const std::string& room_id_or_alias) {
  auto body = body_object(ctx, req, true);
  auto target = resolve_target_room(ctx, req, room_id_or_alias);
  const auto& room_id = target.room_id;
  const auto& via = target.via;
  {
    auto c = ctx.db.acquire();
    // Joining again changes nothing (Synapse sends no new event either).
    auto m = storage::events::current_membership(*c, room_id, req.user_id);
    if (m && *m == "join") return runtime::json_response(json::object{{"room_id", room_id}});
    if (via.empty() && req.is_guest) {
      auto ga = storage::events::current_state_event_id(*c, room_id, "m.room.guest_access", "");
      std::optional<storage::events::event_row> e;
      if (ga) e = storage::events::get_event(*c, *ga);
      bool can_join = false;
      if (e) {
        auto content = rooms::content_of(*e);
        if (auto* g = content.if_contains("guest_access"); g && g->is_string()) can_join = g->as_string() == "can_join";
      }
      if (!can_join) throw protocol::errors::guest_access_forbidden();
    }
  }
  auto content = member_content(ctx, req.user_id, "join", protocol::opt_string(body, "reason"));
  if (!via.empty()) {
    if (req.is_guest) throw protocol::errors::guest_access_forbidden();
    auto pos = federation::join_remote_room(ctx, req.user_id, room_id, via, content);
    return json_response_after(json::object{{"room_id", room_id}}, pos);
  }
  auto ev = append_event(ctx, req, room_id, state_template("m.room.member", req.user_id, std::move(content), req.user_id));
  return json_response_after(json::object{{"room_id", room_id}}, ev.position);
}

// leave/kick/ban/unban/invite: a member event about `target` sent by the caller.
api_response member_change(runtime::handler_context& ctx, const api_request& req, const std::string& target,
                           const std::string& membership, const json::object& body) {
  const auto& room_id = req.path_params.at(0);
  if (!protocol::is_valid_room_id(room_id)) throw protocol::errors::invalid_param("Invalid room id");
  {
    auto c = ctx.db.acquire();
    rooms::require_room(*c, room_id);
  }
  auto content = member_content(ctx, target, membership, protocol::opt_string(body, "reason"));
  if (membership == "invite" && !is_local_user(ctx, target)) {
    auto pos = federation::invite_remote_user(ctx, room_id,
                                              state_template("m.room.member", target, std::move(content), req.user_id));
    return json_response_after(json::object{}, pos);
  }
  // Our user leaving a room this server is only invited to: through the inviting server.
  if (membership == "leave" && target == req.user_id && !room_id.ends_with(":" + ctx.config.server_name)) {
    bool in_room;
    {
      auto c = ctx.db.acquire();
      in_room = server_in_room(*c, room_id, ctx.config.server_name);
    }
    if (!in_room) {
      auto pos = federation::leave_remote_room(ctx, req.user_id, room_id, content);
      return json_response_after(json::object{}, pos);
    }
  }
  auto ev = append_event(ctx, req, room_id, state_template("m.room.member", target, std::move(content), req.user_id));
  return json_response_after(json::object{}, ev.position);
}

} // namespace

void register_membership(runtime::endpoint_registry& r) {
  r.add({.name = "rooms.join", .method = "POST", .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/join",
         .allow_guest = true, .affinity_param = "roomId"},
        [](runtime::handler_context& ctx, const api_request& req) { return join(ctx, req, req.path_params.at(0)); });
  r.add({.name = "join", .method = "POST", .path = "/_matrix/client/{:r0|v3}/join/{roomIdOrAlias}",
         .allow_guest = true, .affinity_param = "roomIdOrAlias"},
        [](runtime::handler_context& ctx, const api_request& req) { return join(ctx, req, req.path_params.at(0)); });

  r.add({.name = "rooms.invite", .method = "POST", .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/invite",
         .rate_limit = "message", .affinity_param = "roomId"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto body = body_object(ctx, req);
          if (body.contains("id_server") || body.contains("medium"))
            throw protocol::matrix_error(400, "M_UNRECOGNIZED", "Third-party invites are not supported");
          auto target = target_user(ctx, body);
          require_reachable_user(ctx, target);
          {
            auto c = ctx.db.acquire();
            require_not_blocked(*c, req.path_params.at(0));
          }
          // Inviting a member again is a no-op error, as Synapse answers it.
          auto m = membership_now(ctx, req.path_params.at(0), target);
          if (m == "join") throw protocol::errors::forbidden(target + " is already in the room");
          if (m == "ban") throw protocol::errors::forbidden(target + " is banned from the room");
          return member_change(ctx, req, target, "invite", body);
        });
  r.add({.name = "rooms.leave", .method = "POST", .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/leave",
         .allow_guest = true, .affinity_param = "roomId"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto body = body_object(ctx, req, true);
          return member_change(ctx, req, req.user_id, "leave", body);
        });
  r.add({.name = "rooms.kick", .method = "POST", .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/kick",
         .affinity_param = "roomId"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto body = body_object(ctx, req);
          auto target = target_user(ctx, body);
          // Kicking someone who is not in the room would turn a ban or nothing into "leave".
          auto m = membership_now(ctx, req.path_params.at(0), target);
          if (m != "join" && m != "invite" && m != "knock") throw protocol::errors::forbidden(target + " is not in the room");
          return member_change(ctx, req, target, "leave", body);
        });
  r.add({.name = "rooms.ban", .method = "POST", .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/ban",
         .affinity_param = "roomId"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto body = body_object(ctx, req);
          return member_change(ctx, req, target_user(ctx, body), "ban", body);
        });
  r.add({.name = "rooms.unban", .method = "POST", .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/unban",
         .affinity_param = "roomId"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto body = body_object(ctx, req);
          auto target = target_user(ctx, body);
          if (membership_now(ctx, req.path_params.at(0), target) != "ban")
            throw protocol::errors::forbidden(target + " is not banned");
          return member_change(ctx, req, target, "leave", body);
        });
  r.add({.name = "knock", .method = "POST", .path = "/_matrix/client/{:r0|v3}/knock/{roomIdOrAlias}",
         .affinity_param = "roomIdOrAlias"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto body = body_object(ctx, req, true);
          auto target = resolve_target_room(ctx, req, req.path_params.at(0));
          auto content = member_content(ctx, req.user_id, "knock", protocol::opt_string(body, "reason"));
          if (!target.via.empty()) {
            auto pos = federation::knock_remote_room(ctx, req.user_id, target.room_id, target.via, content);
            return json_response_after(json::object{{"room_id", target.room_id}}, pos);
          }
          auto ev = append_event(ctx, req, target.room_id,
                                 state_template("m.room.member", req.user_id, std::move(content), req.user_id));
          return json_response_after(json::object{{"room_id", target.room_id}}, ev.position);
        });
}

} // namespace myelin::endpoints
