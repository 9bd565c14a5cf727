// Migration 2: rooms and events. Written only by the events stream writers (one persister per
// room, chosen by sha256(room_id) mod N); read by every group.
//
//   rooms                 one row per room: version, creator, directory visibility
//   room_heads            the persister's append point: forward extremities, depth, state group
//   events                every event, with its stream position (persister, stream_ordering), its
//                         topological ordering (depth), the state group after it and the client
//                         transaction (device + txn_id) that sent it, for idempotent sends
//   state_groups          state snapshots and deltas: a group either lists the whole state
//   state_group_entries   (prev_group NULL) or only what changed since prev_group; chains are cut
//                         with a full snapshot every 100 deltas, so state at any event is one
//                         recursive query away, never a replay of history
//   current_state_events  the room's state now, with membership for member events
//   event_relations       m.relates_to of each event (threads, edits, annotations)
//   redactions            which event redacts which
//   room_aliases          the alias directory
//   room_forgotten        rooms a user has forgotten
//   event_search          full text: PostgreSQL tsvector + GIN, SQLite FTS5
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration rooms_migration() {
  return {2, "rooms", R"SQL(
CREATE TABLE rooms (
  room_id TEXT PRIMARY KEY,
  room_version TEXT NOT NULL,
  creator TEXT NOT NULL,
  is_public INTEGER NOT NULL DEFAULT 0,
  created_ts BIGINT NOT NULL
);
CREATE TABLE room_heads (
  room_id TEXT PRIMARY KEY,
  forward_extremities TEXT NOT NULL,
  depth BIGINT NOT NULL,
  state_group BIGINT,
  last_persister TEXT NOT NULL,
  last_stream_ordering BIGINT NOT NULL
);
CREATE TABLE events (
  event_id TEXT PRIMARY KEY,
  room_id TEXT NOT NULL,
  persister TEXT NOT NULL,
  stream_ordering BIGINT NOT NULL,
  topological_ordering BIGINT NOT NULL,
  type TEXT NOT NULL,
  state_key TEXT,
  sender TEXT NOT NULL,
  origin_server_ts BIGINT NOT NULL,
  membership TEXT,
  state_group BIGINT,
  redacted_by TEXT,
  txn_id TEXT,
  txn_device_id TEXT,
  json TEXT NOT NULL
);
CREATE UNIQUE INDEX events_stream ON events (persister, stream_ordering);
CREATE INDEX events_room_order ON events (room_id, topological_ordering, stream_ordering);
CREATE INDEX events_room_ts ON events (room_id, origin_server_ts);
CREATE INDEX events_txn ON events (room_id, sender, txn_id) WHERE txn_id IS NOT NULL;
CREATE TABLE state_groups (
  id ${BIGSERIAL_PK},
  room_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  prev_group BIGINT,
  delta_depth INTEGER NOT NULL
);
CREATE TABLE state_group_entries (
  state_group BIGINT NOT NULL,
  type TEXT NOT NULL,
  state_key TEXT NOT NULL,
  event_id TEXT NOT NULL,
  PRIMARY KEY (state_group, type, state_key)
);
CREATE TABLE current_state_events (
  room_id TEXT NOT NULL,
  type TEXT NOT NULL,
  state_key TEXT NOT NULL,
  event_id TEXT NOT NULL,
  membership TEXT,
  PRIMARY KEY (room_id, type, state_key)
);
CREATE INDEX current_state_members ON current_state_events (state_key, membership) WHERE type = 'm.room.member';
CREATE TABLE event_relations (
  event_id TEXT PRIMARY KEY,
  room_id TEXT NOT NULL,
  relates_to_id TEXT NOT NULL,
  rel_type TEXT NOT NULL,
  aggregation_key TEXT
);
CREATE INDEX event_relations_target ON event_relations (relates_to_id, rel_type);
CREATE TABLE redactions (
  event_id TEXT PRIMARY KEY,
  redacts TEXT NOT NULL,
  room_id TEXT NOT NULL
);
CREATE INDEX redactions_redacts ON redactions (redacts);
CREATE TABLE room_aliases (
  room_alias TEXT PRIMARY KEY,
  room_id TEXT NOT NULL,
  creator TEXT NOT NULL,
  created_ts BIGINT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);
CREATE TABLE room_forgotten (
  user_id TEXT NOT NULL,
  room_id TEXT NOT NULL,
  PRIMARY KEY (user_id, room_id)
)
)SQL",
          R"SQL(
CREATE TABLE event_search (
  event_id TEXT PRIMARY KEY,
  room_id TEXT NOT NULL,
  sender TEXT NOT NULL,
  key TEXT NOT NULL,
  body TEXT NOT NULL,
  origin_server_ts BIGINT NOT NULL,
  topological_ordering BIGINT NOT NULL,
  stream_ordering BIGINT NOT NULL,
  vector tsvector NOT NULL
);
CREATE INDEX event_search_vector ON event_search USING GIN (vector);
CREATE INDEX event_search_room ON event_search (room_id)
)SQL",
          R"SQL(
CREATE VIRTUAL TABLE event_search USING fts5(
  body, event_id UNINDEXED, room_id UNINDEXED, sender UNINDEXED, key UNINDEXED,
  origin_server_ts UNINDEXED, topological_ordering UNINDEXED, stream_ordering UNINDEXED
)
)SQL"};
}

} // namespace myelin::storage::schema
