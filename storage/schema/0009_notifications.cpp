// Migration 9: event_push_actions — one row per (event, local user) the event notifies, written
// by the event's persister in the transaction that stores the event. thread_id is the thread root
// ('' = the main timeline). Read for /sync's unread counts (after the user's read receipts) and
// GET /notifications (newest first, paged by (ts, persister, stream_ordering)).
//
// Every index ordered by user costs the persister a B-tree insertion in that user's part of it —
// 50 local members, 50 per message — and a page written per user per batch, so there is one: the
// unread counts' (user, room, order). Paging all of a user's notifications reads it and sorts;
// paging highlights (only=highlight, what clients' mention lists ask) has a small partial index.
// No primary key: rows are inserted once, with their event, and reads skip redacted events
// rather than the redaction deleting rows (that would need an index by event).
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
  ts BIGINT NOT NULL
);
CREATE INDEX event_push_actions_room ON event_push_actions (user_id, room_id, topological_ordering, stream_ordering);
CREATE INDEX event_push_actions_highlights ON event_push_actions (user_id, ts) WHERE highlight = 1
)SQL"};
}

} // namespace myelin::storage::schema
