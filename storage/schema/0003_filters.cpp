// Migration 3: stored client filters (POST /user/{userId}/filter), referenced by id from /sync.
// Private per-user bookkeeping: written directly by the endpoint, not through a stream.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration filters_migration() {
  return {3, "filters", R"SQL(
CREATE TABLE user_filters (
  user_id TEXT NOT NULL,
  filter_id BIGINT NOT NULL,
  filter_json TEXT NOT NULL,
  PRIMARY KEY (user_id, filter_id)
)
)SQL"};
}

} // namespace myelin::storage::schema
