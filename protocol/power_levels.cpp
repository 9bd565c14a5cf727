// m.room.power_levels with the spec's defaults (event schema m.room.power_levels) and the room
// versions' tolerance for old encodings (rooms/v1 "m.room.power_levels events accept values as
// strings" and "… as floats"; both gone by v10).
#include "protocol/power_levels.hpp"

#include <boost/json.hpp>
#include <cmath>
#include <limits>

namespace myelin::protocol {

namespace json = boost::json;

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

// "a single base 10 integer, optionally with leading zeroes, optionally prefixed with one - or +,
// optionally surrounded by whitespace" (v1-stringy-power-levels).
std::optional<int64_t> parse_integer_string(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  bool negative = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  // Accumulate negatively so INT64_MIN parses too.
  int64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    int digit = c - '0';
    if (value < (std::numeric_limits<int64_t>::min() + digit) / 10) return std::nullopt;
    value = value * 10 - digit;
  }
  if (!negative) {
    if (value == std::numeric_limits<int64_t>::min()) return std::nullopt;
    value = -value;
  }
  return value;
}

void read_level(const json::object& content, std::string_view key, const room_version& version, int64_t& out) {
  if (const json::value* v = content.if_contains(key))
    if (auto level = parse_power_level_value(*v, version)) out = *level;
}

void read_level_map(const json::object& content, std::string_view key, const room_version& version,
                    std::map<std::string, int64_t, std::less<>>& out) {
  const json::value* v = content.if_contains(key);
  if (!v || !v->is_object()) return;
  for (const auto& [k, level_value] : v->get_object())
    if (auto level = parse_power_level_value(level_value, version)) out.emplace(std::string(k), *level);
}

} // namespace

std::optional<int64_t> parse_power_level_value(const json::value& value, const room_version& version) {
  if (value.is_int64()) return value.get_int64();
  if (value.is_uint64()) {
    if (value.get_uint64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(value.get_uint64());
  }
  if (value.is_string() && !version.integer_power_levels)
    return parse_integer_string(std::string_view(value.get_string().data(), value.get_string().size()));
  // Floats exist only where canonical JSON is not enforced (v1–5): truncated toward zero.
  if (value.is_double() && !version.strict_canonical_json) {
    double d = value.get_double();
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return std::nullopt;
    return static_cast<int64_t>(std::trunc(d));
  }
  return std::nullopt;
}

power_levels parse_power_levels(const json::object& content, const room_version& version) {
  power_levels pl;
  read_level(content, "ban", version, pl.ban);
  read_level(content, "kick", version, pl.kick);
  read_level(content, "redact", version, pl.redact);
  read_level(content, "invite", version, pl.invite);
  read_level(content, "events_default", version, pl.events_default);
  read_level(content, "state_default", version, pl.state_default);
  read_level(content, "users_default", version, pl.users_default);
  read_level_map(content, "events", version, pl.events);
  read_level_map(content, "users", version, pl.users);
  if (const json::value* n = content.if_contains("notifications"); n && n->is_object())
    read_level(n->get_object(), "room", version, pl.notifications_room);
  read_level_map(content, "notifications", version, pl.notifications);
  return pl;
}

power_levels effective_power_levels(const pdu* power_levels_event, const pdu* create_event,
                                    const room_version& version) {
  if (power_levels_event) return parse_power_levels(power_levels_event->content(), version);
  // No power levels event: the creator has 100, everyone else users_default (0). The other
  // defaults are the struct's (the schema's defaults apply "if there is no m.room.power_levels
  // event" as well: state_default 50, events_default 0, ban/kick/redact 50, invite 0).
  power_levels pl;
  if (create_event) {
    std::string_view creator;
    if (version.implicit_room_creator) {
      creator = create_event->sender();
    } else if (const json::value* c = create_event->content().if_contains("creator"); c && c->is_string()) {
      creator = std::string_view(c->get_string().data(), c->get_string().size());
    }
    if (!creator.empty()) pl.users.emplace(std::string(creator), 100);
  }
  return pl;
}

int64_t power_levels::user_level(std::string_view user_id) const {
  auto it = users.find(user_id);
  return it != users.end() ? it->second : users_default;
}

int64_t power_levels::notification_level(std::string_view key) const {
  if (key == "room") return notifications_room;
  auto it = notifications.find(key);
  return it != notifications.end() ? it->second : 50;
}

int64_t power_levels::event_level(std::string_view type, bool is_state) const {
  auto it = events.find(type);
  if (it != events.end()) return it->second;
  return is_state ? state_default : events_default;
}

} // namespace myelin::protocol
