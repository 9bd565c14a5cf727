// Migration 26: events other servers sent that failed their checks (server-server API "Rejection"):
// kept apart from `events`, so no read, state or timeline ever meets them, and remembered so the
// same event is not fetched and checked again. Soft-failed events are not here: they are stored
// as outliers (a negative stream ordering), still usable as prev/auth events, never shown.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration federation_events_migration() {
  return {26, "federation_events", R"SQL(
CREATE TABLE rejected_events (
  event_id TEXT PRIMARY KEY,
  room_id TEXT NOT NULL,
  origin TEXT NOT NULL,
  reason TEXT NOT NULL,
  json TEXT NOT NULL,
  received_ts BIGINT NOT NULL
)
)SQL"};
}

} // namespace myelin::storage::schema
