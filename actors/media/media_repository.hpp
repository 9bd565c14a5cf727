// The media group's shared pieces: the node's media store, making media ids, storing content and
// resolving an (origin, media id) to something servable. Endpoint files in actors/media/ (upload,
// create, download, thumbnail, preview_url) use these; nothing here touches HTTP.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "actors/runtime/endpoint_registry.hpp"
#include "storage/media/media_store.hpp"
#include "storage/tables/media.hpp"

namespace myelin::media {

// The process's store for the configured media_store_path (made on first use).
const storage::media::media_store& store(const homeserver_config& config);

// A fresh local media id: 24 random characters of [A-Za-z0-9].
std::string new_media_id();
std::string mxc_uri(const homeserver_config& config, const std::string& media_id);

// Stores content already in memory (a preview's og:image, a thumbnail source fetched elsewhere) as
// a new local media id owned by `user_id`; returns the id. Throws storage::media::too_large past
// max_upload_size.
std::string store_bytes(runtime::handler_context& ctx, const std::string& user_id, std::string_view bytes,
                        const std::string& content_type, const std::optional<std::string>& upload_name);

// What a download or thumbnail request resolves to.
struct resolved_media {
  std::string content_type;
  std::optional<std::string> upload_name;
  int64_t size = 0;
  std::string file_path;   // absolute path of the content on this node
  std::string media_id;    // local id, or the remote id
  bool remote = false;
};

// The media behind /download/{serverName}/{mediaId}. Errors as protocol::matrix_error:
// M_NOT_FOUND (unknown, malformed or quarantined id; remote media its server does not have),
// 502 (remote media whose server cannot be reached, or larger than max_upload_size),
// M_NOT_YET_UPLOADED (504: a /create id whose content has not arrived within `wait_ms`).
resolved_media resolve(runtime::handler_context& ctx, const std::string& server_name, const std::string& media_id,
                       int64_t wait_ms);

// timeout_ms of a download or thumbnail request: how long to wait for a /create id's content
// (the spec's 20 s when absent, at most 60 s; 0 = answer at once). M_INVALID_PARAM when malformed.
int64_t wait_ms_param(const api_request& req);

// The headers a media body (download or thumbnail) is served with: Content-Type (a charset added
// to text types), Content-Disposition (inline only for types a browser cannot run, attachment
// otherwise, with the file name safely encoded), a sandboxing Content-Security-Policy,
// Cross-Origin-Resource-Policy and caching (media never changes).
void add_content_headers(api_response& resp, const std::string& content_type,
                         const std::optional<std::string>& file_name);

// A Content-Type a client may store: printable ASCII "type/subtype[; params]", at most 255 bytes.
bool acceptable_content_type(std::string_view content_type);

// Housekeeping the media group does now and then on its way (at most once a minute per process):
// unused /create ids past their expiry, and spool files a crash or a killed upload left behind.
void maybe_clean_up(runtime::handler_context& ctx);

// Remote media: fetches (origin, media_id) from its server into the remote cache (the store's
// remote_path and remote_media_cache) and returns the cached row; nullopt when the server has no
// such media. Throws matrix_error 502 (unreachable, M_TOO_LARGE past max_upload_size).
class remote_media_source {
public:
  virtual ~remote_media_source() = default;
  virtual std::optional<storage::media_table::remote_media> fetch(runtime::handler_context& ctx,
                                                                  const std::string& origin,
                                                                  const std::string& media_id) = 0;
};
void set_remote_media_source(remote_media_source* source);
// Installs the federation source (actors/media/remote_media.cpp): GET
// /_matrix/federation/v1/media/download/{mediaId}, signed. Without a source remote media is 404.
void use_federation_media_source();

// The thumbnail answer (a file or bytes, with content headers) for a request's width, height,
// method and animated parameters (actors/media/thumbnail.cpp); shared by the client and
// federation thumbnail endpoints.
api_response thumbnail_response(runtime::handler_context& ctx, const api_request& req, const std::string& server_name,
                                const std::string& media_id);

} // namespace myelin::media
