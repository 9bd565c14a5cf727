// Migration 22: room moderation by server admins — blocked rooms (joins refused) and the status of
// the admin API's background room tasks (kind "delete_room": DELETE /_synapse/admin/v2/rooms/{id};
// "purge_history": POST /_synapse/admin/v1/purge_history/{id}); any `main` instance answers the
// status queries. Written only by the events stream writer (ops block_room, record_room_task),
// sharded by the room.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration room_moderation_migration() {
  return {22, "room_moderation", R"SQL(
CREATE TABLE blocked_rooms (
  room_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL
);
CREATE TABLE room_admin_tasks (
  task_id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  room_id TEXT NOT NULL,
  status TEXT NOT NULL,
  error TEXT,
  result TEXT NOT NULL,
  created_ts BIGINT NOT NULL
);
CREATE INDEX room_admin_tasks_room ON room_admin_tasks (room_id, kind)
)SQL"};
}

} // namespace myelin::storage::schema
