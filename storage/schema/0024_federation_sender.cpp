// Migration 24: what the federation sender (actors/federation_sender) must not forget across a
// restart.
//   federation_sender_progress  how far each sender instance got through the events stream, per
//                               persister (as pusher_progress)
//   federation_destinations     per destination: the backoff (a failing server is not retried
//                               before retry_last_ts + retry_interval_ms; 0 = healthy) and whether
//                               PDUs were skipped for it (catching_up: send what is outstanding in
//                               federation_destination_rooms before anything new)
//   federation_destination_rooms  per destination and room: the newest local event the
//                               destination should have, and whether it was sent (catch-up sends
//                               the unsent ones only — the remote fetches the gap itself)
//   federation_outbox           to-device EDUs for other servers' users, written by the to_device
//                               writer, deleted once the destination accepted them
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration federation_sender_migration() {
  return {24, "federation_sender", R"SQL(
CREATE TABLE federation_sender_progress (
  instance TEXT NOT NULL,
  persister TEXT NOT NULL,
  stream_ordering BIGINT NOT NULL,
  PRIMARY KEY (instance, persister)
);
CREATE TABLE federation_destinations (
  destination TEXT PRIMARY KEY,
  retry_last_ts BIGINT NOT NULL DEFAULT 0,
  retry_interval_ms BIGINT NOT NULL DEFAULT 0,
  catching_up INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE federation_destination_rooms (
  destination TEXT NOT NULL,
  room_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  sent INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (destination, room_id)
);
CREATE INDEX federation_destination_rooms_unsent ON federation_destination_rooms (destination) WHERE sent = 0;
CREATE TABLE federation_outbox (
  destination TEXT NOT NULL,
  position BIGINT NOT NULL,
  edu_json TEXT NOT NULL,
  PRIMARY KEY (destination, position)
)
)SQL"};
}

} // namespace myelin::storage::schema
