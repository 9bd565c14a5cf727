// Migration 10: end-to-end encryption keys and device list changes, written only by the
// device_lists stream writer (storage/streams/device_lists_stream.cpp).
//
//   e2e_device_keys          a device's identity keys as it uploaded them (signed JSON, its own
//                            signature included); other signatures live in e2e_signatures.
//   e2e_one_time_keys        unclaimed one-time keys; a claim deletes the row it hands out.
//   e2e_fallback_keys        one per (device, algorithm); handed out when no one-time key is left
//                            and then marked used, never deleted by a claim.
//   e2e_cross_signing_keys   a user's master / self_signing / user_signing key (signed JSON).
//   e2e_signatures           signatures added later through /keys/signatures/upload, by target
//                            (user, device id or cross-signing public key) and signer.
//   device_list_changes      the device_lists stream's log: at `position`, `user_id`'s devices or
//                            cross-signing keys changed. visible_to = '' means everyone sharing a
//                            room with the user; otherwise only that user sees the change (a
//                            signature they made with their user-signing key).
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration e2e_keys_migration() {
  return {10, "e2e_keys", R"SQL(
CREATE TABLE e2e_device_keys (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  key_json TEXT NOT NULL,
  added_ts BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id)
);
CREATE TABLE e2e_one_time_keys (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  key_id TEXT NOT NULL,
  key_json TEXT NOT NULL,
  added_ts BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id, algorithm, key_id)
);
CREATE TABLE e2e_fallback_keys (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  key_id TEXT NOT NULL,
  key_json TEXT NOT NULL,
  used INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, device_id, algorithm)
);
CREATE TABLE e2e_cross_signing_keys (
  user_id TEXT NOT NULL,
  key_type TEXT NOT NULL,
  public_key TEXT NOT NULL,
  key_json TEXT NOT NULL,
  added_ts BIGINT NOT NULL,
  PRIMARY KEY (user_id, key_type)
);
CREATE TABLE e2e_signatures (
  target_user_id TEXT NOT NULL,
  target_key_id TEXT NOT NULL,
  signer_user_id TEXT NOT NULL,
  signer_key_id TEXT NOT NULL,
  signature TEXT NOT NULL,
  PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id)
);
CREATE TABLE device_list_changes (
  position BIGINT NOT NULL,
  user_id TEXT NOT NULL,
  visible_to TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (position, user_id, visible_to)
);
CREATE INDEX device_list_changes_user ON device_list_changes (user_id, position)
)SQL"};
}

} // namespace myelin::storage::schema
