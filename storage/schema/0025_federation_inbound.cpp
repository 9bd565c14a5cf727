// Migration 25: what inbound federation (PUT /_matrix/federation/v1/send/) keeps.
//
//   federation_txns             the answer given to each transaction (origin, txnId), so a
//                               retried transaction is answered the same without being processed
//                               again; kept for a day. Written by the /send/ handler.
//   remote_device_lists         the remote users whose device lists we track (we share a room and
//                               hold their whole list) and the newest stream_id their server sent.
//                               No row: not tracked — /keys/query asks their server.
//   remote_devices              the tracked users' devices: keys (JSON text, as signed by the
//                               device; NULL for a device without keys) and display name.
//   remote_cross_signing_keys   remote users' master and self-signing keys (m.signing_key_update
//                               or a resync). The last three are written by the device_lists
//                               writer only, which also logs each change in device_list_changes.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration federation_inbound_migration() {
  return {25, "federation_inbound", R"SQL(
CREATE TABLE federation_txns (
  origin TEXT NOT NULL,
  txn_id TEXT NOT NULL,
  response TEXT NOT NULL,
  received_ts BIGINT NOT NULL,
  PRIMARY KEY (origin, txn_id)
);
CREATE INDEX federation_txns_age ON federation_txns (received_ts);
CREATE TABLE remote_device_lists (
  user_id TEXT PRIMARY KEY,
  stream_id BIGINT NOT NULL,
  updated_ts BIGINT NOT NULL
);
CREATE TABLE remote_devices (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  key_json TEXT,
  display_name TEXT,
  PRIMARY KEY (user_id, device_id)
);
CREATE TABLE remote_cross_signing_keys (
  user_id TEXT NOT NULL,
  key_type TEXT NOT NULL,
  key_json TEXT NOT NULL,
  PRIMARY KEY (user_id, key_type)
)
)SQL"};
}

} // namespace myelin::storage::schema
