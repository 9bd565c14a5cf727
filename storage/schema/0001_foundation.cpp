// Migration 1: accounts (users, profiles, devices, access tokens), user-interactive auth
// sessions, OpenID tokens, and the stream bookkeeping every writer uses.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration foundation_migration() {
  return {1, "foundation", R"SQL(
CREATE TABLE users (
  user_id TEXT PRIMARY KEY,
  password_hash TEXT,
  created_ts BIGINT NOT NULL,
  is_admin INTEGER NOT NULL DEFAULT 0,
  is_guest INTEGER NOT NULL DEFAULT 0,
  deactivated INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE profiles (
  user_id TEXT PRIMARY KEY,
  displayname TEXT,
  avatar_url TEXT
);
CREATE TABLE devices (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  display_name TEXT,
  created_ts BIGINT NOT NULL,
  last_seen_ts BIGINT,
  last_seen_ip TEXT,
  last_seen_user_agent TEXT,
  PRIMARY KEY (user_id, device_id)
);
CREATE TABLE access_tokens (
  id ${BIGSERIAL_PK},
  token_hash TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL,
  device_id TEXT,
  created_ts BIGINT NOT NULL,
  valid_until_ms BIGINT,
  is_guest INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX access_tokens_user_device ON access_tokens (user_id, device_id);
CREATE TABLE ui_auth_sessions (
  session_id TEXT PRIMARY KEY,
  created_ts BIGINT NOT NULL,
  method TEXT NOT NULL,
  uri TEXT NOT NULL,
  user_id TEXT,
  clientdict TEXT NOT NULL DEFAULT '{}',
  completed TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX ui_auth_sessions_created ON ui_auth_sessions (created_ts);
CREATE TABLE openid_tokens (
  token TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  expires_ts BIGINT NOT NULL
);
CREATE TABLE stream_positions (
  stream TEXT NOT NULL,
  writer TEXT NOT NULL,
  position BIGINT NOT NULL,
  PRIMARY KEY (stream, writer)
);
CREATE TABLE stream_log (
  stream TEXT NOT NULL,
  writer TEXT NOT NULL,
  position BIGINT NOT NULL,
  row_json TEXT NOT NULL
);
CREATE INDEX stream_log_position ON stream_log (stream, writer, position);
)SQL"};
}

} // namespace myelin::storage::schema
