// Our media for other servers (server-server API "Content Repository", v1.11):
//   GET /_matrix/federation/v1/media/download/{mediaId}
//   GET /_matrix/federation/v1/media/thumbnail/{mediaId}?width&height&method&animated
// X-Matrix authenticated; the answer is multipart/mixed: a JSON part ({}, no metadata yet) and
// the content with its Content-Type and Content-Disposition. Only this server's media (the spec
// forbids serving other servers' media here). The parts are built in memory: the content is at
// most max_upload_size.
#include <fstream>
#include <iterator>

#include "actors/endpoint_helpers.hpp"
#include "actors/federation/federation.hpp"
#include "actors/media/media_repository.hpp"
#include "common/config.hpp"
#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/multipart.hpp"

namespace myelin::endpoints {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw protocol::errors::not_found("Media not found");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The multipart answer around a served body (a file or bytes) and its content headers.
api_response multipart_answer(const api_response& served) {
  protocol::multipart::part meta{{{"Content-Type", "application/json"}}, "{}"};
  protocol::multipart::part content{{{"Content-Type", served.content_type}},
                                    served.file_path.empty() ? served.body : read_file(served.file_path)};
  for (const auto& [name, value] : served.headers)
    if (name == "Content-Disposition") content.headers.emplace_back(name, value);
  auto boundary = protocol::random_alnum(32);
  api_response resp;
  resp.content_type = "multipart/mixed; boundary=" + boundary;
  resp.body = protocol::multipart::build({meta, content}, boundary);
  return resp;
}

api_response federation_download(runtime::handler_context& ctx, const api_request& req) {
  federation::authenticate_origin(ctx, req);
  auto media = media::resolve(ctx, ctx.config.server_name, req.path_params.at(0), media::wait_ms_param(req));
  api_response served;
  served.file_path = media.file_path;
  media::add_content_headers(served, media.content_type, media.upload_name);
  return multipart_answer(served);
}

api_response federation_thumbnail(runtime::handler_context& ctx, const api_request& req) {
  federation::authenticate_origin(ctx, req);
  return multipart_answer(media::thumbnail_response(ctx, req, ctx.config.server_name, req.path_params.at(0)));
}

} // namespace

void register_federation_media(runtime::endpoint_registry& r) {
  r.add({.name = "federation.media_download", .method = "GET", .path = "/_matrix/federation/v1/media/download/{mediaId}",
         .auth = auth_mode::none},
        federation_download);
  r.add({.name = "federation.media_thumbnail", .method = "GET",
         .path = "/_matrix/federation/v1/media/thumbnail/{mediaId}", .auth = auth_mode::none},
        federation_thumbnail);
}

} // namespace myelin::endpoints
