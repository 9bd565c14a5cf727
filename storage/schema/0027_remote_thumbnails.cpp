// Migration 27: thumbnails of other servers' media, cached like local ones (made on first request,
// one row per configured size): before, each request for a remote avatar decoded and scaled the
// image again. And when each cached remote item was last served (updated at most hourly), which
// the admin API's purge_media_cache goes by.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration remote_thumbnails_migration() {
  return {27, "remote_thumbnails", R"SQL(
CREATE TABLE remote_media_thumbnails (
  origin TEXT NOT NULL,
  media_id TEXT NOT NULL,
  width BIGINT NOT NULL,
  height BIGINT NOT NULL,
  method TEXT NOT NULL,
  animated INTEGER NOT NULL,
  content_type TEXT NOT NULL,
  actual_width BIGINT NOT NULL,
  actual_height BIGINT NOT NULL,
  size BIGINT NOT NULL,
  PRIMARY KEY (origin, media_id, width, height, method, animated)
);
ALTER TABLE remote_media_cache ADD COLUMN last_access_ts BIGINT NOT NULL DEFAULT 0;
UPDATE remote_media_cache SET last_access_ts = created_ts;
CREATE INDEX remote_media_cache_access ON remote_media_cache (last_access_ts)
)SQL"};
}

} // namespace myelin::storage::schema
