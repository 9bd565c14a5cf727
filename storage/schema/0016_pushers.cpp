// Migration 16: pushers — a user's HTTP pushers (client-server "Push Notifications", /pushers/set).
// One per (user, app_id, pushkey); the same (app_id, pushkey) may belong to several users only when
// they were added with `append`. Read by the pusher group for each notifying event, so the
// (user_id) prefix of the key serves "which of these users have pushers".
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration pushers_migration() {
  return {16, "pushers", R"SQL(
CREATE TABLE pushers (
  user_id TEXT NOT NULL,
  app_id TEXT NOT NULL,
  pushkey TEXT NOT NULL,
  kind TEXT NOT NULL,
  app_display_name TEXT NOT NULL,
  device_display_name TEXT NOT NULL,
  profile_tag TEXT NOT NULL,
  lang TEXT NOT NULL,
  data TEXT NOT NULL,
  device_id TEXT NOT NULL,
  pushkey_ts BIGINT NOT NULL,
  PRIMARY KEY (user_id, app_id, pushkey)
);
CREATE INDEX pushers_pushkey ON pushers (app_id, pushkey)
)SQL"};
}

} // namespace myelin::storage::schema
