// GET /account/whoami and POST /account/deactivate (spec: Client-Server API, "Account management").
#include <boost/json.hpp>

#include "actors/auth/uia.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/event_creator/leave_rooms.hpp"
#include "actors/runtime/writer_client.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

void register_account(runtime::endpoint_registry& r) {
  r.add({.name = "account.whoami", .method = "GET", .path = "/_matrix/client/{:r0|v3}/account/whoami",
         .allow_guest = true, .nonblocking = true},
        [](runtime::handler_context&, const api_request& req) {
          json::object out{{"user_id", req.user_id}, {"is_guest", req.is_guest}};
          if (!req.device_id.empty()) out["device_id"] = req.device_id;
          return runtime::json_response(out);
        });

  // Myelin binds no third-party identifiers (no email/SMS verification), so the list is empty —
  // Element asks for it at startup.
  r.add({.name = "account.3pid", .method = "GET", .path = "/_matrix/client/{:r0|v3}/account/3pid", .nonblocking = true},
        [](runtime::handler_context&, const api_request&) {
          return runtime::json_response(json::object{{"threepids", json::array{}}});
        });

  r.add({.name = "account.deactivate", .method = "POST", .path = "/_matrix/client/{:r0|v3}/account/deactivate"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto body = body_object(ctx, req, true);
          auth::require_uia(ctx, req, body, {{"m.login.password"}}, req.user_id);
          auto positions = deactivate_account(ctx, req.user_id);
          // No identity server bindings are ever made here, so none can be removed.
          return json_response_after(json::object{{"id_server_unbind_result", "no-support"}}, positions);
        });
}

} // namespace myelin::endpoints
