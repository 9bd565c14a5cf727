// POST /keys/upload (spec: "Key management API"): the device's identity keys, one-time keys and
// fallback keys. Shapes and the device keys' self-signature are checked here, on the pool; the
// device_lists writer stores them and answers the one-time key counts.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/keys/keys.hpp"
#include "actors/runtime/writer_client.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

api_response upload(runtime::handler_context& ctx, const api_request& req) {
  if (req.path_params.size() == 1 && req.path_params[0] != req.device_id)
    throw protocol::errors::invalid_param("Keys can only be uploaded for the device of the access token");
  if (req.device_id.empty())
    throw protocol::errors::invalid_param("To upload keys, the access token must belong to a device");
  auto body = body_object(ctx, req, true);
  auto w = ctx.writers.write("device_lists", req.user_id, "upload_keys",
                             keys::upload_keys_args(body, req.user_id, req.device_id));
  return json_response_after(protocol::parse_value(w.result), w.position);
}

} // namespace

void register_keys_upload(runtime::endpoint_registry& r) {
  r.add({.name = "keys.upload", .method = "POST", .path = "/_matrix/client/{:r0|v3|unstable}/keys/upload",
         .allow_guest = true},
        upload);
  // r0 clients may name the device in the path; it must be the token's.
  r.add({.name = "keys.upload_device", .method = "POST",
         .path = "/_matrix/client/{:r0|v3|unstable}/keys/upload/{deviceId}", .allow_guest = true},
        upload);
}

} // namespace myelin::endpoints
