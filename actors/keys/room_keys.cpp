// Server-side key backups (spec: client-server "Server-side key backups"):
//   POST /room_keys/version, GET /room_keys/version (the current backup),
//   GET/PUT/DELETE /room_keys/version/{version},
//   PUT/GET/DELETE /room_keys/keys[/{roomId}[/{sessionId}]]?version=…
// A backup is per-user storage that no one subscribes to — /sync never mentions it — so, like
// stored filters, the handlers write it themselves, each request in one transaction of its own on
// the blocking pool, instead of through a stream writer. An upload checks that its version is the
// current one and writes keys and etag in the same transaction, holding the backup's row lock, so
// concurrent uploads and deletions of that backup take turns (a backup created meanwhile simply
// comes after the upload).
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "protocol/key_backup.hpp"
#include "storage/database.hpp"
#include "storage/tables/room_keys.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace kb = protocol::key_backup;
namespace rk = storage::room_keys;

namespace {

constexpr const char* prefix = "/_matrix/client/{:r0|v3|unstable}/room_keys";

protocol::matrix_error unknown_version() { return protocol::errors::not_found("Unknown backup version"); }
protocol::matrix_error no_current_version() { return protocol::errors::not_found("No current backup version"); }

// Keys may only be written to the current backup; the client learns which that is.
protocol::matrix_error wrong_version(int64_t current) {
  return protocol::matrix_error(403, "M_WRONG_ROOM_KEYS_VERSION", "Wrong backup version.",
                                {{"current_version", std::to_string(current)}});
}

std::string path(const char* rest) { return std::string(prefix) + rest; }

// A version from the path or query; one Myelin never handed out names no backup (404).
int64_t existing_version(const std::string& text) {
  auto v = kb::parse_version(text);
  if (!v) throw unknown_version();
  return *v;
}

std::string version_query(const api_request& req) {
  auto v = query_param(req, "version");
  if (!v) throw protocol::errors::missing_param("Missing 'version' query parameter");
  return *v;
}

json::object version_json(const rk::version_info& v) {
  return {{"algorithm", v.algorithm},
          {"auth_data", protocol::parse_value(v.auth_data)},
          {"count", v.count},
          {"etag", std::to_string(v.etag)},
          {"version", std::to_string(v.version)}};
}

json::object key_json(const kb::session_key& k) {
  return {{"first_message_index", k.meta.first_message_index},
          {"forwarded_count", k.meta.forwarded_count},
          {"is_verified", k.meta.is_verified},
          {"session_data", protocol::parse_value(k.session_data)}};
}

// RoomKeysUpdateResponse: what PUT and DELETE on keys answer.
api_response keys_update(int64_t etag, int64_t count) {
  return runtime::json_response(json::object{{"etag", std::to_string(etag)}, {"count", count}});
}

// The part of the backup a keys endpoint names: all of it, one room, or one session.
struct selection {
  std::optional<std::string> room_id;
  std::optional<std::string> session_id;
};
selection selected(const api_request& req) {
  selection s;
  if (req.path_params.size() > 0) s.room_id = req.path_params[0];
  if (req.path_params.size() > 1) s.session_id = req.path_params[1];
  return s;
}

// ---- versions ----

api_response create_version(runtime::handler_context& ctx, const api_request& req) {
  auto body = kb::parse_version_body(body_object(ctx, req));
  auto auth_data = json::serialize(body.auth_data);
  // Two creations racing read the same next number; the primary key lets one win and the other
  // retries with the number after.
  int64_t version = transact_retrying_unique(ctx.db, [&](storage::connection& c) {
    int64_t v = rk::next_version(c, req.user_id);
    rk::insert_version(c, req.user_id, v, body.algorithm, auth_data);
    return v;
  });
  return runtime::json_response(json::object{{"version", std::to_string(version)}});
}

api_response get_current_version(runtime::handler_context& ctx, const api_request& req) {
  auto c = ctx.db.acquire();
  auto v = rk::current_version(*c, req.user_id);
  if (!v) throw no_current_version();
  return runtime::json_response(version_json(*v));
}

api_response get_version(runtime::handler_context& ctx, const api_request& req) {
  auto version = existing_version(req.path_params.at(0));
  auto c = ctx.db.acquire();
  auto v = rk::get_version(*c, req.user_id, version);
  if (!v) throw unknown_version();
  return runtime::json_response(version_json(*v));
}

// Only auth_data changes; the algorithm must stay, and a `version` in the body must be the path's.
api_response update_version(runtime::handler_context& ctx, const api_request& req) {
  auto body = kb::parse_version_body(body_object(ctx, req));
  if (body.version && *body.version != req.path_params.at(0))
    throw protocol::errors::invalid_param("Version in body does not match the version in the path");
  auto version = existing_version(req.path_params.at(0));
  auto auth_data = json::serialize(body.auth_data);
  ctx.db.transact([&](storage::connection& c) {
    auto row = rk::find_version(c, req.user_id, version, /*lock=*/true);
    if (!row || row->deleted) throw unknown_version();
    if (row->algorithm != body.algorithm) throw protocol::errors::invalid_param("Algorithm does not match");
    rk::set_auth_data(c, req.user_id, version, auth_data);
  });
  return runtime::json_response(json::object{});
}

// Deleting a deleted backup succeeds again (the spec says so); one never created is 404.
api_response delete_version(runtime::handler_context& ctx, const api_request& req) {
  auto version = existing_version(req.path_params.at(0));
  ctx.db.transact([&](storage::connection& c) {
    auto row = rk::find_version(c, req.user_id, version, /*lock=*/true);
    if (!row) throw unknown_version();
    if (row->deleted) return;
    rk::mark_deleted(c, req.user_id, version);
    rk::delete_keys(c, req.user_id, version);
  });
  return runtime::json_response(json::object{});
}

// ---- keys ----

// An upload goes to the current backup only: none at all → 404; any other version, even one that
// never existed → 403 naming the current one, so the client can move to it. The etag moves only
// when the replacement rule let at least one key in.
api_response upload(runtime::handler_context& ctx, const api_request& req, const std::vector<kb::session_key>& keys) {
  auto version = kb::parse_version(version_query(req));
  auto [etag, count] = ctx.db.transact([&](storage::connection& c) {
    std::optional<rk::version_row> row;
    if (version) row = rk::find_version(c, req.user_id, *version, /*lock=*/true);
    auto current = rk::current_version_number(c, req.user_id);
    if (!current) throw no_current_version();
    if (!row || row->deleted || *current != *version) throw wrong_version(*current);
    bool changed = rk::store_keys(c, req.user_id, *version, keys) > 0;
    return std::pair{changed ? rk::bump_etag(c, req.user_id, *version) : row->etag,
                     rk::count_keys(c, req.user_id, *version)};
  });
  return keys_update(etag, count);
}

// Any live backup can be read, not only the current one. An empty room or backup is an empty map;
// a single session that is not there is 404.
api_response read_keys(runtime::handler_context& ctx, const api_request& req) {
  auto version = existing_version(version_query(req));
  auto sel = selected(req);
  auto c = ctx.db.acquire();
  auto row = rk::find_version(*c, req.user_id, version);
  if (!row || row->deleted) throw unknown_version();
  auto keys = rk::get_keys(*c, req.user_id, version, sel.room_id, sel.session_id);
  if (sel.session_id) {
    if (keys.empty()) throw protocol::errors::not_found("Key not found");
    return runtime::json_response(key_json(keys.front()));
  }
  json::object rooms;
  for (const auto& k : keys) {
    auto& room = rooms[k.room_id];
    if (!room.is_object()) room = json::object{{"sessions", json::object{}}};
    room.as_object()["sessions"].as_object()[k.session_id] = key_json(k);
  }
  if (sel.room_id) {
    auto* room = rooms.if_contains(*sel.room_id);
    return runtime::json_response(room ? *room : json::object{{"sessions", json::object{}}});
  }
  return runtime::json_response(json::object{{"rooms", std::move(rooms)}});
}

// Deleting keys works on any live backup; the etag moves when keys went.
api_response delete_keys(runtime::handler_context& ctx, const api_request& req) {
  auto version = existing_version(version_query(req));
  auto sel = selected(req);
  auto [etag, count] = ctx.db.transact([&](storage::connection& c) {
    auto row = rk::find_version(c, req.user_id, version, /*lock=*/true);
    if (!row || row->deleted) throw unknown_version();
    bool removed = rk::delete_keys(c, req.user_id, version, sel.room_id, sel.session_id) > 0;
    return std::pair{removed ? rk::bump_etag(c, req.user_id, version) : row->etag,
                     rk::count_keys(c, req.user_id, version)};
  });
  return keys_update(etag, count);
}

} // namespace

void register_room_keys(runtime::endpoint_registry& r) {
  r.add({.name = "room_keys.version.create", .method = "POST", .path = path("/version")}, create_version);
  r.add({.name = "room_keys.version.current", .method = "GET", .path = path("/version")}, get_current_version);
  r.add({.name = "room_keys.version.get", .method = "GET", .path = path("/version/{version}")}, get_version);
  r.add({.name = "room_keys.version.update", .method = "PUT", .path = path("/version/{version}")}, update_version);
  r.add({.name = "room_keys.version.delete", .method = "DELETE", .path = path("/version/{version}")},
        delete_version);

  r.add({.name = "room_keys.keys.put", .method = "PUT", .path = path("/keys")},
        [](runtime::handler_context& ctx, const api_request& req) {
          return upload(ctx, req, kb::parse_rooms(body_object(ctx, req)));
        });
  r.add({.name = "room_keys.room.put", .method = "PUT", .path = path("/keys/{roomId}")},
        [](runtime::handler_context& ctx, const api_request& req) {
          return upload(ctx, req, kb::parse_room(req.path_params.at(0), body_object(ctx, req)));
        });
  r.add({.name = "room_keys.session.put", .method = "PUT", .path = path("/keys/{roomId}/{sessionId}")},
        [](runtime::handler_context& ctx, const api_request& req) {
          return upload(ctx, req, {kb::parse_session(req.path_params.at(0), req.path_params.at(1),
                                                     body_object(ctx, req))});
        });
  struct level {
    const char* name;
    const char* path;
  };
  for (auto [name, rest] : {level{"keys", "/keys"}, level{"room", "/keys/{roomId}"},
                            level{"session", "/keys/{roomId}/{sessionId}"}}) {
    r.add({.name = std::string("room_keys.") + name + ".get", .method = "GET", .path = path(rest)}, read_keys);
    r.add({.name = std::string("room_keys.") + name + ".delete", .method = "DELETE", .path = path(rest)},
          delete_keys);
  }
}

} // namespace myelin::endpoints
