// Migration 13: the media repository's metadata (the files live in the media store on disk).
//   local_media             one row per local media id. A /create reservation has no content yet
//                           (upload_ts NULL, unused_expires_at set); quarantined_by set = never served.
//   local_media_thumbnails  thumbnails made on first request, keyed by the configured size asked for.
//   remote_media_cache      other servers' media fetched over federation (issue 9), same shape.
// Not a stream: the media group writes these directly.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration media_migration() {
  return {13, "media", R"SQL(
CREATE TABLE local_media (
  media_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  created_ts BIGINT NOT NULL,
  unused_expires_at BIGINT,
  upload_ts BIGINT,
  content_type TEXT NOT NULL DEFAULT '',
  upload_name TEXT,
  size BIGINT NOT NULL DEFAULT 0,
  sha256 TEXT NOT NULL DEFAULT '',
  quarantined_by TEXT
);
CREATE INDEX local_media_by_user ON local_media (user_id, created_ts);
CREATE INDEX local_media_pending ON local_media (unused_expires_at) WHERE upload_ts IS NULL;
CREATE TABLE local_media_thumbnails (
  media_id TEXT NOT NULL,
  width BIGINT NOT NULL,
  height BIGINT NOT NULL,
  method TEXT NOT NULL,
  animated INTEGER NOT NULL,
  content_type TEXT NOT NULL,
  actual_width BIGINT NOT NULL,
  actual_height BIGINT NOT NULL,
  size BIGINT NOT NULL,
  PRIMARY KEY (media_id, width, height, method, animated)
);
CREATE TABLE remote_media_cache (
  origin TEXT NOT NULL,
  media_id TEXT NOT NULL,
  content_type TEXT NOT NULL,
  upload_name TEXT,
  size BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  created_ts BIGINT NOT NULL,
  quarantined_by TEXT,
  PRIMARY KEY (origin, media_id)
)
)SQL"};
}

} // namespace myelin::storage::schema
