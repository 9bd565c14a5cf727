// Migration 27: thumbnails of other servers' media, cached like local ones (made on first request,
// one row per configured size): before, each request for a remote avatar decoded and scaled the
// image again.
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
)
)SQL"};
}

} // namespace myelin::storage::schema
