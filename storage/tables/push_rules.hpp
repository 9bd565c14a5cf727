// Queries over the push rule tables (storage/schema/0008_push_rules.cpp). Reads give a user's
// effective rule set (their rules merged with the server defaults, protocol/push_rules), for GET
// /pushrules and for the events persister, which needs every notified member's rules at once.
// Writes are the push_rules stream writer's (storage/streams/push_rules_stream.cpp).
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/push_rules.hpp"
#include "storage/database.hpp"

namespace myelin::storage::push_rules {

// ---- reads ----

// The effective rule sets of `user_ids` (users without stored rules get the defaults), in one
// query per max_in_list users.
std::map<std::string, protocol::push::rule_set> rule_sets(connection& c, const std::vector<std::string>& user_ids);
protocol::push::rule_set rule_set_for(connection& c, const std::string& user_id);

// The push_rules stream position of the user's last change; 0 when they never changed anything.
// /sync sends m.push_rules account data when this is past its token.
int64_t last_change(connection& c, const std::string& user_id);
// The same for many users (0 for those who never changed anything).
std::map<std::string, int64_t> last_changes(connection& c, const std::vector<std::string>& user_ids);

// ---- writes (push_rules stream writer only) ----

// The ids of the user's own rules of `kind`, most important first.
std::vector<std::string> user_rule_ids(connection& c, const std::string& user_id, protocol::push::rule_kind kind);
// The priority of one of the user's own rules; nullopt when they have no such rule.
std::optional<int64_t> priority_of(connection& c, const std::string& user_id, protocol::push::rule_kind kind,
                                   const std::string& rule_id);
// Creates the rule (enabled) or replaces its conditions, pattern and actions (keeping whether it
// is enabled) and sets its priority (higher = more important within its kind).
void upsert_rule(connection& c, const std::string& user_id, const protocol::push::rule& r, int64_t priority);
void set_priority(connection& c, const std::string& user_id, protocol::push::rule_kind kind,
                  const std::string& rule_id, int64_t priority);
// The highest priority among the user's rules of `kind`; 0 when there are none.
int64_t max_priority(connection& c, const std::string& user_id, protocol::push::rule_kind kind);
// Each false when the user has no such rule of their own.
bool delete_rule(connection& c, const std::string& user_id, protocol::push::rule_kind kind, const std::string& rule_id);
bool set_enabled(connection& c, const std::string& user_id, protocol::push::rule_kind kind,
                 const std::string& rule_id, bool enabled);
bool set_actions(connection& c, const std::string& user_id, protocol::push::rule_kind kind,
                 const std::string& rule_id, const std::string& actions_json);
// The user's changes to a server-default rule.
void set_default_enabled(connection& c, const std::string& user_id, protocol::push::rule_kind kind,
                         const std::string& rule_id, bool enabled);
void set_default_actions(connection& c, const std::string& user_id, protocol::push::rule_kind kind,
                         const std::string& rule_id, const std::string& actions_json);
void set_last_change(connection& c, const std::string& user_id, int64_t position);

} // namespace myelin::storage::push_rules
