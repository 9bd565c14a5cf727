// GET/POST /login: the flows this server offers and password login (spec: Client-Server API,
// "Login"). A login creates (or takes over) a device and issues a new access token.
#include <boost/json.hpp>

#include "actors/keys/device_changes.hpp"
#include "actors/auth/uia.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/config.hpp"
#include "gateway/gateway.hpp"
#include "protocol/appservice.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/tables/accounts.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

// A new session for `user_id` (a device, an access token) through the accounts writer.
api_response start_session(runtime::handler_context& ctx, const api_request& req, const json::object& body,
                           const std::string& user_id) {
  auto session = make_session_request(ctx, req, protocol::opt_string(body, "device_id"),
                                      protocol::opt_string(body, "initial_device_display_name"));
  json::object args = session.fields;
  args["user_id"] = user_id;
  auto w = ctx.writers.write("accounts", user_id, "login", args);
  keys::after_device_changed(ctx, user_id, session.device_id);
  return json_response_after(session_response(ctx, user_id, session), w.position);
}

// m.login.application_service (spec: Application Service API, "Server admin style permissions"):
// the service's as_token logs in as an existing user of its namespace, no password. Synapse's
// errors: 403 M_EXCLUSIVE outside the namespace, 403 M_FORBIDDEN for a user that does not exist.
api_response appservice_login(runtime::handler_context& ctx, const api_request& req, const json::object& body) {
  if (req.appservice_id.empty()) {
    if (req.user_id.empty()) throw protocol::errors::missing_token();
    throw protocol::errors::unknown_token();  // a user's token is not an as_token
  }
  auto services = current_appservices(ctx.config);
  const auto* as = services->by_id(req.appservice_id);
  if (!as) throw protocol::errors::unknown_token();
  auto user_id = auth::identified_user(body, ctx.config.server_name);
  if (!as->is_interested_in_user(user_id)) throw protocol::matrix_error(403, "M_EXCLUSIVE", "Invalid access_token");
  {
    auto c = ctx.db.acquire();
    auto u = storage::accounts::get_user(*c, user_id);
    if (!u || u->deactivated) throw protocol::errors::forbidden("Invalid login");
  }
  return start_session(ctx, req, body, user_id);
}

api_response login(runtime::handler_context& ctx, const api_request& req) {
  auto body = body_object(ctx, req);
  auto type = protocol::req_string(body, "type");
  if (type == "m.login.application_service") return appservice_login(ctx, req, body);
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
  return start_session(ctx, req, body, user_id);
}

} // namespace

void register_login(runtime::endpoint_registry& r) {
  r.add({.name = "login.flows", .method = "GET", .path = "/_matrix/client/{:r0|v3}/login",
         .auth = auth_mode::none, .nonblocking = true},
        [](runtime::handler_context& ctx, const api_request&) {
          json::array flows;
          if (ctx.config.password_login_enabled) flows.push_back(json::object{{"type", "m.login.password"}});
          flows.push_back(json::object{{"type", "m.login.application_service"}});
          return runtime::json_response(json::object{{"flows", std::move(flows)}});
        });
  // Optional auth: an application service logs its users in with its as_token; ?user_id= is not
  // the user to log in (the body's identifier is).
  r.add({.name = "login", .method = "POST", .path = "/_matrix/client/{:r0|v3}/login",
         .auth = auth_mode::optional, .allow_guest = true, .rate_limit = "login", .appservice_login = true},
        login);
}

} // namespace myelin::endpoints
