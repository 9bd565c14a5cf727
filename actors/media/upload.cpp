// Uploads: POST /_matrix/media/v3/upload (a new id), POST /_matrix/media/v1/create (an id now, the
// content later) and PUT /_matrix/media/v3/upload/{serverName}/{mediaId} (that content).
//
// The gateway has already streamed the body into a spool file (api_request::body_file) and
// enforced max_upload_size while doing so; here the file is adopted into the store under its
// media id, in the same step that records it in the database.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/media/media_repository.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "protocol/errors.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace errors = protocol::errors;
namespace table = storage::media_table;

namespace {

// The upload's type as the client declared it; application/octet-stream when it said nothing.
std::string upload_content_type(const api_request& req) {
  if (req.content_type.empty()) return "application/octet-stream";
  if (!media::acceptable_content_type(req.content_type)) throw errors::invalid_param("Invalid Content-Type");
  return req.content_type;
}

std::optional<std::string> upload_file_name(const api_request& req) {
  auto name = query_param(req, "filename");
  if (!name || name->empty()) return std::nullopt;
  if (name->size() > 255) throw errors::invalid_param("filename is too long");
  return name;
}

// The body as a spool file in the store: the gateway's, or (an in-process caller without a spool)
// the in-memory body written to one here.
struct spooled_body {
  std::string spool_name;
  int64_t size = 0;
  std::string sha256;
};

spooled_body spool_of(runtime::handler_context& ctx, const api_request& req) {
  if (!req.body_file.empty()) return {req.body_file, req.body_size, req.body_sha256};
  auto upload = media::store(ctx.config).begin_upload(ctx.config.limits.max_upload_size);
  try {
    upload.append(req.body);
  } catch (const storage::media::too_large&) {
    throw errors::too_large();
  }
  auto sealed = upload.seal();
  return {sealed.spool_name, static_cast<int64_t>(sealed.size), sealed.sha256};
}

api_response upload_new(runtime::handler_context& ctx, const api_request& req) {
  media::maybe_clean_up(ctx);
  auto content_type = upload_content_type(req);
  auto file_name = upload_file_name(req);
  auto body = spool_of(ctx, req);
  const auto& store = media::store(ctx.config);
  table::local_media m;
  m.media_id = media::new_media_id();
  m.user_id = req.user_id;
  m.created_ts = now_ms();
  m.content_type = std::move(content_type);
  m.upload_name = std::move(file_name);
  m.size = body.size;
  m.sha256 = body.sha256;
  store.adopt(body.spool_name, m.media_id);
  try {
    ctx.db.transact([&](storage::connection& c) { table::insert_uploaded(c, m); });
  } catch (...) {
    store.remove(m.media_id);
    throw;
  }
  return runtime::json_response(json::object{{"content_uri", media::mxc_uri(ctx.config, m.media_id)}});
}

api_response create(runtime::handler_context& ctx, const api_request& req) {
  media::maybe_clean_up(ctx);
  int64_t now = now_ms();
  int64_t expires_at = now + ctx.config.media.unused_expiration_ms;
  std::string media_id = media::new_media_id();
  bool created = ctx.db.transact([&](storage::connection& c) {
    if (table::count_pending(c, req.user_id, now) >= static_cast<int64_t>(ctx.config.media.max_pending_uploads))
      return false;
    table::insert_pending(c, media_id, req.user_id, now, expires_at);
    return true;
  });
  // The spec asks for 429 when a user holds too many unused ids; one expiring frees a slot.
  if (!created) throw protocol::matrix_error(429, "M_LIMIT_EXCEEDED", "Too many pending media uploads");
  return runtime::json_response(
      json::object{{"content_uri", media::mxc_uri(ctx.config, media_id)}, {"unused_expires_at", expires_at}});
}

api_response upload_to_id(runtime::handler_context& ctx, const api_request& req) {
  const std::string& server_name = req.path_params.at(0);
  const std::string& media_id = req.path_params.at(1);
  auto content_type = upload_content_type(req);
  auto file_name = upload_file_name(req);
  auto not_found = [] { return errors::not_found("Unknown media ID"); };
  if (server_name != ctx.config.server_name || !storage::media::valid_media_id(media_id)) throw not_found();
  int64_t now = now_ms();
  auto row = [&] {
    auto c = ctx.db.acquire();
    return table::get_local(*c, media_id);
  }();
  if (!row) throw not_found();
  if (row->user_id != req.user_id) throw errors::forbidden("Only the creator of a media ID may upload to it");
  if (row->uploaded()) throw protocol::matrix_error(409, "M_CANNOT_OVERWRITE_MEDIA", "Media already uploaded");
  if (!row->unused_expires_at || *row->unused_expires_at <= now) throw not_found();
  auto body = spool_of(ctx, req);
  const auto& store = media::store(ctx.config);
  // The row's change and the file's arrival succeed together: of two racing uploads only the one
  // whose UPDATE found the id pending moves its file in.
  bool stored = ctx.db.transact([&](storage::connection& c) {
    if (!table::complete_pending(c, media_id, now, content_type, file_name, body.size, body.sha256)) return false;
    store.adopt(body.spool_name, media_id);
    return true;
  });
  if (!stored) throw protocol::matrix_error(409, "M_CANNOT_OVERWRITE_MEDIA", "Media already uploaded");
  return runtime::json_response(json::object{});
}

} // namespace

void register_media_upload(runtime::endpoint_registry& r) {
  r.add({.name = "media.upload", .method = "POST", .path = "/_matrix/media/{:r0|v3}/upload",
         .rate_limit = "media_create", .large_body = true},
        upload_new);
  r.add({.name = "media.upload_to_id", .method = "PUT", .path = "/_matrix/media/v3/upload/{serverName}/{mediaId}",
         .rate_limit = "media_create", .large_body = true},
        upload_to_id);
  r.add({.name = "media.create", .method = "POST", .path = "/_matrix/media/v1/create", .rate_limit = "media_create"},
        create);
}

} // namespace myelin::endpoints
