// Synapse's admin API for quarantining one media item: POST
// /_synapse/admin/v1/media/quarantine/{serverName}/{mediaId} and …/unquarantine/…. A quarantined
// item (and its thumbnails) is answered 404 everywhere, as if it did not exist. Admins only
// (admin::require_admin, shared with the rest of the admin API).
#include <boost/json.hpp>

#include "actors/admin/admin_helpers.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/media/media_repository.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "protocol/errors.hpp"

namespace myelin::endpoints {


namespace {

api_response set_quarantine(runtime::handler_context& ctx, const api_request& req, bool quarantine) {
  const std::string& server_name = req.path_params.at(0);
  const std::string& media_id = req.path_params.at(1);
  admin::require_admin(ctx, req);
  // Synapse answers {} for ids it does not hold, too: quarantining is idempotent.
  if (server_name == ctx.config.server_name && storage::media::valid_media_id(media_id)) {
    auto c = ctx.db.acquire();
    storage::media_table::set_quarantined(*c, media_id,
                                          quarantine ? std::optional<std::string>(req.user_id) : std::nullopt);
  }
  ctx.log.info(quarantine ? "media quarantined" : "media released from quarantine",
               {{"media", "mxc://" + server_name + "/" + media_id}, {"by", req.user_id}});
  return runtime::json_response(boost::json::object{});
}

} // namespace

void register_media_quarantine(runtime::endpoint_registry& r) {
  r.add({.name = "admin.media_quarantine", .method = "POST",
         .path = "/_synapse/admin/v1/media/quarantine/{serverName}/{mediaId}"},
        [](runtime::handler_context& ctx, const api_request& req) { return set_quarantine(ctx, req, true); });
  r.add({.name = "admin.media_unquarantine", .method = "POST",
         .path = "/_synapse/admin/v1/media/unquarantine/{serverName}/{mediaId}"},
        [](runtime::handler_context& ctx, const api_request& req) { return set_quarantine(ctx, req, false); });
}

} // namespace myelin::endpoints
