// Migration 4: account data (global: room_id = '', and per room), written only by the
// account_data stream writer; `position` is the stream position of the last change, for /sync.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration account_data_migration() {
  return {4, "account_data", R"SQL(
CREATE TABLE account_data (
  user_id TEXT NOT NULL,
  room_id TEXT NOT NULL,
  type TEXT NOT NULL,
  content TEXT NOT NULL,
  position BIGINT NOT NULL,
  PRIMARY KEY (user_id, room_id, type)
);
CREATE INDEX account_data_position ON account_data (user_id, position)
)SQL"};
}

} // namespace myelin::storage::schema
