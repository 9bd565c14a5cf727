// GET /_matrix/client/v1/media/preview_url (authenticated media) and the legacy
// /_matrix/media/{r0|v3|v1}/preview_url: the OpenGraph preview of a URL a client saw in a message,
// as Synapse makes it. The page is fetched by the server (outbound/http_fetch: only addresses the
// url_preview_ip_range_* lists allow, redirects re-checked, size and time capped); HTML becomes
// OpenGraph (protocol/opengraph), an image becomes the preview's image, and a page's og:image is
// fetched the same way and stored as local media, so the client gets an mxc:// URI it can show.
// Previews are kept an hour in url_cache, so a link posted in a busy room is fetched once.
//
// Errors follow Synapse: disabled → 404 M_UNRECOGNIZED; URL blocklist or a denied address → 403;
// the remote's failure → 502 (M_TOO_LARGE past max_spider_size), its timeout → 504. Guests are
// refused: the spec's guest endpoints do not include previews, and Synapse refuses them too.
#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <charconv>

#include "actors/endpoint_helpers.hpp"
#include "actors/media/media_repository.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "outbound/http_fetch.hpp"
#include "protocol/errors.hpp"
#include "protocol/image_probe.hpp"
#include "protocol/opengraph.hpp"
#include "storage/tables/url_cache.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
using outbound::fetch_error;

namespace {

constexpr int64_t cache_lifetime_ms = 3600 * 1000;  // Synapse's hour
// Previews fetching at once in this process. Each holds a blocking-pool thread for up to two
// timeouts (the page and its image), and the pool serves every other request of the node too.
constexpr size_t max_concurrent_previews = 8;

std::atomic<size_t> previews_in_flight{0};

class preview_slot {
public:
  explicit preview_slot(size_t limit) {
    if (previews_in_flight.fetch_add(1) >= limit) {
      previews_in_flight.fetch_sub(1);
      throw protocol::errors::unavailable("Too many URL previews in progress; try again shortly");
    }
  }
  ~preview_slot() { previews_in_flight.fetch_sub(1); }
  preview_slot(const preview_slot&) = delete;
  preview_slot& operator=(const preview_slot&) = delete;
};

size_t preview_limit(const homeserver_config& config) {
  return std::clamp<size_t>(config.runtime.blocking_threads / 2, 1, max_concurrent_previews);
}

// What the client hears when a fetch fails, as Synapse answers it.
protocol::matrix_error preview_error(const fetch_error& e, const url_preview_config& cfg) {
  using kind = fetch_error::kind;
  switch (e.which()) {
  case kind::invalid_url: return protocol::errors::invalid_param(e.what());
  case kind::blocked: return protocol::matrix_error(403, "M_UNKNOWN", "IP address blocked");
  case kind::dns: return protocol::matrix_error(502, "M_UNKNOWN", "DNS resolution failure during URL preview generation");
  case kind::timeout: return protocol::matrix_error(504, "M_UNKNOWN", "Timeout waiting for response from remote server");
  case kind::too_large:
    return protocol::matrix_error(502, "M_TOO_LARGE",
                                  "Requested file is too large > " + std::to_string(cfg.max_spider_size) + " bytes");
  default: return protocol::matrix_error(502, "M_UNKNOWN", std::string("Failed to download content: ") + e.what());
  }
}

// One preview in the making: the limits every fetch it does shares.
struct previewer {
  runtime::handler_context& ctx;
  const api_request& req;
  const url_preview_config& cfg;
  // The group's request timeout bounds the whole preview, page and image together; past it the
  // client has had its 503 and the work would be wasted.
  std::chrono::steady_clock::time_point deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(ctx.config.runtime.group_request_timeout_seconds) -
      std::chrono::seconds(1);

  outbound::fetch_result fetch(const std::string& url) const {
    outbound::fetch_options opt;
    opt.ip_policy = &cfg.ip_policy;
    opt.max_bytes = cfg.max_spider_size;
    opt.user_agent = outbound::fetch_options::default_user_agent("URL preview");
    opt.headers = {{"Accept-Language", cfg.accept_language}};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    opt.timeout = std::clamp(left, std::chrono::milliseconds(1), std::chrono::milliseconds(cfg.timeout_ms));
    return outbound::fetch(opt, url);
  }

  // Keeps a fetched image as local media of the requesting user and describes it the way the
  // spec's preview does: og:image as mxc://, its type, byte size and (when its header says) size.
  json::object store_image(const outbound::fetch_result& r) const {
    auto probe = protocol::probe_image(r.body);
    std::string type = probe ? probe->media_type : protocol::media_type_of(r.content_type);
    if (!media::acceptable_content_type(type)) type = "application/octet-stream";
    auto id = media::store_bytes(ctx, req.user_id, r.body, type, std::nullopt);
    json::object og{{"og:image", media::mxc_uri(ctx.config, id)},
                    {"og:image:type", type},
                    {"matrix:image:size", static_cast<int64_t>(r.body.size())}};
    if (probe) {
      og["og:image:width"] = probe->width;
      og["og:image:height"] = probe->height;
    }
    return og;
  }

  // The page's og:image (already absolute), fetched and stored in its place. A preview without
  // its image is still a preview: any failure just drops the image, as in Synapse.
  void attach_image(json::object& og) const {
    auto* image = og.if_contains("og:image");
    if (!image) return;
    std::string url(image->as_string());
    og.erase("og:image");
    try {
      if (outbound::unfetchable(url) || cfg.url_blocklist.blocks(url)) return;
      auto r = fetch(url);
      if (r.status / 100 != 2 || !protocol::media_type_of(r.content_type).starts_with("image/")) return;
      for (auto& [k, v] : store_image(r)) og[k] = v;
    } catch (const std::exception& e) {
      ctx.log.info("URL preview image not fetched", {{"url", url}, {"error", e.what()}});
    }
  }

  json::object make(const std::string& url) const {
    outbound::fetch_result page;
    try {
      page = fetch(url);
    } catch (const fetch_error& e) {
      throw preview_error(e, cfg);
    }
    if (page.status / 100 != 2)
      throw protocol::matrix_error(502, "M_UNKNOWN", "Got error " + std::to_string(page.status));
    auto type = protocol::media_type_of(page.content_type);
    if (type.starts_with("image/")) {
      try {
        return store_image(page);
      } catch (const storage::media::too_large&) {  // max_upload_size below max_spider_size
        throw protocol::matrix_error(502, "M_TOO_LARGE", "Requested file is too large to store");
      }
    }
    if (!protocol::is_html_media_type(type))
      throw protocol::matrix_error(502, "M_UNKNOWN", "Requested file's content type not allowed for this operation: " +
                                                         (page.content_type.empty() ? "none" : page.content_type));
    auto og = protocol::html_to_opengraph(page.body, page.url, page.content_type);
    attach_image(og);
    return og;
  }
};

api_response preview_url(runtime::handler_context& ctx, const api_request& req) {
  const auto& cfg = ctx.config.url_preview;
  if (!cfg.enabled) throw protocol::errors::unrecognized();
  auto url = query_param(req, "url");
  if (!url || url->empty()) throw protocol::errors::missing_param("Missing required query parameter: url");
  // `ts` asks for the preview as of a time; the cache keeps one, and the spec lets the server
  // answer a newer one. Checked all the same: a malformed parameter is the client's mistake.
  if (auto ts = query_param(req, "ts")) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(ts->data(), ts->data() + ts->size(), v);
    if (ec != std::errc{} || end != ts->data() + ts->size())
      throw protocol::errors::invalid_param("Query parameter 'ts' must be an integer");
  }
  if (auto why = outbound::unfetchable(*url)) throw protocol::errors::invalid_param("Cannot preview this URL: " + *why);
  if (cfg.url_blocklist.blocks(*url))
    throw protocol::matrix_error(403, "M_UNKNOWN", "URL blocked by url pattern blocklist entry");

  int64_t now = now_ms();
  if (auto cached = storage::url_cache::get(*ctx.db.acquire(), *url, now)) {
    api_response resp;
    resp.body = std::move(cached->response);
    return resp;
  }

  json::object og;
  {
    preview_slot slot(preview_limit(ctx.config));
    og = previewer{ctx, req, cfg}.make(*url);
  }
  auto body = json::serialize(og);
  now = now_ms();
  ctx.db.transact([&](storage::connection& c) {
    storage::url_cache::delete_expired(c, now);
    storage::url_cache::put(c, *url, {now, body, now + cache_lifetime_ms});
  });
  api_response resp;
  resp.body = std::move(body);
  return resp;
}

} // namespace

void register_preview_url(runtime::endpoint_registry& r) {
  r.add({.name = "media.preview_url", .method = "GET", .path = "/_matrix/client/v1/media/preview_url"}, preview_url);
  r.add({.name = "media.preview_url_legacy", .method = "GET", .path = "/_matrix/media/{:r0|v3|v1}/preview_url"},
        preview_url);
}

} // namespace myelin::endpoints
