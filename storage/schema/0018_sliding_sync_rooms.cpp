// Migration 18: what sliding sync must remember per room beyond the sync token and config, and
// when a connection was last used.
// - timeline_limit: the limit the room was last sent with; a larger one later back-fills the
//   timeline (`unstable_expanded_timeline`).
// - lazy_members: JSON array of the users whose member event the connection already has for a
//   `$LAZY` required_state, so each is sent once per connection, not with every timeline.
// - last_used_ts: connections unused for a week are expired (their `pos` answers M_UNKNOWN_POS).
// - room_heads.bump_stamp: the newest bump event's stream ordering, kept by the persister with the
//   room's head, so a list's order is one join instead of a probe per room and bump type; the
//   index that served those probes (migration 15) goes, saving a B-tree insert per event.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration sliding_sync_rooms_migration() {
  return {18, "sliding_sync_rooms", R"SQL(
ALTER TABLE sliding_sync_connection_rooms ADD COLUMN timeline_limit BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sliding_sync_connection_rooms ADD COLUMN lazy_members TEXT NOT NULL DEFAULT '[]';
ALTER TABLE sliding_sync_connections ADD COLUMN last_used_ts BIGINT NOT NULL DEFAULT 0;
UPDATE sliding_sync_connections SET last_used_ts = created_ts;
CREATE INDEX sliding_sync_connections_used ON sliding_sync_connections (last_used_ts);
ALTER TABLE room_heads ADD COLUMN bump_stamp BIGINT NOT NULL DEFAULT 0;
UPDATE room_heads SET bump_stamp = COALESCE((SELECT MAX(e.stream_ordering) FROM events e
  WHERE e.room_id = room_heads.room_id AND e.type IN ('m.room.create', 'm.room.message', 'm.room.encrypted',
  'm.sticker', 'm.call.invite', 'm.poll.start', 'm.beacon_info')), 0);
DROP INDEX events_room_type_order
)SQL"};
}

} // namespace myelin::storage::schema
