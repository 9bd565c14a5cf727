#include "storage/tables/push_rules.hpp"

#include <boost/json.hpp>

#include "storage/tables/in_list.hpp"

namespace myelin::storage::push_rules {

namespace json = boost::json;
using protocol::push::rule_kind;

namespace {

std::string kind_text(rule_kind k) { return std::string(protocol::push::to_string(k)); }

// A stored JSON array; nullopt if the text is not one (never written so, but reads must not throw
// inside the persister's transaction because of one bad row).
std::optional<json::array> parse_array(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_array()) return std::nullopt;
  return std::move(v.as_array());
}

struct user_rows {
  std::vector<protocol::push::rule> rules;
  std::map<protocol::push::override_key, protocol::push::default_override> overrides;
};

} // namespace

std::map<std::string, protocol::push::rule_set> rule_sets(connection& c, const std::vector<std::string>& user_ids) {
  std::map<std::string, user_rows> rows;
  for (const auto& id : user_ids) rows[id];
  for_each_chunk(user_ids, [&](std::vector<std::string>& chunk) {
    auto list = in_list(1, chunk);
    // Both tables in one round trip: own rules (is_default 0) in priority order, then the
    // user's changes to server-default rules.
    auto r = c.exec("SELECT user_id, kind, rule_id, priority, conditions, pattern, actions, enabled, 0 "
                    "FROM push_rules WHERE user_id IN (" + list + ") "
                    "UNION ALL SELECT user_id, kind, rule_id, 0, NULL, NULL, actions, enabled, 1 "
                    "FROM push_rule_defaults WHERE user_id IN (" + list + ") "
                    "ORDER BY 1, 9, 2, 4 DESC",
                    sql_params(chunk.begin(), chunk.end()));
    for (size_t i = 0; i < r.size(); ++i) {
      auto kind = protocol::push::parse_kind(r[i].as_text(1));
      if (!kind) continue;
      auto& u = rows[r[i].as_text(0)];
      if (r[i].as_int(8) == 0) {
        protocol::push::rule rule;
        rule.rule_id = r[i].as_text(2);
        rule.kind = *kind;
        auto conditions = parse_array(r[i].as_text(4));
        auto actions = parse_array(r[i].as_text(6));
        if (!conditions || !actions) continue;
        rule.conditions = std::move(*conditions);
        rule.pattern = r[i].opt_text(5);
        rule.actions = std::move(*actions);
        rule.enabled = r[i].as_int(7) != 0;
        rule.compile();
        u.rules.push_back(std::move(rule));
      } else {
        protocol::push::default_override o;
        if (!r[i].is_null(7)) o.enabled = r[i].as_int(7) != 0;
        if (!r[i].is_null(6)) o.actions = parse_array(r[i].as_text(6));
        u.overrides[{*kind, r[i].as_text(2)}] = std::move(o);
      }
    }
  });
  std::map<std::string, protocol::push::rule_set> out;
  for (auto& [user_id, u] : rows) out.emplace(user_id, protocol::push::rule_set(user_id, u.rules, u.overrides));
  return out;
}

protocol::push::rule_set rule_set_for(connection& c, const std::string& user_id) {
  return std::move(rule_sets(c, {user_id}).at(user_id));
}

int64_t last_change(connection& c, const std::string& user_id) {
  auto r = c.exec("SELECT position FROM push_rules_positions WHERE user_id = $1", {user_id});
  return r.empty() ? 0 : r[0].as_int(0);
}

std::map<std::string, int64_t> last_changes(connection& c, const std::vector<std::string>& user_ids) {
  std::map<std::string, int64_t> out;
  for (const auto& id : user_ids) out[id] = 0;
  for_each_chunk(user_ids, [&](std::vector<std::string>& chunk) {
    auto r = c.exec("SELECT user_id, position FROM push_rules_positions WHERE user_id IN (" + in_list(1, chunk) + ")",
                    sql_params(chunk.begin(), chunk.end()));
    for (size_t i = 0; i < r.size(); ++i) out[r[i].as_text(0)] = r[i].as_int(1);
  });
  return out;
}

std::vector<std::string> user_rule_ids(connection& c, const std::string& user_id, rule_kind kind) {
  auto r = c.exec("SELECT rule_id FROM push_rules WHERE user_id = $1 AND kind = $2 ORDER BY priority DESC",
                  {user_id, kind_text(kind)});
  std::vector<std::string> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back(r[i].as_text(0));
  return out;
}

std::optional<int64_t> priority_of(connection& c, const std::string& user_id, rule_kind kind,
                                   const std::string& rule_id) {
  auto r = c.exec("SELECT priority FROM push_rules WHERE user_id = $1 AND kind = $2 AND rule_id = $3",
                  {user_id, kind_text(kind), rule_id});
  if (r.empty()) return std::nullopt;
  return r[0].as_int(0);
}

void upsert_rule(connection& c, const std::string& user_id, const protocol::push::rule& r, int64_t priority) {
  c.exec("INSERT INTO push_rules (user_id, kind, rule_id, priority, conditions, pattern, actions, enabled) "
         "VALUES ($1, $2, $3, $4, $5, $6, $7, 1) ON CONFLICT (user_id, kind, rule_id) DO UPDATE SET "
         "priority = excluded.priority, conditions = excluded.conditions, pattern = excluded.pattern, "
         "actions = excluded.actions",
         {user_id, kind_text(r.kind), r.rule_id, priority, json::serialize(r.conditions), nullable(r.pattern),
          json::serialize(r.actions)});
}

void set_priority(connection& c, const std::string& user_id, rule_kind kind, const std::string& rule_id,
                  int64_t priority) {
  c.exec("UPDATE push_rules SET priority = $4 WHERE user_id = $1 AND kind = $2 AND rule_id = $3",
         {user_id, kind_text(kind), rule_id, priority});
}

int64_t max_priority(connection& c, const std::string& user_id, rule_kind kind) {
  auto r = c.exec("SELECT MAX(priority) FROM push_rules WHERE user_id = $1 AND kind = $2", {user_id, kind_text(kind)});
  return r.empty() ? 0 : r[0].as_int(0);
}

bool delete_rule(connection& c, const std::string& user_id, rule_kind kind, const std::string& rule_id) {
  return c.exec("DELETE FROM push_rules WHERE user_id = $1 AND kind = $2 AND rule_id = $3",
                {user_id, kind_text(kind), rule_id})
             .affected_rows() > 0;
}

bool set_enabled(connection& c, const std::string& user_id, rule_kind kind, const std::string& rule_id, bool enabled) {
  return c.exec("UPDATE push_rules SET enabled = $4 WHERE user_id = $1 AND kind = $2 AND rule_id = $3",
                {user_id, kind_text(kind), rule_id, int64_t(enabled)})
             .affected_rows() > 0;
}

bool set_actions(connection& c, const std::string& user_id, rule_kind kind, const std::string& rule_id,
                 const std::string& actions_json) {
  return c.exec("UPDATE push_rules SET actions = $4 WHERE user_id = $1 AND kind = $2 AND rule_id = $3",
                {user_id, kind_text(kind), rule_id, actions_json})
             .affected_rows() > 0;
}

void set_default_enabled(connection& c, const std::string& user_id, rule_kind kind, const std::string& rule_id,
                         bool enabled) {
  c.exec("INSERT INTO push_rule_defaults (user_id, kind, rule_id, enabled) VALUES ($1, $2, $3, $4) "
         "ON CONFLICT (user_id, kind, rule_id) DO UPDATE SET enabled = excluded.enabled",
         {user_id, kind_text(kind), rule_id, int64_t(enabled)});
}

void set_default_actions(connection& c, const std::string& user_id, rule_kind kind, const std::string& rule_id,
                         const std::string& actions_json) {
  c.exec("INSERT INTO push_rule_defaults (user_id, kind, rule_id, actions) VALUES ($1, $2, $3, $4) "
         "ON CONFLICT (user_id, kind, rule_id) DO UPDATE SET actions = excluded.actions",
         {user_id, kind_text(kind), rule_id, actions_json});
}

void set_last_change(connection& c, const std::string& user_id, int64_t position) {
  c.exec("INSERT INTO push_rules_positions (user_id, position) VALUES ($1, $2) "
         "ON CONFLICT (user_id) DO UPDATE SET position = excluded.position",
         {user_id, position});
}

} // namespace myelin::storage::push_rules
