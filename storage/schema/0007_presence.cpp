// Migration 7: presence of local users, written only by the presence stream writer. A user never
// seen has no row (offline). position is the presence stream position of the last change others
// can see (0 if none yet); last_active_ts and syncing_until_ts also move without one (a sync or an
// action that changes nothing visible). syncing_until_ts is when the user's last /sync request
// ends at the latest (its start plus its long-poll timeout): the user counts as connected until
// then. The partial index keeps the periodic timeout scan to users who are not offline.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration presence_migration() {
  return {7, "presence", R"SQL(
CREATE TABLE presence (
  user_id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  status_msg TEXT,
  last_active_ts BIGINT NOT NULL,
  syncing_until_ts BIGINT NOT NULL,
  currently_active INTEGER NOT NULL,
  position BIGINT NOT NULL
);
CREATE INDEX presence_position ON presence (position);
CREATE INDEX presence_live ON presence (state) WHERE state <> 'offline'
)SQL"};
}

} // namespace myelin::storage::schema
