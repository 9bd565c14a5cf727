// GET /_matrix/key/v2/server: this server's signing key document (server-server API "Publishing
// Keys"), signed by the key itself. Other servers fetch it to check our events and requests.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "protocol/errors.hpp"
#include "protocol/federation_auth.hpp"

namespace myelin::endpoints {

namespace {

// How long others may cache the document (Synapse's key_refresh_interval default).
constexpr int64_t key_validity_ms = 24LL * 3600 * 1000;

} // namespace

void register_federation_keys(runtime::endpoint_registry& r) {
  r.add({.name = "federation.keys_server", .method = "GET", .path = "/_matrix/key/v2/server", .auth = auth_mode::none,
         .nonblocking = true},
        [](runtime::handler_context& ctx, const api_request&) {
          if (!ctx.signing_key) throw protocol::errors::unknown("No signing key loaded");
          return runtime::json_response(protocol::federation::server_keys_document(
              ctx.config.server_name, *ctx.signing_key, {}, now_ms() + key_validity_ms));
        });
}

} // namespace myelin::endpoints
