// Migration 23: application service transactions — per registered service (by its id), how far
// the appservice group has sent the events stream (a position per persister, JSON) and the
// transaction in flight: its id and the exact body, so a retry after a failure or a restart
// sends the same transaction (spec: the service dedups by txnId) and nothing is lost or repeated.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration appservices_migration() {
  return {23, "appservices", R"SQL(
CREATE TABLE appservice_state (
  as_id TEXT PRIMARY KEY,
  positions TEXT NOT NULL,
  last_txn_id BIGINT NOT NULL,
  txn_body TEXT,
  txn_positions TEXT
)
)SQL"};
}

} // namespace myelin::storage::schema
