// Migration 15: simplified sliding sync (MSC4186) connection state, per (user, device, conn_id).
// Unlike the streams, this is per-device cache state written by the sync handler itself with an
// ordinary connection: losing it only costs the client an M_UNKNOWN_POS and a fresh start.
// A position is one `pos` handed out; its rooms say up to which sync token each room was sent
// ("" = up to the position's own token) and with which required_state config.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration sliding_sync_migration() {
  return {15, "sliding_sync", R"SQL(
CREATE TABLE sliding_sync_connections (
  id ${BIGSERIAL_PK},
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  conn_id TEXT NOT NULL,
  created_ts BIGINT NOT NULL
);
CREATE UNIQUE INDEX sliding_sync_connections_key ON sliding_sync_connections (user_id, device_id, conn_id);
CREATE TABLE sliding_sync_positions (
  id ${BIGSERIAL_PK},
  connection_id BIGINT NOT NULL,
  created_ts BIGINT NOT NULL,
  lists TEXT NOT NULL
);
CREATE INDEX sliding_sync_positions_connection ON sliding_sync_positions (connection_id);
CREATE TABLE sliding_sync_connection_rooms (
  position_id BIGINT NOT NULL,
  room_id TEXT NOT NULL,
  sent_token TEXT NOT NULL,
  config TEXT NOT NULL,
  PRIMARY KEY (position_id, room_id)
);
CREATE INDEX events_room_type_order ON events (room_id, type, stream_ordering)
)SQL"};
}

} // namespace myelin::storage::schema
