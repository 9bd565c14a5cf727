// Migration 11: server-side key backups (spec: client-server "Server-side key backups").
//   room_key_versions  a user's backups; `version` counts up per user and is never reused, so a
//                      deleted backup keeps its row (deleted = 1) — deleting it again succeeds, and
//                      its number cannot come back. `etag` counts the changes of the backup's keys.
//   room_keys          the encrypted session keys of a backup; session_data is opaque JSON text.
// Private per-user storage, not a stream: the key backup endpoints write these tables directly.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration room_keys_migration() {
  return {11, "room_keys", R"SQL(
CREATE TABLE room_key_versions (
  user_id TEXT NOT NULL,
  version BIGINT NOT NULL,
  algorithm TEXT NOT NULL,
  auth_data TEXT NOT NULL,
  etag BIGINT NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, version)
);
CREATE TABLE room_keys (
  user_id TEXT NOT NULL,
  version BIGINT NOT NULL,
  room_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  first_message_index BIGINT NOT NULL,
  forwarded_count BIGINT NOT NULL,
  is_verified INTEGER NOT NULL,
  session_data TEXT NOT NULL,
  PRIMARY KEY (user_id, version, room_id, session_id)
)
)SQL"};
}

} // namespace myelin::storage::schema
