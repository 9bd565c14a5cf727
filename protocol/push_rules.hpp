// Push rules (spec: client-server "Push Notifications" → "Push Rules", v1.19): the server-default
// rule set, a user's effective rule set (their rules merged with the defaults in the spec's
// priority order), rule bodies as clients send them, and evaluation of an event against a rule
// set. No I/O: storage/tables/push_rules reads the rules, the events persister evaluates them.
//
// Priority order: override (.m.rule.master first, then the user's override rules, then the other
// server-default overrides), content, room, sender, underride (user rules before the defaults of
// the same kind). The first enabled rule whose conditions all hold gives the actions.
#pragma once
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/power_levels.hpp"

namespace myelin::protocol::push {

enum class rule_kind { override_rule, content, room, sender, underride };
// The kinds in priority order.
inline constexpr std::array<rule_kind, 5> all_kinds = {rule_kind::override_rule, rule_kind::content, rule_kind::room,
                                                        rule_kind::sender, rule_kind::underride};
std::string_view to_string(rule_kind k);
std::optional<rule_kind> parse_kind(std::string_view s);

// A condition ready to evaluate. The JSON form is kept by the rule for clients; this is what the
// evaluator runs. Unknown kinds (and known kinds with malformed parameters) never match.
struct condition {
  enum class type {
    event_match, event_property_is, event_property_contains, contains_display_name, room_member_count,
    sender_notification_permission, never
  };
  enum class comparison { eq, lt, gt, le, ge };
  type kind = type::never;
  std::vector<std::string> path;   // event_match / event_property_*: the key, unescaped
  std::vector<uint32_t> glob;      // event_match: the pattern, compiled (see glob_tokens)
  bool word_boundary = false;      // event_match on content.body
  boost::json::value value;        // event_property_*
  comparison op = comparison::eq;  // room_member_count
  int64_t count = 0;
  std::string permission_key;      // sender_notification_permission
};

// The key of event_match / event_property_*: a dot-separated path where "\." is a literal dot and
// "\\" a literal backslash (other escapes are kept as written). Appendix "Dot-separated property
// paths".
std::vector<std::string> split_key_path(std::string_view key);

// Compiles one condition object ({"kind": …, …}).
condition compile_condition(const boost::json::object& c);

struct rule {
  std::string rule_id;
  rule_kind kind = rule_kind::override_rule;
  bool is_default = false;
  bool enabled = true;
  boost::json::array conditions;      // override/underride, as given
  std::optional<std::string> pattern; // content rules
  boost::json::array actions;
  std::vector<condition> compiled;    // conditions, or what content/room/sender rules imply
  std::string actions_text;           // `actions` serialized (filled by rule_set, for storing)

  // The rule as GET /pushrules shows it (PushRule): rule_id, default, enabled, actions, plus
  // conditions (override/underride) or pattern (content).
  boost::json::object to_json() const;
  // Fills `compiled` from conditions / pattern / rule_id.
  void compile();
};

// The server-default rules for `user_id`, in priority order within each kind.
std::vector<rule> default_rules(const std::string& user_id);
bool is_default_rule(rule_kind kind, std::string_view rule_id);

// A user's changes to a server-default rule (PUT …/enabled, …/actions); unset = the default.
struct default_override {
  std::optional<bool> enabled;
  std::optional<boost::json::array> actions;
};
using override_key = std::pair<rule_kind, std::string>;

// A user's effective rules: theirs and the server defaults, in evaluation order.
class rule_set {
public:
  rule_set() = default;
  // `user_rules` in priority order within each kind (most important first; kinds may be mixed).
  rule_set(const std::string& user_id, const std::vector<rule>& user_rules,
           const std::map<override_key, default_override>& overrides = {});
  const std::vector<rule>& rules() const { return rules_; }
  const rule* find(rule_kind kind, std::string_view rule_id) const;
  // The ruleset as clients read it: {"override": […], "content": […], "room": […], "sender": […],
  // "underride": […]}.
  boost::json::object to_json() const;

private:
  std::vector<rule> rules_;
};

// What the conditions look at besides the event: the room and the user the rules belong to.
struct event_context {
  const boost::json::object& event;           // the event (PDU JSON: type, content, sender, …)
  int64_t member_count = 0;                   // joined members of the room
  std::string_view display_name;              // the rules' owner's display name in the room ("" = none)
  const power_levels* levels = nullptr;       // current power levels (null: the defaults)
  int64_t sender_power_level = 0;
};

bool matches(const condition& c, const event_context& ctx);
// The first enabled rule whose conditions all hold; nullptr when none does.
const rule* matching_rule(const rule_set& rules, const event_context& ctx);
// That rule's actions; nullptr when no rule matches.
const boost::json::array* evaluate(const rule_set& rules, const event_context& ctx);

// Reading actions ("dont_notify" and "coalesce" are historical and mean nothing).
bool notify(const boost::json::array& actions);
bool highlight(const boost::json::array& actions);  // set_tweak highlight, value absent or true
std::optional<std::string> sound(const boost::json::array& actions);

// ---- rules as clients send them (PUT /pushrules/global/{kind}/{ruleId}) ----

// 400 M_INVALID_PARAM unless the id may name a user rule: not empty, no leading '.' (reserved for
// server defaults), no '/' or '\'.
void check_user_rule_id(std::string_view rule_id);
// Actions must be an array of "notify" / "dont_notify" / "coalesce" or {"set_tweak": string, …}
// (400 M_BAD_JSON). Returns them without the historical no-op actions.
boost::json::array parse_actions(const boost::json::value& actions);
// A user rule from a PUT body ({"actions", "conditions"? (override/underride), "pattern"
// (content)}): 400 M_BAD_JSON when malformed. Enabled, not default.
rule parse_user_rule(rule_kind kind, const std::string& rule_id, const boost::json::object& body);

// ---- matching primitives (exposed for tests) ----

// A glob ('*' any run, '?' one character) compiled to lower-cased code points; `literal` takes
// every character as itself (display names).
std::vector<uint32_t> glob_tokens(std::string_view pattern, bool literal = false);
// Whole-value match, or — `word_boundary` — a match of any substring that starts and ends at a word
// boundary (start/end of the value or a character outside [A-Za-z0-9_]). Case-insensitive
// (ASCII); '?' is one code point.
bool glob_matches(const std::vector<uint32_t>& tokens, std::string_view text, bool word_boundary);

} // namespace myelin::protocol::push
