// Migration 6: send-to-device messages, written only by the to_device stream writer.
//
//   device_inbox        messages waiting for a device, in arrival (position) order; a message is
//                       deleted once the device's /sync acknowledges it. sent_ts tells a message
//                       meant for a deleted device from one for a new device of the same id.
//   device_inbox_txns   the client transactions already applied (sender, sender's device, event
//                       type, txnId), so a retried PUT /sendToDevice delivers nothing twice; kept
//                       for a day.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration to_device_migration() {
  return {6, "to_device", R"SQL(
CREATE TABLE device_inbox (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  position BIGINT NOT NULL,
  sender TEXT NOT NULL,
  type TEXT NOT NULL,
  content TEXT NOT NULL,
  sent_ts BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id, position)
);
CREATE TABLE device_inbox_txns (
  sender TEXT NOT NULL,
  sender_device TEXT NOT NULL,
  event_type TEXT NOT NULL,
  txn_id TEXT NOT NULL,
  created_ts BIGINT NOT NULL,
  PRIMARY KEY (sender, sender_device, event_type, txn_id)
);
CREATE INDEX device_inbox_txns_age ON device_inbox_txns (created_ts)
)SQL"};
}

} // namespace myelin::storage::schema
