// Push rules: defaults, rule sets, client rule bodies and evaluation (see push_rules.hpp).
#include "protocol/push_rules.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <limits>

#include "protocol/errors.hpp"

namespace myelin::protocol::push {

namespace json = boost::json;

namespace {

constexpr uint32_t any_run = 0xFFFFFFFFu;   // '*'
constexpr uint32_t any_one = 0xFFFFFFFEu;   // '?'

// Stands for the rules' owner in the default rules' text (the spec writes "[the user's Matrix ID]").
constexpr std::string_view user_placeholder = "[the user's Matrix ID]";

// The spec's server-default rules (v1.19 "Predefined Rules"), in their order. The legacy
// body-matching mention rules (.m.rule.contains_display_name, .m.rule.roomnotif,
// .m.rule.contains_user_name) were removed in v1.17 (MSC4210); clients send m.mentions.
constexpr std::string_view default_rules_json = R"JSON({
 "override": [
  {"rule_id": ".m.rule.master", "enabled": false, "conditions": [], "actions": []},
  {"rule_id": ".m.rule.suppress_notices",
   "conditions": [{"kind": "event_match", "key": "content.msgtype", "pattern": "m.notice"}], "actions": []},
  {"rule_id": ".m.rule.invite_for_me",
   "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.member"},
                  {"kind": "event_match", "key": "content.membership", "pattern": "invite"},
                  {"kind": "event_match", "key": "state_key", "pattern": "[the user's Matrix ID]"}],
   "actions": ["notify", {"set_tweak": "sound", "value": "default"}]},
  {"rule_id": ".m.rule.member_event",
   "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.member"}], "actions": []},
  {"rule_id": ".m.rule.is_user_mention",
   "conditions": [{"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids",
                   "value": "[the user's Matrix ID]"}],
   "actions": ["notify", {"set_tweak": "sound", "value": "default"}, {"set_tweak": "highlight"}]},
  {"rule_id": ".m.rule.is_room_mention",
   "conditions": [{"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": true},
                  {"kind": "sender_notification_permission", "key": "room"}],
   "actions": ["notify", {"set_tweak": "highlight"}]},
  {"rule_id": ".m.rule.tombstone",
   "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.tombstone"},
                  {"kind": "event_match", "key": "state_key", "pattern": ""}],
   "actions": ["notify", {"set_tweak": "highlight"}]},
  {"rule_id": ".m.rule.reaction",
   "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.reaction"}], "actions": []},
  {"rule_id": ".m.rule.room.server_acl",
   "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.server_acl"},
                  {"kind": "event_match", "key": "state_key", "pattern": ""}],
   "actions": []},
  {"rule_id": ".m.rule.suppress_edits",
   "conditions": [{"kind": "event_property_is", "key": "content.m\\.relates_to.rel_type", "value": "m.replace"}],
   "actions": []}
 ],
 "underride": [
  {"rule_id": ".m.rule.call",
   "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.call.invite"}],
   "actions": ["notify", {"set_tweak": "sound", "value": "ring"}]},
  {"rule_id": ".m.rule.encrypted_room_one_to_one",
   "conditions": [{"kind": "room_member_count", "is": "2"},
                  {"kind": "event_match", "key": "type", "pattern": "m.room.encrypted"}],
   "actions": ["notify", {"set_tweak": "sound", "value": "default"}]},
  {"rule_id": ".m.rule.room_one_to_one",
   "conditions": [{"kind": "room_member_count", "is": "2"},
                  {"kind": "event_match", "key": "type", "pattern": "m.room.message"}],
   "actions": ["notify", {"set_tweak": "sound", "value": "default"}]},
  {"rule_id": ".m.rule.message",
   "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.message"}], "actions": ["notify"]},
  {"rule_id": ".m.rule.encrypted",
   "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.encrypted"}], "actions": ["notify"]}
 ]
})JSON";

// The default rules, parsed and compiled once; `per_user` marks the ones naming their owner.
struct default_template {
  rule r;
  bool per_user = false;
};

bool names_user(const json::array& conditions) {
  for (const auto& c : conditions)
    for (const auto& [k, v] : c.as_object())
      if (v.is_string() && v.get_string() == user_placeholder) return true;
  return false;
}

const std::vector<default_template>& default_templates() {
  static const std::vector<default_template> list = [] {
    std::vector<default_template> out;
    auto all = json::parse(default_rules_json).as_object();
    for (auto kind : all_kinds) {
      auto* rules = all.if_contains(to_string(kind));
      if (!rules) continue;
      for (const auto& v : rules->as_array()) {
        const auto& o = v.as_object();
        default_template t;
        t.r.rule_id = std::string(o.at("rule_id").as_string());
        t.r.kind = kind;
        t.r.is_default = true;
        if (auto* e = o.if_contains("enabled")) t.r.enabled = e->as_bool();
        t.r.conditions = o.at("conditions").as_array();
        t.r.actions = o.at("actions").as_array();
        t.per_user = names_user(t.r.conditions);
        t.r.compile();
        out.push_back(std::move(t));
      }
    }
    return out;
  }();
  return list;
}

// ---- UTF-8 and character classes ----

// The next code point of `s` at `i` (advancing i); a byte that does not start a valid sequence
// stands for itself, so any input decodes.
uint32_t next_code_point(std::string_view s, size_t& i) {
  auto b = static_cast<unsigned char>(s[i]);
  int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (len <= 1 || i + len > s.size()) {
    ++i;
    return b;
  }
  uint32_t cp = b & (0x7F >> len);
  for (int k = 1; k < len; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) {
      ++i;
      return b;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  i += len;
  return cp;
}

uint32_t fold(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

// The spec's word characters: [A-Za-z0-9_]. Everything else is a word boundary.
bool is_word(uint32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// ---- event properties ----

const json::value* lookup(const json::object& event, const std::vector<std::string>& path) {
  const json::object* o = &event;
  const json::value* v = nullptr;
  for (size_t i = 0; i < path.size(); ++i) {
    v = o->if_contains(path[i]);
    if (!v) return nullptr;
    if (i + 1 < path.size()) {
      if (!v->is_object()) return nullptr;
      o = &v->get_object();
    }
  }
  return v;
}

std::optional<int64_t> as_int(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= uint64_t(std::numeric_limits<int64_t>::max()))
    return int64_t(v.get_uint64());
  return std::nullopt;
}

// The values event_property_* may compare: strings, canonical-JSON integers, booleans, null.
bool is_comparable(const json::value& v) {
  constexpr int64_t max_safe = (int64_t(1) << 53) - 1;
  if (v.is_string() || v.is_bool() || v.is_null()) return true;
  auto i = as_int(v);
  return i && *i >= -max_safe && *i <= max_safe;
}

bool scalar_equal(const json::value& a, const json::value& b) {
  if (a.is_string() && b.is_string()) return a.get_string() == b.get_string();
  if (a.is_bool() && b.is_bool()) return a.get_bool() == b.get_bool();
  if (a.is_null() && b.is_null()) return true;
  auto ia = as_int(a), ib = as_int(b);
  return ia && ib && *ia == *ib;
}

std::string_view view(const json::string& s) { return {s.data(), s.size()}; }

// "==2", "<10", ">=3", "5": the comparison and the number; nullopt when malformed.
std::optional<std::pair<condition::comparison, int64_t>> parse_member_count(std::string_view is) {
  using cmp = condition::comparison;
  cmp op = cmp::eq;
  // Two-character prefixes first, so "<=" is not read as "<" followed by "=".
  static constexpr std::pair<std::string_view, cmp> prefixes[] = {
      {"==", cmp::eq}, {"<=", cmp::le}, {">=", cmp::ge}, {"<", cmp::lt}, {">", cmp::gt}};
  for (auto [p, o] : prefixes) {
    if (is.substr(0, p.size()) == p) {
      op = o;
      is.remove_prefix(p.size());
      break;
    }
  }
  if (is.empty() || is.size() > 18) return std::nullopt;
  int64_t n = 0;
  for (char c : is) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return std::pair{op, n};
}

const json::string* string_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? &v->get_string() : nullptr;
}

condition property_is(std::vector<std::string> path, json::value value) {
  condition c;
  c.kind = condition::type::event_property_is;
  c.path = std::move(path);
  c.value = std::move(value);
  return c;
}

} // namespace

std::string_view to_string(rule_kind k) {
  switch (k) {
    case rule_kind::override_rule: return "override";
    case rule_kind::content: return "content";
    case rule_kind::room: return "room";
    case rule_kind::sender: return "sender";
    case rule_kind::underride: return "underride";
  }
  return "";
}

std::optional<rule_kind> parse_kind(std::string_view s) {
  for (auto k : all_kinds)
    if (to_string(k) == s) return k;
  return std::nullopt;
}

std::vector<std::string> split_key_path(std::string_view key) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    if (c == '\\' && i + 1 < key.size() && (key[i + 1] == '.' || key[i + 1] == '\\')) {
      out.back() += key[++i];
    } else if (c == '.') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

std::vector<uint32_t> glob_tokens(std::string_view pattern, bool literal) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < pattern.size();) {
    uint32_t c = next_code_point(pattern, i);
    if (!literal && c == '*') {
      if (out.empty() || out.back() != any_run) out.push_back(any_run);  // "**" is "*"
    } else if (!literal && c == '?') {
      out.push_back(any_one);
    } else {
      out.push_back(fold(c));
    }
  }
  return out;
}

namespace {

bool is_wildcard(uint32_t t) { return t == any_run || t == any_one; }

// A pattern without wildcards against a whole value: a comparison, no state machine.
bool literal_equal(const std::vector<uint32_t>& tokens, std::string_view text) {
  size_t i = 0;
  for (uint32_t t : tokens)
    if (i >= text.size() || fold(next_code_point(text, i)) != t) return false;
  return i == text.size();
}

} // namespace

// An NFA run over the text, decoded as it goes: state s = "the first s tokens have matched".
// O(text × pattern) whatever the pattern, and no allocation for patterns under 64 tokens (the
// evaluator runs this for every member of a room on every event).
bool glob_matches(const std::vector<uint32_t>& tokens, std::string_view text, bool word_boundary) {
  const size_t m = tokens.size();
  if (!word_boundary && std::none_of(tokens.begin(), tokens.end(), is_wildcard)) return literal_equal(tokens, text);
  std::array<char, 64> small_a{}, small_b{};
  std::vector<char> big_a, big_b;
  char* cur = small_a.data();
  char* next = small_b.data();
  if (m + 1 > small_a.size()) {
    big_a.assign(m + 1, 0);
    big_b.assign(m + 1, 0);
    cur = big_a.data();
    next = big_b.data();
  }
  size_t pos = 0;
  bool has_prev = false, has_cur = !text.empty();
  uint32_t prev = 0, c = has_cur ? fold(next_code_point(text, pos)) : 0;
  bool any_active = false;
  for (bool first = true;; first = false) {
    // Between prev and c: a word boundary at the value's ends or next to a non-word character.
    // Matches start and end only there (word_boundary) or at the value's ends.
    bool boundary = !has_prev || !has_cur || !is_word(prev) || !is_word(c);
    if (word_boundary ? boundary : first) {
      cur[0] = 1;
      any_active = true;
    }
    if (!any_active && !word_boundary) return false;  // anchored at 0: nothing can match any more
    for (size_t s = 0; s < m; ++s)  // '*' may match nothing
      if (cur[s] && tokens[s] == any_run) cur[s + 1] = 1;
    if (cur[m] && (word_boundary ? boundary : !has_cur)) return true;
    if (!has_cur) return false;
    std::fill(next, next + m + 1, 0);
    any_active = false;
    for (size_t s = 0; s < m; ++s) {
      if (!cur[s]) continue;
      uint32_t t = tokens[s];
      if (t == any_run) {
        next[s] = 1;
        any_active = true;
      } else if (t == any_one || t == c) {
        next[s + 1] = 1;
        any_active = true;
      }
    }
    std::swap(cur, next);
    prev = c;
    has_prev = true;
    has_cur = pos < text.size();
    if (has_cur) c = fold(next_code_point(text, pos));
  }
}

condition compile_condition(const json::object& o) {
  condition c;
  auto* kind = string_field(o, "kind");
  if (!kind) return c;
  auto* key = string_field(o, "key");
  if (*kind == "event_match") {
    auto* pattern = string_field(o, "pattern");
    if (!key || !pattern) return c;
    c.path = split_key_path(view(*key));
    c.glob = glob_tokens(view(*pattern));
    c.word_boundary = *key == "content.body";
    c.kind = condition::type::event_match;
  } else if (*kind == "event_property_is" || *kind == "event_property_contains") {
    auto* value = o.if_contains("value");
    if (!key || !value || !is_comparable(*value)) return c;
    c.path = split_key_path(view(*key));
    c.value = *value;
    c.kind = *kind == "event_property_is" ? condition::type::event_property_is
                                           : condition::type::event_property_contains;
  } else if (*kind == "contains_display_name") {
    c.kind = condition::type::contains_display_name;
  } else if (*kind == "room_member_count") {
    auto* is = string_field(o, "is");
    auto parsed = is ? parse_member_count(view(*is)) : std::nullopt;
    if (!parsed) return c;
    std::tie(c.op, c.count) = *parsed;
    c.kind = condition::type::room_member_count;
  } else if (*kind == "sender_notification_permission") {
    if (!key) return c;
    c.permission_key = std::string(view(*key));
    c.kind = condition::type::sender_notification_permission;
  }
  return c;
}

void rule::compile() {
  compiled.clear();
  switch (kind) {
    case rule_kind::override_rule:
    case rule_kind::underride:
      for (const auto& c : conditions)
        compiled.push_back(c.is_object() ? compile_condition(c.get_object()) : condition{});
      break;
    case rule_kind::content: {
      condition c;
      if (pattern) {
        c.kind = condition::type::event_match;
        c.path = {"content", "body"};
        c.glob = glob_tokens(*pattern);
        c.word_boundary = true;
      }
      compiled.push_back(std::move(c));
      break;
    }
    case rule_kind::room:
      compiled.push_back(property_is({"room_id"}, json::string(rule_id)));
      break;
    case rule_kind::sender:
      compiled.push_back(property_is({"sender"}, json::string(rule_id)));
      break;
  }
}

json::object rule::to_json() const {
  json::object o{{"rule_id", rule_id}, {"default", is_default}, {"enabled", enabled}, {"actions", actions}};
  if (kind == rule_kind::override_rule || kind == rule_kind::underride) o["conditions"] = conditions;
  if (kind == rule_kind::content) o["pattern"] = pattern.value_or("");
  return o;
}

std::vector<rule> default_rules(const std::string& user_id) {
  std::vector<rule> out;
  out.reserve(default_templates().size());
  for (const auto& t : default_templates()) {
    out.push_back(t.r);
    if (!t.per_user) continue;
    for (auto& c : out.back().conditions)
      for (auto& [k, v] : c.as_object())
        if (v.is_string() && v.get_string() == user_placeholder) v = user_id;
    out.back().compile();
  }
  return out;
}

bool is_default_rule(rule_kind kind, std::string_view rule_id) {
  for (const auto& t : default_templates())
    if (t.r.kind == kind && t.r.rule_id == rule_id) return true;
  return false;
}

rule_set::rule_set(const std::string& user_id, const std::vector<rule>& user_rules,
                   const std::map<override_key, default_override>& overrides) {
  auto defaults = default_rules(user_id);
  for (auto& d : defaults) {
    auto it = overrides.find({d.kind, d.rule_id});
    if (it == overrides.end()) continue;
    if (it->second.enabled) d.enabled = *it->second.enabled;
    if (it->second.actions) d.actions = *it->second.actions;
  }
  rules_.reserve(defaults.size() + user_rules.size());
  for (auto kind : all_kinds) {
    // .m.rule.master outranks even the user's own override rules (it is the first default).
    size_t first_default = 0;
    if (kind == rule_kind::override_rule && !defaults.empty() && defaults[0].rule_id == ".m.rule.master")
      rules_.push_back(std::move(defaults[first_default++]));
    for (const auto& r : user_rules)
      if (r.kind == kind) rules_.push_back(r);
    for (size_t i = first_default; i < defaults.size(); ++i)
      if (defaults[i].kind == kind) rules_.push_back(std::move(defaults[i]));
  }
  for (auto& r : rules_) r.actions_text = json::serialize(r.actions);
}

const rule* rule_set::find(rule_kind kind, std::string_view rule_id) const {
  for (const auto& r : rules_)
    if (r.kind == kind && r.rule_id == rule_id) return &r;
  return nullptr;
}

json::object rule_set::to_json() const {
  json::object out;
  for (auto kind : all_kinds) {
    json::array list;
    for (const auto& r : rules_)
      if (r.kind == kind) list.push_back(r.to_json());
    out[to_string(kind)] = std::move(list);
  }
  return out;
}

bool matches(const condition& c, const event_context& ctx) {
  using t = condition::type;
  switch (c.kind) {
    case t::event_match: {
      auto* v = lookup(ctx.event, c.path);
      return v && v->is_string() && glob_matches(c.glob, view(v->get_string()), c.word_boundary);
    }
    case t::event_property_is: {
      auto* v = lookup(ctx.event, c.path);
      return v && scalar_equal(*v, c.value);
    }
    case t::event_property_contains: {
      auto* v = lookup(ctx.event, c.path);
      if (!v || !v->is_array()) return false;
      for (const auto& item : v->get_array())
        if (scalar_equal(item, c.value)) return true;
      return false;
    }
    case t::contains_display_name: {
      if (ctx.display_name.empty()) return false;
      static const std::vector<std::string> body_path{"content", "body"};
      auto* body = lookup(ctx.event, body_path);
      return body && body->is_string() &&
             glob_matches(glob_tokens(ctx.display_name, /*literal=*/true), view(body->get_string()), true);
    }
    case t::room_member_count: {
      int64_t n = ctx.member_count;
      switch (c.op) {
        case condition::comparison::eq: return n == c.count;
        case condition::comparison::lt: return n < c.count;
        case condition::comparison::gt: return n > c.count;
        case condition::comparison::le: return n <= c.count;
        case condition::comparison::ge: return n >= c.count;
      }
      return false;
    }
    case t::sender_notification_permission: {
      int64_t needed = ctx.levels ? ctx.levels->notification_level(c.permission_key) : 50;
      return ctx.sender_power_level >= needed;
    }
    case t::never:
      return false;
  }
  return false;
}

const rule* matching_rule(const rule_set& rules, const event_context& ctx) {
  for (const auto& r : rules.rules()) {
    if (!r.enabled) continue;
    bool all = true;
    for (const auto& c : r.compiled)
      if (!matches(c, ctx)) {
        all = false;
        break;
      }
    if (all) return &r;
  }
  return nullptr;
}

const json::array* evaluate(const rule_set& rules, const event_context& ctx) {
  const rule* r = matching_rule(rules, ctx);
  return r ? &r->actions : nullptr;
}

namespace {
const json::object* tweak(const json::array& actions, std::string_view name) {
  for (const auto& a : actions)
    if (a.is_object())
      if (auto* t = a.get_object().if_contains("set_tweak"); t && t->is_string() && t->get_string() == name)
        return &a.get_object();
  return nullptr;
}
} // namespace

bool notify(const json::array& actions) {
  for (const auto& a : actions)
    if (a.is_string() && a.get_string() == "notify") return true;
  return false;
}

bool highlight(const json::array& actions) {
  auto* t = tweak(actions, "highlight");
  if (!t) return false;
  auto* v = t->if_contains("value");
  return !v || (v->is_bool() && v->get_bool());
}

std::optional<std::string> sound(const json::array& actions) {
  auto* t = tweak(actions, "sound");
  if (!t) return std::nullopt;
  auto* v = t->if_contains("value");
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(view(v->get_string()));
}

// ---- client rule bodies ----

void check_user_rule_id(std::string_view rule_id) {
  if (rule_id.empty()) throw errors::invalid_param("The rule id must not be empty");
  if (rule_id.front() == '.') throw errors::invalid_param("Rule ids starting with '.' are reserved for server-default rules");
  if (rule_id.find_first_of("/\\") != std::string_view::npos)
    throw errors::invalid_param("Rule ids may not contain slashes or backslashes");
}

json::array parse_actions(const json::value& actions) {
  if (!actions.is_array()) throw errors::bad_json("'actions' must be an array");
  json::array out;
  for (const auto& a : actions.get_array()) {
    if (a.is_string() && a.get_string() == "notify") {
      out.push_back(a);
    } else if (a.is_string() && (a.get_string() == "dont_notify" || a.get_string() == "coalesce")) {
      continue;  // historical, meaningless: stripped as the spec asks
    } else if (a.is_object() && string_field(a.get_object(), "set_tweak")) {
      out.push_back(a);
    } else {
      throw errors::bad_json("Unrecognised action " + json::serialize(a));
    }
  }
  return out;
}

namespace {
// A known condition kind must have its parameters; unknown kinds are stored (they never match).
void check_condition(const json::value& v) {
  if (!v.is_object()) throw errors::bad_json("Each condition must be an object");
  const auto& o = v.get_object();
  auto* kind = string_field(o, "kind");
  if (!kind) throw errors::bad_json("Each condition needs a 'kind' string");
  auto need_string = [&](std::string_view field) {
    if (!string_field(o, field))
      throw errors::bad_json("Condition " + std::string(view(*kind)) + " needs a '" + std::string(field) + "' string");
  };
  if (*kind == "event_match") {
    need_string("key");
    need_string("pattern");
  } else if (*kind == "event_property_is" || *kind == "event_property_contains") {
    need_string("key");
    auto* value = o.if_contains("value");
    if (!value || !is_comparable(*value))
      throw errors::bad_json("Condition " + std::string(view(*kind)) +
                             " needs a 'value': a string, an integer, a boolean or null");
  } else if (*kind == "room_member_count") {
    need_string("is");
    if (!parse_member_count(view(*string_field(o, "is"))))
      throw errors::bad_json("room_member_count 'is' must be a number, optionally after ==, <, >, <= or >=");
  } else if (*kind == "sender_notification_permission") {
    need_string("key");
  }
}
} // namespace

rule parse_user_rule(rule_kind kind, const std::string& rule_id, const json::object& body) {
  rule r;
  r.rule_id = rule_id;
  r.kind = kind;
  auto* actions = body.if_contains("actions");
  if (!actions) throw errors::bad_json("A push rule needs 'actions'");
  r.actions = parse_actions(*actions);
  if (kind == rule_kind::override_rule || kind == rule_kind::underride) {
    if (auto* conditions = body.if_contains("conditions")) {
      if (!conditions->is_array()) throw errors::bad_json("'conditions' must be an array");
      for (const auto& c : conditions->get_array()) check_condition(c);
      r.conditions = conditions->get_array();
    }
  } else if (kind == rule_kind::content) {
    auto* pattern = string_field(body, "pattern");
    if (!pattern) throw errors::bad_json("A content rule needs a 'pattern' string");
    r.pattern = std::string(view(*pattern));
  }
  r.compile();
  return r;
}

} // namespace myelin::protocol::push
