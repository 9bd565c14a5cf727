// Migration 9: event_push_actions — one row per (event, local user) the event notifies, written
// by the event's persister in the transaction that stores the event. thread_id is the thread root
// ('' = the main timeline). Read for /sync's unread counts (after the user's read receipts) and
// GET /notifications (newest first, paged by (ts, persister, stream_ordering)).
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration notifications_migration() {
  return {9, "notifications", R"SQL(
CREATE TABLE event_push_actions (
  room_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  persister TEXT NOT NULL,
  stream_ordering BIGINT NOT NULL,
  topological_ordering BIGINT NOT NULL,
  thread_id TEXT NOT NULL,
  notif INTEGER NOT NULL,
  highlight INTEGER NOT NULL,
  actions TEXT NOT NULL,
  ts BIGINT NOT NULL,
  PRIMARY KEY (event_id, user_id)
);
CREATE INDEX event_push_actions_room ON event_push_actions (user_id, room_id, topological_ordering, stream_ordering);
CREATE INDEX event_push_actions_page ON event_push_actions (user_id, ts, persister, stream_ordering)
)SQL"};
}

} // namespace myelin::storage::schema
