#include "actors/media/media_repository.hpp"

#include <array>
#include <charconv>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "actors/endpoint_helpers.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"

namespace myelin::media {

namespace errors = protocol::errors;
using storage::media_table::local_media;

namespace {

std::atomic<remote_media_source*> remote_source{nullptr};
constexpr int64_t remote_access_resolution_ms = 3600 * 1000;

// Types a browser shows but cannot run: served inline. Everything else (HTML, SVG, JavaScript…)
// is an attachment, so a hostile upload cannot run in the homeserver's origin.
constexpr std::array<std::string_view, 26> inline_types = {
    "text/css",   "text/plain",  "text/csv",        "application/json", "application/ld+json", "image/jpeg",
    "image/gif",  "image/png",   "image/apng",      "image/webp",       "image/avif",          "video/mp4",
    "video/webm", "video/ogg",   "video/quicktime", "audio/mp4",        "audio/webm",          "audio/aac",
    "audio/mpeg", "audio/ogg",   "audio/wave",      "audio/wav",        "audio/x-wav",         "audio/x-pn-wav",
    "audio/flac", "audio/x-flac"};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// "image/PNG; x=y" → "image/png"
std::string essence(std::string_view content_type) {
  auto semi = content_type.find(';');
  auto t = content_type.substr(0, semi);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  return lower(t);
}

bool attr_char(unsigned char c) {  // RFC 5987 attr-char
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$&+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// filename=NAME when every byte is safe as is, else RFC 6266's filename*=utf-8''%XX…
std::string disposition_file_name(std::string_view name) {
  bool plain = true;
  for (unsigned char c : name) plain = plain && attr_char(c);
  if (plain) return "filename=" + std::string(name);
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out = "filename*=utf-8''";
  for (unsigned char c : name) {
    if (attr_char(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

constexpr int64_t default_wait_ms = 20'000;  // the spec's default timeout_ms
constexpr int64_t max_wait_ms = 60'000;
constexpr int64_t pending_poll_ms = 200;
// Waiting for a /create id's content holds a blocking-pool thread, so only a few may wait at once;
// the rest are told at once that the media is not there yet.
constexpr int max_waiters = 2;
std::atomic<int> waiters{0};

std::optional<local_media> read_local(runtime::handler_context& ctx, const std::string& media_id) {
  auto c = ctx.db.acquire();
  return storage::media_table::get_local(*c, media_id);
}

bool servable_pending(const local_media& m, int64_t now) {
  return !m.uploaded() && m.unused_expires_at && *m.unused_expires_at > now;
}

} // namespace

const storage::media::media_store& store(const homeserver_config& config) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<storage::media::media_store>> stores;  // one per path (tests run several)
  std::lock_guard lock(mu);
  auto& s = stores[config.media_store_path];
  if (!s) s = std::make_unique<storage::media::media_store>(config.media_store_path);
  return *s;
}

std::string new_media_id() { return protocol::random_alnum(24); }

std::string mxc_uri(const homeserver_config& config, const std::string& media_id) {
  return "mxc://" + config.server_name + "/" + media_id;
}

bool acceptable_content_type(std::string_view content_type) {
  if (content_type.empty() || content_type.size() > 255) return false;
  for (unsigned char c : content_type)
    if (c < 0x20 || c > 0x7e) return false;
  auto slash = content_type.find('/');
  return slash != std::string_view::npos && slash > 0 && slash + 1 < content_type.size();
}

std::string store_bytes(runtime::handler_context& ctx, const std::string& user_id, std::string_view bytes,
                        const std::string& content_type, const std::optional<std::string>& upload_name) {
  const auto& st = store(ctx.config);
  auto upload = st.begin_upload(ctx.config.limits.max_upload_size);
  upload.append(bytes);
  std::string media_id = new_media_id();
  std::string sha256 = upload.commit(media_id);
  local_media m;
  m.media_id = media_id;
  m.user_id = user_id;
  m.created_ts = now_ms();
  m.content_type = content_type;
  m.upload_name = upload_name;
  m.size = static_cast<int64_t>(bytes.size());
  m.sha256 = std::move(sha256);
  try {
    ctx.db.transact([&](storage::connection& c) { storage::media_table::insert_uploaded(c, m); });
  } catch (...) {
    st.remove(media_id);
    throw;
  }
  return media_id;
}

int64_t wait_ms_param(const api_request& req) {
  auto v = endpoints::query_param(req, "timeout_ms");
  if (!v) return default_wait_ms;
  int64_t ms = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), ms);
  if (ec != std::errc() || end != v->data() + v->size() || ms < 0)
    throw errors::invalid_param("timeout_ms must be a non-negative integer");
  return std::min(ms, max_wait_ms);
}

void add_content_headers(api_response& resp, const std::string& content_type,
                         const std::optional<std::string>& file_name) {
  std::string type = essence(content_type);
  resp.content_type = content_type;
  if (type.rfind("text/", 0) == 0 && lower(content_type).find("charset=") == std::string::npos)
    resp.content_type += "; charset=UTF-8";
  bool inline_ok = false;
  for (auto t : inline_types) inline_ok = inline_ok || t == type;
  std::string disposition = inline_ok ? "inline" : "attachment";
  if (file_name && !file_name->empty()) disposition += "; " + disposition_file_name(*file_name);
  resp.headers.emplace_back("Content-Disposition", std::move(disposition));
  // Even served inline, nothing in the response may run scripts or load anything.
  resp.headers.emplace_back("Content-Security-Policy",
                            "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; "
                            "style-src 'unsafe-inline'; media-src 'self'; object-src 'self';");
  resp.headers.emplace_back("X-Content-Security-Policy", "sandbox;");
  resp.headers.emplace_back("Cross-Origin-Resource-Policy", "cross-origin");
  resp.headers.emplace_back("X-Content-Type-Options", "nosniff");
  resp.headers.emplace_back("Cache-Control", "public, max-age=86400, s-maxage=86400");
  resp.headers.emplace_back("X-Robots-Tag", "noindex, nofollow, noarchive, noimageindex");
}

resolved_media resolve(runtime::handler_context& ctx, const std::string& server_name, const std::string& media_id,
                       int64_t wait_ms) {
  auto not_found = [] { return errors::not_found("Media not found"); };
  if (!storage::media::valid_media_id(media_id)) throw not_found();
  if (server_name != ctx.config.server_name) {
    auto* source = remote_source.load();
    auto m = source ? source->fetch(ctx, server_name, media_id) : std::nullopt;
    if (!m || m->quarantined_by) throw not_found();
    // Last served, for purge_media_cache: written at most hourly, not on every request.
    if (int64_t now = now_ms(); now - m->last_access_ts > remote_access_resolution_ms) {
      auto c = ctx.db.acquire();
      storage::media_table::touch_remote(*c, server_name, media_id, now);
    }
    resolved_media r;
    r.content_type = m->content_type;
    r.upload_name = m->upload_name;
    r.size = m->size;
    r.file_path = store(ctx.config).remote_path(server_name, media_id).string();
    r.media_id = media_id;
    r.remote = true;
    return r;
  }
  auto m = read_local(ctx, media_id);
  if (m && !m->uploaded() && servable_pending(*m, now_ms()) && wait_ms > 0) {
    if (waiters.fetch_add(1) < max_waiters) {
      auto deadline = now_ms() + wait_ms;
      while (m && !m->uploaded() && now_ms() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(pending_poll_ms, deadline - now_ms())));
        m = read_local(ctx, media_id);
      }
    }
    waiters.fetch_sub(1);
  }
  if (!m || m->quarantined()) throw not_found();
  if (!m->uploaded()) {
    if (!servable_pending(*m, now_ms())) throw not_found();
    throw protocol::matrix_error(504, "M_NOT_YET_UPLOADED", "Media has not been uploaded yet");
  }
  resolved_media r;
  r.content_type = m->content_type;
  r.upload_name = m->upload_name;
  r.size = m->size;
  r.file_path = store(ctx.config).local_path(media_id).string();
  r.media_id = media_id;
  return r;
}

void maybe_clean_up(runtime::handler_context& ctx) {
  static std::atomic<int64_t> last{0};
  int64_t now = now_ms(), before = last.load();
  if (now - before < 60'000 || !last.compare_exchange_strong(before, now)) return;
  try {
    auto expired = ctx.db.transact(
        [&](storage::connection& c) { return storage::media_table::delete_expired_pending(c, now); });
    auto swept = store(ctx.config).sweep_temporary(std::chrono::hours(1));
    if (expired || swept)
      ctx.log.info("media clean-up", {{"expired_ids", std::to_string(expired)}, {"spool_files", std::to_string(swept)}});
  } catch (const std::exception& e) {
    ctx.log.warn("media clean-up failed", {{"error", e.what()}});
  }
}

void set_remote_media_source(remote_media_source* source) { remote_source.store(source); }

} // namespace myelin::media
