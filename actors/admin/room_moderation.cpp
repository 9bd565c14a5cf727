// Synapse-compatible admin API, room moderation (docs: Synapse "Rooms" admin API, "Delete Room",
// "Block Room", "Purge History"): blocking a room (joins, invites and knocks refused), deleting it
// synchronously (v1) or in the background (v2), and purging old history (background). Background
// tasks run on the node's blocking pool and record their status in room_admin_tasks, so any `main`
// instance can answer for them. Deleting makes every local member leave (as Synapse: each user
// leaves themselves, which the auth rules always allow), optionally moves them to a new room with a
// message, removes the room from the directory and deletes its aliases, then purges its rows (the
// room's persister, events op purge_room). Admins only.
#include <boost/json.hpp>
#include <functional>

#include "actors/admin/admin_helpers.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/event_creator/append.hpp"
#include "actors/event_creator/leave_rooms.hpp"
#include "actors/runtime/blocking_pool.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/events.hpp"
#include "storage/tables/room_moderation.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace errors = protocol::errors;
namespace moderation = storage::room_moderation;

namespace {

struct deletion_params {
  bool block = false;
  bool purge = true;
  bool force_purge = false;
  std::optional<std::string> new_room_user_id;
  std::string room_name = "Content Violation Notification";
  std::string message = "Sharing illegal content on this server is not permitted and rooms in violation will be "
                        "blocked.";
};

// Synapse answers a mistyped flag or text with M_BAD_JSON.
bool bool_param(const json::object& body, const char* key, bool fallback) {
  auto* v = body.if_contains(key);
  if (!v) return fallback;
  if (!v->is_bool()) throw errors::bad_json(std::string("Param '") + key + "' must be a boolean, if given");
  return v->as_bool();
}

std::optional<std::string> string_param(const json::object& body, const char* key) {
  auto* v = body.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) throw errors::bad_json(std::string("Param '") + key + "' must be a string");
  return std::string(v->as_string());
}

deletion_params parse_params(runtime::handler_context& ctx, const json::object& body) {
  deletion_params p;
  p.block = bool_param(body, "block", false);
  p.purge = bool_param(body, "purge", true);
  p.force_purge = bool_param(body, "force_purge", false);
  if (auto name = string_param(body, "room_name")) p.room_name = *name;
  if (auto message = string_param(body, "message")) p.message = *message;
  if (auto user = string_param(body, "new_room_user_id")) {
    admin::local_user_id(ctx, *user);
    auto c = ctx.db.acquire();
    auto u = storage::accounts::get_user(*c, *user);
    if (!u || u->deactivated) throw errors::not_found("Unknown user " + *user);
    p.new_room_user_id = *user;
  }
  return p;
}

bool room_exists(runtime::handler_context& ctx, const std::string& room_id) {
  auto c = ctx.db.acquire();
  return storage::events::get_room(*c, room_id).has_value();
}

// The local users who are joined to, invited to or knocking on the room.
std::vector<std::string> local_members(runtime::handler_context& ctx, const std::string& room_id) {
  auto c = ctx.db.acquire();
  auto r = c->exec("SELECT state_key FROM current_state_events WHERE room_id = $1 AND type = 'm.room.member' "
                   "AND membership IN ('join', 'invite', 'knock') ORDER BY state_key",
                   {room_id});
  std::vector<std::string> out;
  auto suffix = ":" + ctx.config.server_name;
  for (size_t i = 0; i < r.size(); ++i)
    if (r[i].as_text(0).ends_with(suffix)) out.push_back(r[i].as_text(0));
  return out;
}

struct shutdown_outcome {
  json::object result;  // Synapse's fields: kicked_users, failed_to_kick_users, local_aliases, new_room_id
  std::vector<stream_position> positions;
};

// The room the members are moved to: public, where they may not speak, with the message.
std::string make_new_room(runtime::handler_context& ctx, const deletion_params& p, shutdown_outcome& out) {
  api_request as_user;
  as_user.method = "POST";
  as_user.user_id = *p.new_room_user_id;
  as_user.content_type = "application/json";
  as_user.body = protocol::to_string(json::object{{"preset", "public_chat"},
                                                  {"name", p.room_name},
                                                  {"power_level_content_override", {{"users_default", -10}}}});
  auto created = create_room(ctx, as_user);
  auto room_id = protocol::req_string(protocol::parse_object(created.body), "room_id");
  json::object message{{"type", "m.room.message"},
                       {"content", {{"msgtype", "m.text"}, {"body", p.message}}},
                       {"sender", *p.new_room_user_id}};
  out.positions.push_back(append_event(ctx, as_user, room_id, std::move(message)).position);
  return room_id;
}

// Every local member leaves (their own leave event); with a new room, each then joins it.
void remove_members(runtime::handler_context& ctx, const std::string& room_id,
                    const std::optional<std::string>& new_room, const deletion_params& p, shutdown_outcome& out, json::array& kicked, json::array& failed) {
  for (const auto& user : local_members(ctx, room_id)) {
    try {
      out.positions.push_back(send_leave(ctx, room_id, user, user));
      kicked.emplace_back(user);
    } catch (const protocol::matrix_error& e) {
      ctx.log.warn("room deletion: member could not leave",
                   {{"room_id", room_id}, {"user_id", user}, {"error", e.what()}});
      failed.emplace_back(user);
      continue;
    }
    if (!new_room || user == *p.new_room_user_id) continue;
    try {
      api_request as_user;
      as_user.user_id = user;
      auto join = state_template("m.room.member", user, member_content(ctx, user, "join"), user);
      out.positions.push_back(append_event(ctx, as_user, *new_room, std::move(join)).position);
    } catch (const protocol::matrix_error& e) {
      ctx.log.warn("room deletion: member not moved", {{"room_id", *new_room}, {"user_id", user}, {"error", e.what()}});
    }
  }
}

// The room's aliases are deleted, or moved to the new room as Synapse does (so they keep leading
// somewhere); returns them.
json::array remove_aliases(runtime::handler_context& ctx, const std::string& room_id,
                           const std::optional<std::string>& new_room, const std::string& admin_id,
                           shutdown_outcome& out) {
  std::vector<std::string> alias_list;
  {
    auto c = ctx.db.acquire();
    alias_list = storage::events::aliases_for_room(*c, room_id);
  }
  json::array aliases;
  for (const auto& alias : alias_list) {
    out.positions.push_back(ctx.writers.write("events", room_id, "delete_alias", {{"room_alias", alias}}).position);
    if (new_room) {
      json::object args{{"room_alias", alias}, {"room_id", *new_room}, {"creator", admin_id}};
      out.positions.push_back(ctx.writers.write("events", *new_room, "set_alias", args).position);
    }
    aliases.emplace_back(alias);
  }
  return aliases;
}

shutdown_outcome shutdown_room(runtime::handler_context& ctx, const std::string& admin_id, const std::string& room_id,
                               const deletion_params& p) {
  shutdown_outcome out;
  json::array kicked, failed, aliases;
  out.result = json::object{{"new_room_id", nullptr}};
  if (p.block) {
    json::object args{{"room_id", room_id}, {"user_id", admin_id}, {"block", true}};
    out.positions.push_back(ctx.writers.write("events", room_id, "block_room", args).position);
  }
  if (room_exists(ctx, room_id)) {
    std::optional<std::string> new_room;
    if (p.new_room_user_id) new_room = make_new_room(ctx, p, out);
    remove_members(ctx, room_id, new_room, p, out, kicked, failed);
    aliases = remove_aliases(ctx, room_id, new_room, admin_id, out);
    json::object unlisted{{"room_id", room_id}, {"is_public", false}};
    out.positions.push_back(ctx.writers.write("events", room_id, "set_visibility", unlisted).position);
    if (p.purge) {
      if (!failed.empty() && !p.force_purge)
        throw protocol::matrix_error(400, "M_UNKNOWN", "Users are still in this room; force_purge purges it anyway");
      out.positions.push_back(ctx.writers.write("events", room_id, "purge_room", {{"room_id", room_id}}).position);
    }
    if (new_room) out.result["new_room_id"] = *new_room;
  }
  out.result["kicked_users"] = std::move(kicked);
  out.result["failed_to_kick_users"] = std::move(failed);
  out.result["local_aliases"] = std::move(aliases);
  return out;
}

// Validates a deletion request; returns (room id, parameters). An unknown room can only be
// blocked (Synapse allows blocking rooms the server does not know).
std::pair<std::string, deletion_params> deletion_request(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto room_id = admin::checked_room_id(req);
  auto body = body_object(ctx, req, true);
  auto params = parse_params(ctx, body);
  if (!params.block && !room_exists(ctx, room_id)) throw errors::not_found("Unknown room " + room_id);
  return {room_id, params};
}

api_response delete_room_v1(runtime::handler_context& ctx, const api_request& req) {
  auto request = deletion_request(ctx, req);
  auto out = shutdown_room(ctx, req.user_id, request.first, request.second);
  return json_response_after(out.result, out.positions);
}

// ---- background tasks ----

using task_fn = std::function<json::object(runtime::handler_context&)>;

void record(runtime::handler_context& ctx, const moderation::task_row& t) {
  json::object args{{"task_id", t.task_id}, {"kind", t.kind},         {"room_id", t.room_id},
                    {"status", t.status},   {"result", protocol::parse_object(t.result)}, {"created_ts", t.created_ts}};
  if (t.error) args["error"] = *t.error;
  ctx.writers.write("events", t.room_id, "record_room_task", args);
}

// Runs a recorded task: active, then complete with fn's result, or failed with its error.
void run_task(runtime::handler_context& ctx, moderation::task_row t, const task_fn& fn) {
  try {
    t.status = "active";
    record(ctx, t);
    t.result = protocol::to_string(fn(ctx));
    t.status = "complete";
  } catch (const std::exception& e) {
    ctx.log.warn("room task failed", {{"kind", t.kind}, {"room_id", t.room_id}, {"error", e.what()}});
    t.status = "failed";
    t.error = e.what();
  }
  try {
    record(ctx, t);
  } catch (const std::exception& e) {
    ctx.log.error("room task status not recorded", {{"task_id", t.task_id}, {"error", e.what()}});
  }
}

// 400 while a task of this kind is scheduled or running for the room (Synapse refuses those too).
void require_no_task_running(runtime::handler_context& ctx, const std::string& room_id, const std::string& kind) {
  auto c = ctx.db.acquire();
  for (const auto& t : moderation::tasks_for_room(*c, room_id, kind))
    if (t.status == "scheduled" || t.status == "active")
      throw protocol::matrix_error(400, "M_UNKNOWN", "A " + kind + " task is already running for " + room_id);
}

// Records the task as scheduled and runs it on the node's blocking pool; returns its id.
std::string start_task(runtime::handler_context& ctx, const std::string& kind, const std::string& room_id,
                       task_fn fn) {
  moderation::task_row t{protocol::random_alnum(16), kind, room_id, "scheduled", std::nullopt, "{}", now_ms()};
  record(ctx, t);
  if (!ctx.pool) {  // no pool (tests): run now
    run_task(ctx, t, fn);
    return t.task_id;
  }
  // The job builds its own context: the request's is gone when it runs. What it points to (config,
  // database, writer client, views) lives as long as the node, whose pool finishes its jobs on stop.
  ctx.pool->post([config = &ctx.config, db = &ctx.db, writers = &ctx.writers, instance = std::string(ctx.instance),
                  limiter = ctx.limiter, views = ctx.views, key = ctx.signing_key, pool = ctx.pool, t,
                  fn = std::move(fn)]() {
    logger log("admin", instance);
    runtime::handler_context bg{*config, *db, *writers, instance, log, limiter, views, key, pool};
    run_task(bg, t, fn);
  });
  return t.task_id;
}

api_response delete_room_v2(runtime::handler_context& ctx, const api_request& req) {
  auto request = deletion_request(ctx, req);
  const auto& room_id = request.first;
  require_no_task_running(ctx, room_id, "delete_room");
  auto id = start_task(ctx, "delete_room", room_id,
                       [admin_id = req.user_id, room_id, params = request.second](runtime::handler_context& bg) {
                         return shutdown_room(bg, admin_id, room_id, params).result;
                       });
  return runtime::json_response(json::object{{"delete_id", id}});
}

json::object deletion_json(const moderation::task_row& t) {
  json::object o{{"delete_id", t.task_id}, {"room_id", t.room_id}, {"status", t.status},
                 {"shutdown_room", protocol::parse_object(t.result)}};
  if (t.error) o["error"] = *t.error;
  return o;
}

api_response room_delete_status(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto room_id = admin::checked_room_id(req);
  auto c = ctx.db.acquire();
  json::array results;
  for (const auto& t : moderation::tasks_for_room(*c, room_id, "delete_room")) results.push_back(deletion_json(t));
  if (results.empty()) throw errors::not_found("No delete task for room_id '" + room_id + "' found");
  return runtime::json_response(json::object{{"results", std::move(results)}});
}

api_response delete_status(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  const auto& delete_id = req.path_params.at(0);
  auto c = ctx.db.acquire();
  auto t = moderation::get_task(*c, delete_id, "delete_room");
  if (!t) throw errors::not_found("delete id '" + delete_id + "' not found");
  return runtime::json_response(deletion_json(*t));
}

// POST /purge_history/{roomId}[/{eventId}]: message events before the event (by depth) or before
// purge_up_to_ts; delete_local_events also takes local users' events (Synapse's default keeps them).
api_response purge_history(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto room_id = admin::checked_room_id(req);
  auto body = body_object(ctx, req, true);
  if (!room_exists(ctx, room_id)) throw errors::not_found("Unknown room " + room_id);
  json::object args{{"room_id", room_id},
                    {"delete_local_events", bool_param(body, "delete_local_events", false)},
                    {"server_name", ctx.config.server_name}};
  auto event_id = req.path_params.size() > 1 ? std::optional(req.path_params[1])
                                              : string_param(body, "purge_up_to_event_id");
  if (event_id) {
    auto c = ctx.db.acquire();
    auto e = storage::events::get_event(*c, *event_id);
    if (!e) throw errors::not_found("Unknown event " + *event_id);
    if (e->room_id != room_id) throw errors::invalid_param("Event is for wrong room");
    args["before_depth"] = e->topological_ordering;
  } else if (auto* ts = body.if_contains("purge_up_to_ts")) {
    if (!ts->is_int64() || ts->as_int64() < 0)
      throw errors::invalid_param("purge_up_to_ts must be a non-negative integer");
    args["before_ts"] = ts->as_int64();
  } else {
    throw errors::bad_json("must specify purge_up_to_event_id or purge_up_to_ts");
  }
  require_no_task_running(ctx, room_id, "purge_history");
  auto id = start_task(ctx, "purge_history", room_id, [room_id, args](runtime::handler_context& bg) {
    return protocol::parse_object(bg.writers.write("events", room_id, "purge_history", args).result);
  });
  return runtime::json_response(json::object{{"purge_id", id}});
}

api_response purge_history_status(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  const auto& purge_id = req.path_params.at(0);
  auto c = ctx.db.acquire();
  auto t = moderation::get_task(*c, purge_id, "purge_history");
  if (!t) throw errors::not_found("purge id '" + purge_id + "' not found");
  json::object out{{"status", t->status}};
  if (t->error) out["error"] = *t->error;
  return runtime::json_response(out);
}

api_response get_block(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto room_id = admin::checked_room_id(req);
  auto c = ctx.db.acquire();
  auto by = moderation::blocked_by(*c, room_id);
  json::object out{{"block", by.has_value()}};
  if (by) out["user_id"] = *by;
  return runtime::json_response(out);
}

api_response put_block(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto room_id = admin::checked_room_id(req);
  auto body = body_object(ctx, req);
  if (!body.contains("block")) throw errors::missing_param("Missing param 'block'");
  bool block = bool_param(body, "block", false);
  auto w = ctx.writers.write("events", room_id, "block_room",
                             {{"room_id", room_id}, {"user_id", req.user_id}, {"block", block}});
  return json_response_after(json::object{{"block", block}}, w.position);
}

} // namespace

void register_admin_room_moderation(runtime::endpoint_registry& r) {
  r.add({.name = "admin.rooms.delete.v1", .method = "DELETE", .path = "/_synapse/admin/v1/rooms/{roomId}"},
        delete_room_v1);
  r.add({.name = "admin.rooms.delete.v2", .method = "DELETE", .path = "/_synapse/admin/v2/rooms/{roomId}"},
        delete_room_v2);
  r.add({.name = "admin.rooms.delete_status", .method = "GET",
         .path = "/_synapse/admin/v2/rooms/{roomId}/delete_status"},
        room_delete_status);
  r.add({.name = "admin.rooms.delete_status.id", .method = "GET",
         .path = "/_synapse/admin/v2/rooms/delete_status/{deleteId}"},
        delete_status);
  r.add({.name = "admin.rooms.block.get", .method = "GET", .path = "/_synapse/admin/v1/rooms/{roomId}/block"},
        get_block);
  r.add({.name = "admin.rooms.block.put", .method = "PUT", .path = "/_synapse/admin/v1/rooms/{roomId}/block"},
        put_block);
  r.add({.name = "admin.purge_history", .method = "POST", .path = "/_synapse/admin/v1/purge_history/{roomId}"},
        purge_history);
  r.add({.name = "admin.purge_history.event", .method = "POST",
         .path = "/_synapse/admin/v1/purge_history/{roomId}/{eventId}"},
        purge_history);
  r.add({.name = "admin.purge_history_status", .method = "GET",
         .path = "/_synapse/admin/v1/purge_history_status/{purgeId}"},
        purge_history_status);
}

} // namespace myelin::endpoints
