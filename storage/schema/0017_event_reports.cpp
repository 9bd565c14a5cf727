// Migration 17: event reports (POST /rooms/{roomId}/report/{eventId}), read and deleted by server
// admins through the admin API. Written only by the accounts stream writer (ops report_event,
// delete_event_report).
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration event_reports_migration() {
  return {17, "event_reports", R"SQL(
CREATE TABLE event_reports (
  id ${BIGSERIAL_PK},
  received_ts BIGINT NOT NULL,
  room_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  reason TEXT,
  score BIGINT
);
CREATE INDEX event_reports_room ON event_reports (room_id);
CREATE INDEX event_reports_user ON event_reports (user_id)
)SQL"};
}

} // namespace myelin::storage::schema
