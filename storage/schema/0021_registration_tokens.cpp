// Migration 21: registration tokens (the m.login.registration_token UIA stage of /register,
// managed through the admin API). `pending` counts UIA sessions that completed the stage but have
// not registered yet; ui_auth_sessions.registration_token names the token such a session holds, so
// an expired session gives its use back. Written only by the accounts stream writer.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration registration_tokens_migration() {
  return {21, "registration_tokens", R"SQL(
CREATE TABLE registration_tokens (
  token TEXT PRIMARY KEY,
  uses_allowed BIGINT,
  pending BIGINT NOT NULL DEFAULT 0,
  completed BIGINT NOT NULL DEFAULT 0,
  expiry_time BIGINT
);
ALTER TABLE ui_auth_sessions ADD COLUMN registration_token TEXT
)SQL"};
}

} // namespace myelin::storage::schema
