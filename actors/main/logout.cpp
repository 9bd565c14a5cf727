// POST /logout and /logout/all: revoke the caller's token (and device), or all of them. The
// response waits until this node's token cache has dropped the tokens.
#include <boost/json.hpp>

#include "actors/keys/device_changes.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/runtime/writer_client.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

void register_logout(runtime::endpoint_registry& r) {
  r.add({.name = "logout", .method = "POST", .path = "/_matrix/client/{:r0|v3}/logout", .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto w = ctx.writers.write("accounts", req.user_id, "logout",
                                     {{"user_id", req.user_id}, {"device_id", req.device_id}});
          keys::after_devices_removed(ctx, req.user_id, w);
          return json_response_after(json::object{}, w.position);
        });
  r.add({.name = "logout.all", .method = "POST", .path = "/_matrix/client/{:r0|v3}/logout/all", .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto w = ctx.writers.write("accounts", req.user_id, "logout_all", {{"user_id", req.user_id}});
          keys::after_devices_removed(ctx, req.user_id, w);
          return json_response_after(json::object{}, w.position);
        });
}

} // namespace myelin::endpoints
