// GET /_matrix/client/v1/media/config (authenticated media) and the legacy
// /_matrix/media/{r0|v3}/config: the largest upload this server accepts (max_upload_size, which
// the gateway enforces on every upload body).
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "common/config.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

api_response media_config(runtime::handler_context& ctx, const api_request&) {
  return runtime::json_response(
      json::object{{"m.upload.size", static_cast<int64_t>(ctx.config.limits.max_upload_size)}});
}

} // namespace

void register_media_config(runtime::endpoint_registry& r) {
  r.add({.name = "media.config", .method = "GET", .path = "/_matrix/client/v1/media/config", .allow_guest = true,
         .nonblocking = true},
        media_config);
  r.add({.name = "media.config_legacy", .method = "GET", .path = "/_matrix/media/{:r0|v3}/config",
         .allow_guest = true, .nonblocking = true},
        media_config);
}

} // namespace myelin::endpoints
