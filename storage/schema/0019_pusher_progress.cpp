// Migration 19: how far each pusher instance got through the events stream, per persister, so a
// restarted instance pushes what was persisted while it was down instead of skipping it.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration pusher_progress_migration() {
  return {19, "pusher_progress", R"SQL(
CREATE TABLE pusher_progress (
  instance TEXT NOT NULL,
  persister TEXT NOT NULL,
  stream_ordering BIGINT NOT NULL,
  PRIMARY KEY (instance, persister)
);
CREATE INDEX pushers_device ON pushers (user_id, device_id)
)SQL"};
}

} // namespace myelin::storage::schema
