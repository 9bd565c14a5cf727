// Migration 5: read receipts, written only by the receipts stream writer. One row per (room,
// receipt type, user, thread): the latest receipt only, as receipts are "read up to" markers.
// thread_id is '' for an unthreaded receipt, 'main' or a thread root's event id otherwise; data is
// the receipt's JSON ({"ts", "thread_id"?}); position is the receipts stream position of the last
// change, for /sync. The push helper's unread counts join on (room_id, user_id, receipt_type).
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration receipts_migration() {
  return {5, "receipts", R"SQL(
CREATE TABLE receipts (
  room_id TEXT NOT NULL,
  receipt_type TEXT NOT NULL,
  user_id TEXT NOT NULL,
  thread_id TEXT NOT NULL DEFAULT '',
  event_id TEXT NOT NULL,
  data TEXT NOT NULL,
  position BIGINT NOT NULL,
  PRIMARY KEY (room_id, receipt_type, user_id, thread_id)
);
CREATE INDEX receipts_room_position ON receipts (room_id, position)
)SQL"};
}

} // namespace myelin::storage::schema
