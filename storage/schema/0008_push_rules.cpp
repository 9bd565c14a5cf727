// Migration 8: push rules, written only by the push_rules stream writer.
//   push_rules           a user's own rules; `priority` orders the rules of one kind (higher first)
//   push_rule_defaults   a user's changes to server-default rules (NULL = the server's value)
//   push_rules_positions the stream position of each user's last change, for /sync
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration push_rules_migration() {
  return {8, "push_rules", R"SQL(
CREATE TABLE push_rules (
  user_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  rule_id TEXT NOT NULL,
  priority BIGINT NOT NULL,
  conditions TEXT NOT NULL,
  pattern TEXT,
  actions TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  PRIMARY KEY (user_id, kind, rule_id)
);
CREATE TABLE push_rule_defaults (
  user_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  rule_id TEXT NOT NULL,
  enabled INTEGER,
  actions TEXT,
  PRIMARY KEY (user_id, kind, rule_id)
);
CREATE TABLE push_rules_positions (
  user_id TEXT PRIMARY KEY,
  position BIGINT NOT NULL
)
)SQL"};
}

} // namespace myelin::storage::schema
