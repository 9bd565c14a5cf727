// Migration 14: the URL preview cache (Synapse's local_media_repository_url_cache), written by the
// media group's preview_url handler directly — no one subscribes to it, so it is no stream.
//
//   url_cache   one row per previewed URL: the preview as answered (OpenGraph JSON), when it was
//               made and until when it is served again instead of fetching the page anew.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration url_cache_migration() {
  return {14, "url_cache", R"SQL(
CREATE TABLE url_cache (
  url TEXT PRIMARY KEY,
  ts BIGINT NOT NULL,
  response TEXT NOT NULL,
  expires_ts BIGINT NOT NULL
);
CREATE INDEX url_cache_expires ON url_cache (expires_ts)
)SQL"};
}

} // namespace myelin::storage::schema
