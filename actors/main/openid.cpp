// POST /user/{userId}/openid/request_token: a short-lived token a third party can exchange for the
// user's id through GET /_matrix/federation/v1/openid/userinfo.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "storage/database.hpp"
#include "storage/tables/accounts.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

void register_openid(runtime::endpoint_registry& r) {
  r.add({.name = "openid.request_token", .method = "POST",
         .path = "/_matrix/client/{:r0|v3}/user/{userId}/openid/request_token"},
        [](runtime::handler_context& ctx, const api_request& req) {
          if (req.path_params.at(0) != req.user_id)
            throw protocol::errors::forbidden("Cannot request tokens for other users");
          body_object(ctx, req, true);  // the body is an empty object; reject non-JSON
          auto token = protocol::random_token(32);
          auto now = now_ms();
          {
            auto c = ctx.db.acquire();
            c->exec("INSERT INTO openid_tokens (token, user_id, expires_ts) VALUES ($1, $2, $3)",
                    {token, req.user_id, now + ctx.config.openid_token_lifetime_ms});
            c->exec("DELETE FROM openid_tokens WHERE expires_ts < $1", {now});
          }
          return runtime::json_response(json::object{{"access_token", token},
                                                     {"token_type", "Bearer"},
                                                     {"matrix_server_name", ctx.config.server_name},
                                                     {"expires_in", ctx.config.openid_token_lifetime_ms / 1000}});
        });

  r.add({.name = "openid.userinfo", .method = "GET", .path = "/_matrix/federation/v1/openid/userinfo",
         .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto token = query_param(req, "access_token");
          if (!token) throw protocol::errors::missing_token();
          auto c = ctx.db.acquire();
          auto rows = c->exec("SELECT user_id FROM openid_tokens WHERE token = $1 AND expires_ts > $2",
                              {*token, now_ms()});
          if (rows.empty()) throw protocol::errors::unknown_token();
          return runtime::json_response(json::object{{"sub", rows[0].as_text(0)}});
        });
}

} // namespace myelin::endpoints
