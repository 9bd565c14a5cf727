// GET /_matrix/key/v2/server: this server's signing key document (server-server API "Publishing
// Keys"), signed by the key itself. Other servers fetch it to check our events and requests.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/federation/federation.hpp"

namespace myelin::endpoints {

void register_federation_keys(runtime::endpoint_registry& r) {
  r.add({.name = "federation.keys_server", .method = "GET", .path = "/_matrix/key/v2/server", .auth = auth_mode::none,
         .nonblocking = true},
        [](runtime::handler_context& ctx, const api_request&) {
          return runtime::json_response(federation::own_key_document(ctx));
        });
}

} // namespace myelin::endpoints
