// GET/POST /login: the flows this server offers and password login (spec: Client-Server API,
// "Login"). A login creates (or takes over) a device and issues a new access token.
#include <boost/json.hpp>

#include "actors/keys/device_changes.hpp"
#include "actors/auth/uia.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/config.hpp"
#include "gateway/gateway.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

api_response login(runtime::handler_context& ctx, const api_request& req) {
  auto body = body_object(ctx, req);
  auto type = protocol::req_string(body, "type");
  if (type != "m.login.password" || !ctx.config.password_login_enabled)
    throw protocol::matrix_error(400, "M_UNKNOWN", "Unknown login type " + type);
  auto user_id = auth::identified_user(body, ctx.config.server_name);
  auto password = protocol::req_string(body, "password");
  // Per-account limits (rc_login.account, rc_login.failed_attempts), as Synapse applies them: an
  // account whose failed-attempt bucket is empty is refused even with the right password, so
  // guessing cannot go on faster than the limit.
  if (ctx.limiter) {
    if (auto wait = ctx.limiter->take("login_account", user_id)) throw protocol::errors::limit_exceeded(wait);
    if (auto wait = ctx.limiter->check("login_failed", user_id)) throw protocol::errors::limit_exceeded(wait);
  }
  // Deactivation clears the password hash, so a deactivated account fails here too (as in Synapse).
  if (!auth::check_password(ctx, user_id, password)) {
    if (ctx.limiter) ctx.limiter->take("login_failed", user_id);
    throw protocol::errors::forbidden("Invalid username or password");
  }
  auto session = make_session_request(ctx, req, protocol::opt_string(body, "device_id"),
                                      protocol::opt_string(body, "initial_device_display_name"));
  json::object args = session.fields;
  args["user_id"] = user_id;
  auto w = ctx.writers.write("accounts", user_id, "login", args);
  keys::after_device_changed(ctx, user_id, session.device_id);
  return json_response_after(session_response(ctx, user_id, session), w.position);
}

} // namespace

void register_login(runtime::endpoint_registry& r) {
  r.add({.name = "login.flows", .method = "GET", .path = "/_matrix/client/{:r0|v3}/login",
         .auth = auth_mode::none, .nonblocking = true},
        [](runtime::handler_context& ctx, const api_request&) {
          json::array flows;
          if (ctx.config.password_login_enabled) flows.push_back(json::object{{"type", "m.login.password"}});
          return runtime::json_response(json::object{{"flows", std::move(flows)}});
        });
  r.add({.name = "login", .method = "POST", .path = "/_matrix/client/{:r0|v3}/login",
         .auth = auth_mode::none, .rate_limit = "login"},
        login);
}

} // namespace myelin::endpoints
