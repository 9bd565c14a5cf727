// Migration 19: room moderation by server admins — blocked rooms (joins refused) and the status of
// room deletions (DELETE /_synapse/admin/v2/rooms/{roomId}, run in the background; any `main`
// instance answers the status queries). Written only by the events stream writer (ops block_room,
// record_room_deletion), sharded by the room.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration room_moderation_migration() {
  return {19, "room_moderation", R"SQL(
CREATE TABLE blocked_rooms (
  room_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL
);
CREATE TABLE room_deletions (
  delete_id TEXT PRIMARY KEY,
  room_id TEXT NOT NULL,
  status TEXT NOT NULL,
  error TEXT,
  result TEXT NOT NULL,
  created_ts BIGINT NOT NULL
);
CREATE INDEX room_deletions_room ON room_deletions (room_id)
)SQL"};
}

} // namespace myelin::storage::schema
