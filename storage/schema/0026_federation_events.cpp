// Migration 26: events other servers sent that failed their checks (server-server API "Rejection"):
// kept apart from `events`, so no read, state or timeline ever meets them, and remembered so the
// same event is not fetched and checked again. Soft-failed events are not here: they are stored
// as outliers (a negative stream ordering), still usable as prev/auth events, never shown.
// `federation_relayed_events`: membership events another server's user made through our
// send_join / send_leave / send_knock, which this server sends on to the room's other servers (as
// Synapse's send_on_behalf_of), since their origin may not know everyone in the room yet.
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
);
CREATE TABLE federation_relayed_events (
  event_id TEXT PRIMARY KEY,
  origin TEXT NOT NULL
)
)SQL"};
}

} // namespace myelin::storage::schema
