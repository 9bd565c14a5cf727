// Presence (spec: client-server "Presence"):
//   PUT /presence/{userId}/status {presence, status_msg?}   your own only
//   GET /presence/{userId}/status                            yourself, or a user you share a
//                                                            joined room with (Synapse); else 403
// The presence writer applies Synapse's rules (storage/streams/presence_stream.cpp); reads come
// straight from its table, with last_active_ago computed now. With presence.enabled false the
// PUT succeeds without storing anything and the GET says offline, as Synapse with use_presence off.
#include "actors/client_reader/presence.hpp"

#include <boost/json.hpp>

#include <utility>

#include "actors/endpoint_helpers.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "storage/tables/presence.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

void bump_presence(runtime::handler_context& ctx, const std::string& user_id) {
  if (ctx.config.presence.enabled) ctx.writers.send("presence", user_id, "active", {{"user_id", user_id}});
}

namespace {

api_response put_status(runtime::handler_context& ctx, const api_request& req) {
  if (req.path_params.at(0) != req.user_id) throw protocol::errors::forbidden("Can only set your own presence state");
  auto body = body_object(ctx, req);
  auto presence = protocol::req_string(body, "presence");
  if (presence != "online" && presence != "unavailable" && presence != "offline")
    throw protocol::errors::invalid_param("Invalid presence state '" + presence + "'");
  auto status_msg = protocol::opt_string(body, "status_msg");
  if (!ctx.config.presence.enabled) return runtime::json_response(json::object{});
  json::object args{{"user_id", req.user_id}, {"presence", presence}};
  if (status_msg) args["status_msg"] = *status_msg;
  auto w = ctx.writers.write("presence", req.user_id, "set", args);
  return json_response_after(json::object{}, w.position);
}

api_response get_status(runtime::handler_context& ctx, const api_request& req) {
  const auto& target = req.path_params.at(0);
  if (!protocol::is_valid_user_id(target)) throw protocol::errors::invalid_param("Invalid user id");
  if (!ctx.config.presence.enabled) return runtime::json_response(json::object{{"presence", "offline"}});
  auto c = ctx.db.acquire();
  if (target != req.user_id && !storage::presence::shares_joined_room(*c, req.user_id, target))
    throw protocol::errors::forbidden("You are not allowed to see their presence");
  storage::presence::presence_state state;  // never seen: offline
  state.user_id = target;
  if (auto stored = storage::presence::get(*c, target)) state = *stored;
  return runtime::json_response(storage::presence::presence_content(state, now_ms()));
}

} // namespace

void register_presence(runtime::endpoint_registry& r) {
  // Also under the legacy api/v1 prefix, which Synapse still serves for presence.
  for (auto [prefix, suffix] : {std::pair{"/_matrix/client/{:r0|v3}", ""}, std::pair{"/_matrix/client/api/v1", ".v1"}}) {
    std::string path = std::string(prefix) + "/presence/{userId}/status";
    r.add({.name = std::string("presence.put") + suffix, .method = "PUT", .path = path}, put_status);
    r.add({.name = std::string("presence.get") + suffix, .method = "GET", .path = path}, get_status);
  }
}

} // namespace myelin::endpoints
