// Thumbnails: GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId} (authenticated
// media) and the legacy unauthenticated /_matrix/media/{r0|v3}/thumbnail/…. A request is snapped
// to one of the configured thumbnail_sizes (imaging::choose_size), so each media id has at most
// that many thumbnails: made on first request (imaging, on this blocking-pool thread), written to
// the store under local_thumbnails/ and recorded in local_media_thumbnails (another server's
// media: remote_thumbnails/<origin>/ and remote_media_thumbnails), then streamed from the file
// like a download on every later request.
#include <charconv>
#include <filesystem>
#include <limits>

#include "actors/endpoint_helpers.hpp"
#include "actors/media/media_repository.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "imaging/thumbnailer.hpp"
#include "protocol/errors.hpp"

namespace myelin::endpoints {

namespace errors = protocol::errors;
using storage::media_table::thumbnail;

namespace {

// The spec's answer when the content cannot be thumbnailed (not an image, or a broken one).
protocol::matrix_error cannot_thumbnail() {
  return protocol::matrix_error(400, "M_UNKNOWN", "Cannot generate thumbnails for the requested content");
}

// width / height: required, positive. Larger than any configured size just means "the largest".
int dimension_param(const api_request& req, std::string_view name) {
  auto v = query_param(req, name);
  if (!v) throw errors::missing_param("Missing integer query parameter '" + std::string(name) + "'");
  int64_t n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec == std::errc::result_out_of_range && !v->starts_with('-')) return std::numeric_limits<int>::max();
  if (ec != std::errc() || end != v->data() + v->size() || n <= 0)
    throw errors::invalid_param("Query parameter '" + std::string(name) + "' must be a positive integer");
  return static_cast<int>(std::min<int64_t>(n, std::numeric_limits<int>::max()));
}

std::string method_param(const api_request& req) {
  auto v = query_param(req, "method");
  if (!v) return "scale";
  if (*v != "scale" && *v != "crop") throw errors::invalid_param("Query parameter 'method' must be 'scale' or 'crop'");
  return *v;
}

bool animated_param(const api_request& req) {
  auto v = query_param(req, "animated");
  if (!v) return false;
  if (*v == "true") return true;
  if (*v == "false") return false;
  throw errors::invalid_param("Query parameter 'animated' must be 'true' or 'false'");
}

// "320-240-scale.jpg", "96-96-crop-animated.webp": one file per cache row.
std::string thumbnail_file_name(const imaging::thumbnail_size& size, bool animated, std::string_view content_type) {
  return std::to_string(size.width) + "-" + std::to_string(size.height) + "-" + size.method +
         (animated ? "-animated" : "") + "." + std::string(imaging::file_extension(content_type));
}

api_response file_response(std::string file_path, const std::string& content_type) {
  api_response resp;
  resp.file_path = std::move(file_path);
  media::add_content_headers(resp, content_type, "thumbnail." + std::string(imaging::file_extension(content_type)));
  return resp;
}

imaging::thumbnail generate(runtime::handler_context& ctx, const media::resolved_media& media,
                            const imaging::thumbnail_size& size, bool animated) {
  try {
    return imaging::make_thumbnail(media.file_path, media.content_type, size, animated,
                                   ctx.config.media.max_image_pixels);
  } catch (const imaging::image_too_large& e) {
    ctx.log.info("media too large to thumbnail", {{"media_id", media.media_id}, {"error", e.what()}});
    throw protocol::matrix_error(413, "M_TOO_LARGE", "Content is too large to thumbnail");
  } catch (const imaging::image_error& e) {
    ctx.log.info("cannot thumbnail media", {{"media_id", media.media_id}, {"error", e.what()}});
    throw cannot_thumbnail();
  }
}

} // namespace
} // namespace myelin::endpoints

namespace myelin::media {

api_response thumbnail_response(runtime::handler_context& ctx, const api_request& req, const std::string& server_name,
                                const std::string& media_id) {
  using namespace endpoints;
  const int width = dimension_param(req, "width");
  const int height = dimension_param(req, "height");
  const std::string method = method_param(req);
  const bool animated_asked = animated_param(req);

  auto media = media::resolve(ctx, server_name, media_id, media::wait_ms_param(req));
  if (!imaging::thumbnailable(media.content_type)) throw cannot_thumbnail();
  // For a format that cannot move, animated=true is the still request, and shares its cache entry.
  const bool animated = animated_asked && imaging::animatable(media.content_type);
  const auto& size = imaging::choose_size(ctx.config.media.thumbnail_sizes, width, height, method);

  // Another server's media: its thumbnails are cached apart, under its origin.
  const std::string origin = media.remote ? server_name : std::string();
  const auto& store = media::store(ctx.config);
  auto path_of = [&](const std::string& content_type) {
    auto name = thumbnail_file_name(size, animated, content_type);
    return media.remote ? store.remote_thumbnail_path(origin, media.media_id, name)
                        : store.thumbnail_path(media.media_id, name);
  };
  auto cached = [&] {
    auto c = ctx.db.acquire();
    return storage::media_table::get_thumbnail(*c, origin, media.media_id, size.width, size.height, size.method,
                                               animated);
  }();
  if (cached) {
    auto path = path_of(cached->content_type);
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec)) return file_response(path.string(), cached->content_type);
    // The row outlived its file (a store restored without thumbnails): make it again.
  }

  auto t = generate(ctx, media, size, animated);
  auto path = path_of(t.content_type);
  // File first, row second: a row always names a complete file. Two requests racing here write
  // equal files and the same row.
  store.write_file(path, t.bytes);
  thumbnail row;
  row.origin = origin;
  row.media_id = media.media_id;
  row.width = size.width;
  row.height = size.height;
  row.method = size.method;
  row.content_type = t.content_type;
  row.animated = animated;
  row.actual_width = t.width;
  row.actual_height = t.height;
  row.size = static_cast<int64_t>(t.bytes.size());
  ctx.db.transact([&](storage::connection& c) { storage::media_table::put_thumbnail(c, row); });
  return file_response(path.string(), t.content_type);
}

} // namespace myelin::media

namespace myelin::endpoints {
namespace {

api_response get_thumbnail(runtime::handler_context& ctx, const api_request& req) {
  return media::thumbnail_response(ctx, req, req.path_params.at(0), req.path_params.at(1));
}

} // namespace

void register_media_thumbnail(runtime::endpoint_registry& r) {
  r.add({.name = "media.thumbnail", .method = "GET", .path = "/_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}",
         .allow_guest = true},
        get_thumbnail);
  r.add({.name = "media.thumbnail_legacy", .method = "GET",
         .path = "/_matrix/media/{:r0|v3}/thumbnail/{serverName}/{mediaId}", .auth = auth_mode::none},
        get_thumbnail);
}

} // namespace myelin::endpoints
