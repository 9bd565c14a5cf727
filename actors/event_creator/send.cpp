// Sending events: PUT /rooms/{roomId}/send/{eventType}/{txnId} (idempotent per device and txnId,
// across restarts: the persister keeps the txn), PUT /rooms/{roomId}/state/{eventType}/{stateKey}
// and PUT /rooms/{roomId}/redact/{eventId}/{txnId}. The persister runs the auth rules; this file
// checks what a client asked for before it gets there.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/event_creator/append.hpp"
#include "actors/rooms/rooms.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

void check_room_id(const std::string& room_id) {
  if (!protocol::is_valid_room_id(room_id)) throw protocol::errors::invalid_param("Invalid room id");
}

void check_type(const std::string& type) {
  if (type.empty() || type.size() > 255) throw protocol::errors::invalid_param("Invalid event type");
}

void check_txn(const std::string& txn) {
  if (txn.empty() || txn.size() > 255) throw protocol::errors::invalid_param("Invalid transaction id");
}

// State content the server must understand before it is accepted (the auth rules only look at
// power levels and membership).
void check_state_content(runtime::handler_context& ctx, const std::string& room_id, const std::string& type,
                         const json::object& content) {
  if (type == "m.room.canonical_alias") {
    auto c = ctx.db.acquire();
    auto check = [&](const json::value& v) {
      if (!v.is_string()) throw protocol::errors::invalid_param("Aliases must be strings");
      std::string alias(v.as_string());
      auto room = storage::events::room_for_alias(*c, alias);
      if (!room || *room != room_id)
        throw protocol::matrix_error(400, "M_BAD_ALIAS", "Room alias " + alias + " does not point to this room");
    };
    if (auto* a = content.if_contains("alias"); a && !a->is_null()) check(*a);
    if (auto* list = content.if_contains("alt_aliases")) {
      if (!list->is_array()) throw protocol::errors::invalid_param("alt_aliases must be a list");
      for (const auto& v : list->as_array()) check(v);
    }
  } else if (type == "m.room.power_levels") {
    // Integers only (strings of digits were tolerated before room v10; we never create them).
    auto is_level = [](const json::value& v) { return v.is_int64() || v.is_uint64(); };
    for (const char* key : {"ban", "kick", "redact", "invite", "events_default", "state_default", "users_default"})
      if (auto* v = content.if_contains(key); v && !is_level(*v))
        throw protocol::errors::bad_json(std::string("Power level '") + key + "' must be an integer");
    for (const char* key : {"users", "events", "notifications"}) {
      auto* v = content.if_contains(key);
      if (!v) continue;
      if (!v->is_object()) throw protocol::errors::bad_json(std::string("'") + key + "' must be an object");
      for (const auto& kv : v->as_object())
        if (!is_level(kv.value()))
          throw protocol::errors::bad_json(std::string("Power levels in '") + key + "' must be integers");
    }
  } else if (type == "m.room.member") {
    auto* m = content.if_contains("membership");
    if (!m || !m->is_string()) throw protocol::errors::bad_json("m.room.member needs a membership");
  }
}

api_response send_state(runtime::handler_context& ctx, const api_request& req, const std::string& state_key) {
  const auto& room_id = req.path_params.at(0);
  const auto& type = req.path_params.at(1);
  check_room_id(room_id);
  check_type(type);
  auto content = body_object(ctx, req);
  check_event_content(content);
  check_state_content(ctx, room_id, type, content);
  auto ev = append_event(ctx, req, room_id, state_template(type, state_key, std::move(content), req.user_id));
  return json_response_after(json::object{{"event_id", ev.event_id}}, ev.position);
}

api_response get_state(runtime::handler_context& ctx, const api_request& req, const std::string& state_key) {
  const auto& room_id = req.path_params.at(0);
  const auto& type = req.path_params.at(1);
  auto c = ctx.db.acquire();
  auto group = rooms::readable_state_group(*c, room_id, req.user_id);
  std::optional<std::string> event_id;
  if (group) {
    auto ids = storage::events::state_at_group_filtered(*c, *group, {{type, state_key}});
    if (auto it = ids.find({type, state_key}); it != ids.end()) event_id = it->second;
  } else {
    event_id = storage::events::current_state_event_id(*c, room_id, type, state_key);
  }
  if (!event_id) throw protocol::errors::not_found("Event not found");
  auto e = storage::events::get_event(*c, *event_id);
  if (!e) throw protocol::errors::not_found("Event not found");
  auto formatted = rooms::client_events(*c, {*e}, {req.user_id, req.device_id});
  bool full = false;
  if (auto f = query_param(req, "format")) full = *f == "event";
  if (full) return runtime::json_response(formatted.at(0));
  return runtime::json_response(formatted.at(0).as_object().at("content"));
}

} // namespace

void register_send(runtime::endpoint_registry& r) {
  r.add({.name = "rooms.send", .method = "PUT",
         .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/send/{eventType}/{txnId}", .allow_guest = true,
         .rate_limit = "message", .affinity_param = "roomId"},
        [](runtime::handler_context& ctx, const api_request& req) {
          const auto& room_id = req.path_params.at(0);
          const auto& type = req.path_params.at(1);
          check_room_id(room_id);
          check_type(type);
          check_txn(req.path_params.at(2));
          auto content = body_object(ctx, req);
          check_event_content(content);
          if (type == "m.room.redaction") throw protocol::errors::bad_json("Use /redact to redact events");
          json::object t{{"type", type}, {"content", content}, {"sender", req.user_id}};
          auto ev = append_event(ctx, req, room_id, std::move(t), "send", req.path_params.at(2));
          return json_response_after(json::object{{"event_id", ev.event_id}}, ev.position);
        });

  // The state key may be empty: "/state/m.room.name/" and "/state/m.room.name" both mean "".
  r.add({.name = "rooms.state.put", .method = "PUT",
         .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/state/{eventType}/{stateKey}", .allow_guest = false,
         .rate_limit = "message", .affinity_param = "roomId"},
        [](runtime::handler_context& ctx, const api_request& req) { return send_state(ctx, req, req.path_params.at(2)); });
  r.add({.name = "rooms.state.put_empty_key", .method = "PUT",
         .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/state/{eventType}", .rate_limit = "message",
         .affinity_param = "roomId"},
        [](runtime::handler_context& ctx, const api_request& req) { return send_state(ctx, req, ""); });
  r.add({.name = "rooms.state.get", .method = "GET",
         .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/state/{eventType}/{stateKey}", .allow_guest = true,
         .affinity_param = "roomId"},
        [](runtime::handler_context& ctx, const api_request& req) { return get_state(ctx, req, req.path_params.at(2)); });
  r.add({.name = "rooms.state.get_empty_key", .method = "GET",
         .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/state/{eventType}", .allow_guest = true,
         .affinity_param = "roomId"},
        [](runtime::handler_context& ctx, const api_request& req) { return get_state(ctx, req, ""); });

  r.add({.name = "rooms.redact", .method = "PUT",
         .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/redact/{eventId}/{txnId}", .allow_guest = true,
         .rate_limit = "message", .affinity_param = "roomId"},
        [](runtime::handler_context& ctx, const api_request& req) {
          const auto& room_id = req.path_params.at(0);
          const auto& target = req.path_params.at(1);
          check_room_id(room_id);
          check_txn(req.path_params.at(2));
          if (!protocol::is_valid_event_id(target)) throw protocol::errors::invalid_param("Invalid event id");
          auto body = body_object(ctx, req, true);
          json::object content;
          if (auto reason = protocol::opt_string(body, "reason")) content["reason"] = *reason;
          json::object t{{"type", "m.room.redaction"}, {"content", content}, {"sender", req.user_id},
                         {"redacts", target}};
          auto ev = append_event(ctx, req, room_id, std::move(t), "redact", req.path_params.at(2));
          return json_response_after(json::object{{"event_id", ev.event_id}}, ev.position);
        });
}

} // namespace myelin::endpoints
