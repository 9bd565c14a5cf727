// Checking that a server-server request comes from the server it names (server-server API
// "Request Authentication"): the X-Matrix header's signature over method, target, origin,
// destination and body, with the origin's current key.
#include <boost/json.hpp>

#include "actors/federation/federation.hpp"
#include "common/config.hpp"
#include "protocol/errors.hpp"
#include "protocol/federation_auth.hpp"
#include "protocol/identifiers.hpp"

namespace myelin::federation {

std::string authenticate_origin(runtime::handler_context& ctx, const api_request& req) {
  if (req.authorization.empty()) throw protocol::errors::unauthorized("Missing X-Matrix Authorization header");
  auto auth = protocol::federation::parse_x_matrix(req.authorization);
  if (!auth) throw protocol::errors::unauthorized("Malformed X-Matrix Authorization header");
  if (!protocol::is_valid_server_name(auth->origin)) throw protocol::errors::unauthorized("The origin is not a server name");
  if (!auth->destination.empty() && auth->destination != ctx.config.server_name)
    throw protocol::errors::unauthorized("The request is for another server");
  if (auth->origin == ctx.config.server_name) throw protocol::errors::unauthorized("The request claims to come from this server");
  boost::json::value content;
  bool has_content = !req.body.empty();
  if (has_content) {
    boost::system::error_code ec;
    content = boost::json::parse(req.body, ec);
    if (ec) throw protocol::errors::not_json();
  }
  auto key = current_verify_key(ctx, auth->origin, auth->key_id);
  if (!key) throw protocol::errors::unauthorized("No valid key " + auth->key_id + " of " + auth->origin);
  if (!protocol::federation::verify_request(*auth, req.method, req.target, ctx.config.server_name,
                                            has_content ? &content : nullptr, *key))
    throw protocol::errors::unauthorized("Invalid signature");
  return auth->origin;
}

} // namespace myelin::federation
