// Migration 20: other servers' signing keys, as fetched from them (server-server API "Retrieving
// server keys"). Cache state, written by whichever handler fetched them: losing it costs a fetch.
// server_key_documents keeps each server's newest document as received (signed by its keys), for
// answering notary queries.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration server_keys_migration() {
  return {20, "server_keys", R"SQL(
CREATE TABLE server_keys (
  server_name TEXT NOT NULL,
  key_id TEXT NOT NULL,
  public_key TEXT NOT NULL,
  valid_until_ts BIGINT NOT NULL,
  expired_ts BIGINT,
  fetched_ts BIGINT NOT NULL,
  PRIMARY KEY (server_name, key_id)
);
CREATE TABLE server_key_documents (
  server_name TEXT PRIMARY KEY,
  document TEXT NOT NULL,
  valid_until_ts BIGINT NOT NULL,
  fetched_ts BIGINT NOT NULL
)
)SQL"};
}

} // namespace myelin::storage::schema
