// Downloads: GET /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}]
// (authenticated media, spec v1.11) and the legacy unauthenticated
// /_matrix/media/{r0|v3}/download/…. The answer names the file; the gateway streams it in chunks
// (with Range support), so a large file never sits in memory.
#include "actors/endpoint_helpers.hpp"
#include "actors/media/media_repository.hpp"
#include "common/config.hpp"
#include "protocol/errors.hpp"

namespace myelin::endpoints {

namespace {

api_response download(runtime::handler_context& ctx, const api_request& req) {
  const std::string& server_name = req.path_params.at(0);
  const std::string& media_id = req.path_params.at(1);
  auto media = media::resolve(ctx, server_name, media_id, media::wait_ms_param(req));
  api_response resp;
  resp.file_path = std::move(media.file_path);
  // A file name in the path replaces the uploaded one in Content-Disposition.
  std::optional<std::string> name = media.upload_name;
  if (req.path_params.size() > 2 && !req.path_params[2].empty()) name = req.path_params[2];
  media::add_content_headers(resp, media.content_type, name);
  return resp;
}

} // namespace

void register_media_download(runtime::endpoint_registry& r) {
  // Other servers' media comes over federation.
  media::use_federation_media_source();
  r.add({.name = "media.download", .method = "GET", .path = "/_matrix/client/v1/media/download/{serverName}/{mediaId}",
         .allow_guest = true},
        download);
  r.add({.name = "media.download_named", .method = "GET",
         .path = "/_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}", .allow_guest = true},
        download);
  r.add({.name = "media.download_legacy", .method = "GET", .path = "/_matrix/media/{:r0|v3}/download/{serverName}/{mediaId}",
         .auth = auth_mode::none},
        download);
  r.add({.name = "media.download_legacy_named", .method = "GET",
         .path = "/_matrix/media/{:r0|v3}/download/{serverName}/{mediaId}/{fileName}", .auth = auth_mode::none},
        download);
}

} // namespace myelin::endpoints
