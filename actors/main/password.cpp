// POST /account/password: change the password after proving the current one (UIA
// m.login.password). Other devices are logged out unless logout_devices is false.
#include <boost/json.hpp>

#include "actors/keys/device_changes.hpp"
#include "actors/auth/uia.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/config.hpp"
#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

void register_password(runtime::endpoint_registry& r) {
  r.add({.name = "account.password", .method = "POST", .path = "/_matrix/client/{:r0|v3}/account/password"},
        [](runtime::handler_context& ctx, const api_request& req) {
          if (!ctx.config.password_login_enabled) throw protocol::errors::forbidden("Password changes are disabled");
          auto body = body_object(ctx, req);
          auto new_password = protocol::req_string(body, "new_password");
          if (new_password.size() > 512) throw protocol::errors::invalid_param("Password too long");
          if (new_password.size() < ctx.config.password_min_length)
            throw protocol::errors::weak_password("Password is too short");
          auth::require_uia(ctx, req, body, {{"m.login.password"}}, req.user_id);
          json::object args{{"user_id", req.user_id},
                            {"password_hash", protocol::hash_password(new_password)},
                            {"logout_devices", protocol::opt_bool(body, "logout_devices").value_or(true)}};
          if (!req.device_id.empty()) args["keep_device_id"] = req.device_id;
          auto w = ctx.writers.write("accounts", req.user_id, "set_password", args);
          keys::after_devices_removed(ctx, req.user_id, w);
          return json_response_after(json::object{}, w.position);
        });
}

} // namespace myelin::endpoints
