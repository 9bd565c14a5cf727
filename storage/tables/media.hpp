// Queries over the media repository's metadata (storage/schema/0013_media.cpp). The files
// themselves live in the media store (storage/media/media_store). Media is not a stream: the
// media group writes these tables directly, one short transaction per change.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage::media_table {

// One local media id. A row made by POST /media/v1/create has no content until its upload
// (`uploaded()` false, `unused_expires_at` set); a plain upload is inserted complete.
struct local_media {
  std::string media_id;
  std::string user_id;                 // who created it
  int64_t created_ts = 0;
  std::optional<int64_t> unused_expires_at;  // async upload: when the unused id lapses
  std::optional<int64_t> upload_ts;          // when the content arrived; nullopt = not yet
  std::string content_type;
  std::optional<std::string> upload_name;
  int64_t size = 0;
  std::string sha256;                  // hex of the content
  std::optional<std::string> quarantined_by;

  bool uploaded() const { return upload_ts.has_value(); }
  bool quarantined() const { return quarantined_by.has_value(); }
};

std::optional<local_media> get_local(connection& c, const std::string& media_id);

// A complete upload (POST /upload): content already in the store under `m.media_id`.
void insert_uploaded(connection& c, const local_media& m);
// An id reserved by /create: no content yet.
void insert_pending(connection& c, const std::string& media_id, const std::string& user_id, int64_t now_ms,
                    int64_t expires_at);
// The content of a pending id arrived. False when the id was not pending (already uploaded, or
// gone) — the caller answers M_CANNOT_OVERWRITE_MEDIA / M_NOT_FOUND.
bool complete_pending(connection& c, const std::string& media_id, int64_t now_ms, const std::string& content_type,
                      const std::optional<std::string>& upload_name, int64_t size, const std::string& sha256);
// How many ids the user reserved that are still pending and not expired (max_pending_media_uploads).
int64_t count_pending(connection& c, const std::string& user_id, int64_t now_ms);
// Deletes reserved ids whose time ran out unused; returns how many.
int64_t delete_expired_pending(connection& c, int64_t now_ms);

// Quarantine (admin): a quarantined id is never served (404), nor its thumbnails.
bool set_quarantined(connection& c, const std::string& media_id, const std::optional<std::string>& by);

// ---- admin API (actors/media/media_admin.cpp) ----
// A user's media, paged. `order_column` is one of local_media's columns (the caller maps Synapse's
// order_by names and never passes client text); ties are broken by ascending media_id, as Synapse.
struct media_page {
  std::vector<local_media> media;
  int64_t total = 0;
};
media_page list_user_media(connection& c, const std::string& user_id, int64_t from, int64_t limit,
                           const std::string& order_column, bool descending);
// Uploaded, unquarantined local media created before `before_ts` and larger than `size_gt` bytes.
std::vector<std::string> media_ids_before(connection& c, int64_t before_ts, int64_t size_gt);
// Deletes an id's row and its thumbnails' rows; false when there was no row.
bool delete_local(connection& c, const std::string& media_id);

// ---- thumbnails, cached on first request ----
struct thumbnail {
  std::string origin;       // empty for local media; another server's name for its cached media
  std::string media_id;
  int64_t width = 0;        // the size asked for (one of the configured sizes)
  int64_t height = 0;
  std::string method;       // "scale" | "crop"
  std::string content_type;
  bool animated = false;
  int64_t actual_width = 0;   // the image's real dimensions
  int64_t actual_height = 0;
  int64_t size = 0;
};
// `origin` empty: local media (local_media_thumbnails), else remote (remote_media_thumbnails).
std::optional<thumbnail> get_thumbnail(connection& c, const std::string& origin, const std::string& media_id,
                                       int64_t width, int64_t height, const std::string& method, bool animated);
// Inserts or replaces (two requests may race to make the same thumbnail; both files are equal).
void put_thumbnail(connection& c, const thumbnail& t);

// ---- remote media (federation, issue 9): the cache of other servers' media ----
// Remote content is stored under the store's remote path by (origin, media_id); the interface is
// designed now so that download and thumbnail code needs no change when federation lands.
struct remote_media {
  std::string origin;
  std::string media_id;
  std::string content_type;
  std::optional<std::string> upload_name;
  int64_t size = 0;
  std::string sha256;
  int64_t created_ts = 0;
  std::optional<std::string> quarantined_by;
  int64_t last_access_ts = 0;  // when it was last served (kept to the hour)
};
std::optional<remote_media> get_remote(connection& c, const std::string& origin, const std::string& media_id);
// Inserts (last_access_ts = created_ts) or replaces what the remote said of the item.
void put_remote(connection& c, const remote_media& m);
// Records that the item was served at `now`.
void touch_remote(connection& c, const std::string& origin, const std::string& media_id, int64_t now);
// Cached remote items last served before `before_ts`, at most `limit`: (origin, media_id).
std::vector<std::pair<std::string, std::string>> remote_media_before(connection& c, int64_t before_ts, int64_t limit);
// Deletes the item's row and its thumbnails' rows; false when there was no row.
bool delete_remote(connection& c, const std::string& origin, const std::string& media_id);

} // namespace myelin::storage::media_table
