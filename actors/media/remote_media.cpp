// Other servers' media (server-server API "Content Repository"): fetched once with a signed
// GET /_matrix/federation/v1/media/download/{mediaId} (multipart/mixed: a JSON part, then the
// bytes or a Location to fetch them from), stored in the media store's remote area and
// remote_media_cache, and served from there afterwards. Registered as the media repository's
// remote_media_source when the media group's endpoints are registered.
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "actors/federation/federation.hpp"
#include "actors/media/media_repository.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "outbound/http_fetch.hpp"
#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/multipart.hpp"

namespace myelin::media {

namespace {

namespace multipart = protocol::multipart;

protocol::matrix_error too_large() { return {502, "M_TOO_LARGE", "The remote media is larger than max_upload_size"}; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// RFC 5987 values (filename*=utf-8''na%C3%AFve.txt): %XX decoded, anything malformed kept as is.
std::string percent_decoded(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The file name of a Content-Disposition header (filename="…" or filename*=utf-8''…), if any.
std::optional<std::string> disposition_file_name(const std::optional<std::string>& header) {
  if (!header) return std::nullopt;
  const auto& h = *header;
  if (auto star = h.find("filename*="); star != std::string::npos) {
    auto value = h.substr(star + 10);
    value = value.substr(0, value.find(';'));
    if (auto quote = value.find("''"); quote != std::string::npos) return percent_decoded(value.substr(quote + 2));
  }
  if (auto plain = h.find("filename="); plain != std::string::npos) {
    auto value = h.substr(plain + 9);
    if (!value.empty() && value.front() == '"') {
      auto end = value.find('"', 1);
      if (end != std::string::npos) return value.substr(1, end - 1);
    }
    return value.substr(0, value.find(';'));
  }
  return std::nullopt;
}

struct fetched {
  std::string bytes;
  std::string content_type;
  std::optional<std::string> upload_name;
};

// The media part of a federation download answer, following a Location part (unsigned, within
// the same IP policy and size limit).
fetched media_of(runtime::handler_context& ctx, const outbound::fetch_result& r, const std::string& origin) {
  auto boundary = multipart::boundary_of(r.content_type);
  auto parts = boundary ? multipart::parse(r.body, *boundary) : std::nullopt;
  if (!parts || parts->size() != 2)
    throw protocol::matrix_error(502, "M_UNKNOWN", origin + " answered the media download with a malformed body");
  const auto& media = (*parts)[1];
  if (auto location = media.header("location")) {
    outbound::fetch_options opt;
    opt.ip_policy = &ctx.config.federation.ip_policy;
    opt.max_bytes = ctx.config.limits.max_upload_size;
    opt.user_agent = outbound::fetch_options::default_user_agent("federation media");
    outbound::fetch_result got;
    try {
      got = outbound::fetch(opt, *location);
    } catch (const outbound::fetch_error& e) {
      if (e.which() == outbound::fetch_error::kind::too_large) throw too_large();
      throw protocol::matrix_error(502, "M_UNKNOWN", "Cannot fetch the media " + origin + " points to: " + e.what());
    }
    if (got.status != 200)
      throw protocol::matrix_error(502, "M_UNKNOWN", "The media " + origin + " points to answered " +
                                                         std::to_string(got.status));
    std::optional<std::string> disposition;
    for (const auto& [name, value] : got.headers)
      if (iequals(name, "content-disposition")) disposition = value;
    return {std::move(got.body), got.content_type, disposition_file_name(disposition)};
  }
  return {media.body, media.header("content-type").value_or("application/octet-stream"),
          disposition_file_name(media.header("content-disposition"))};
}

class federation_media_source final : public remote_media_source {
public:
  std::optional<storage::media_table::remote_media> fetch(runtime::handler_context& ctx, const std::string& origin,
                                                          const std::string& media_id) override {
    if (!protocol::is_valid_server_name(origin)) return std::nullopt;
    const auto& s = store(ctx.config);
    auto path = s.remote_path(origin, media_id);
    // Two requests racing for the same uncached media both fetch it and write the same file
    // (atomically) and row: harmless, and no lock holds one remote's slowness over others.
    if (auto cached = cached_row(ctx, origin, media_id, path)) return cached;

    outbound::fetch_result r;
    try {
      r = federation::request_raw(ctx, origin, "GET", "/_matrix/federation/v1/media/download/" + media_id,
                                  std::chrono::seconds(20), ctx.config.limits.max_upload_size + (64 << 10));
    } catch (const protocol::matrix_error& e) {
      if (e.status() == 404) return std::nullopt;
      if (e.errcode() == "M_TOO_LARGE") throw too_large();
      throw;
    }
    auto media = media_of(ctx, r, origin);
    if (media.bytes.size() > ctx.config.limits.max_upload_size) throw too_large();
    if (!acceptable_content_type(media.content_type)) media.content_type = "application/octet-stream";
    s.write_file(path, media.bytes);
    storage::media_table::remote_media row;
    row.origin = origin;
    row.media_id = media_id;
    row.content_type = media.content_type;
    row.upload_name = media.upload_name;
    row.size = static_cast<int64_t>(media.bytes.size());
    row.sha256 = protocol::sha256_hex(media.bytes);
    row.created_ts = now_ms();
    auto c = ctx.db.acquire();
    storage::media_table::put_remote(*c, row);
    ctx.log.info("remote media cached", {{"origin", origin}, {"media_id", media_id}, {"size", std::to_string(row.size)}});
    return row;
  }

private:
  static std::optional<storage::media_table::remote_media> cached_row(runtime::handler_context& ctx,
                                                                      const std::string& origin,
                                                                      const std::string& media_id,
                                                                      const std::filesystem::path& path) {
    auto c = ctx.db.acquire();
    auto row = storage::media_table::get_remote(*c, origin, media_id);
    std::error_code ec;
    if (row && std::filesystem::is_regular_file(path, ec)) return row;
    return std::nullopt;
  }
};

} // namespace

void use_federation_media_source() {
  static federation_media_source source;
  set_remote_media_source(&source);
}

} // namespace myelin::media
