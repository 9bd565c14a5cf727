#include "protocol/event_filter.hpp"

#include <algorithm>

#include "protocol/errors.hpp"
#include "protocol/json.hpp"

namespace myelin::protocol {

namespace json = boost::json;

bool glob_match(std::string_view p, std::string_view t) {
  // Iterative matcher with backtracking to the last '*': linear in practice, no recursion.
  size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] != '*' && p[pi] == t[ti]) {
      ++pi, ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

namespace {

std::vector<std::string> string_list(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return out;
  if (!v->is_array()) throw errors::bad_json("Filter field '" + std::string(key) + "' must be a list");
  for (const auto& s : v->as_array()) {
    if (!s.is_string()) throw errors::bad_json("Filter field '" + std::string(key) + "' must list strings");
    out.emplace_back(s.as_string());
  }
  return out;
}

std::optional<std::vector<std::string>> opt_list(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  return string_list(o, key);
}

bool any_glob(const std::vector<std::string>& patterns, std::string_view s) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return glob_match(p, s); });
}

bool contains(const std::vector<std::string>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

} // namespace

room_event_filter parse_room_event_filter(const json::object& o) {
  room_event_filter f;
  if (auto limit = opt_int(o, "limit")) {
    if (*limit < 0) throw errors::bad_json("Filter limit must not be negative");
    f.limit = limit;
  }
  f.types = opt_list(o, "types");
  f.senders = opt_list(o, "senders");
  f.rooms = opt_list(o, "rooms");
  f.not_types = string_list(o, "not_types");
  f.not_senders = string_list(o, "not_senders");
  f.not_rooms = string_list(o, "not_rooms");
  f.contains_url = opt_bool(o, "contains_url");
  f.lazy_load_members = opt_bool(o, "lazy_load_members").value_or(false);
  f.include_redundant_members = opt_bool(o, "include_redundant_members").value_or(false);
  return f;
}

namespace {
const json::object* sub_object(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return nullptr;
  if (!v->is_object()) throw errors::bad_json("Filter field '" + std::string(key) + "' must be an object");
  return &v->as_object();
}
room_event_filter sub_filter(const json::object& o, std::string_view key) {
  auto* sub = sub_object(o, key);
  return sub ? parse_room_event_filter(*sub) : room_event_filter{};
}
} // namespace

filter parse_filter(const json::object& o) {
  filter f;
  f.event_fields = opt_list(o, "event_fields");
  if (auto fmt = opt_string(o, "event_format")) {
    if (*fmt != "client" && *fmt != "federation")
      throw errors::bad_json("event_format must be 'client' or 'federation'");
    f.event_format = *fmt;
  }
  f.presence = sub_filter(o, "presence");
  f.account_data = sub_filter(o, "account_data");
  if (auto* room = sub_object(o, "room")) {
    f.room.rooms = opt_list(*room, "rooms");
    f.room.not_rooms = string_list(*room, "not_rooms");
    f.room.include_leave = opt_bool(*room, "include_leave").value_or(false);
    f.room.timeline = sub_filter(*room, "timeline");
    f.room.state = sub_filter(*room, "state");
    f.room.ephemeral = sub_filter(*room, "ephemeral");
    f.room.account_data = sub_filter(*room, "account_data");
  }
  return f;
}

room_event_filter parse_room_event_filter(std::string_view text) { return parse_room_event_filter(parse_object(text)); }

bool room_event_filter::matches_room(std::string_view room_id) const {
  if (contains(not_rooms, room_id)) return false;
  return !rooms || contains(*rooms, room_id);
}

bool room_event_filter::matches(std::string_view type, std::string_view sender, std::string_view room_id,
                                const json::object& content) const {
  // The "not_" lists win over the allow lists, as the spec says.
  if (any_glob(not_types, type) || contains(not_senders, sender)) return false;
  if (types && !any_glob(*types, type)) return false;
  if (senders && !contains(*senders, sender)) return false;
  if (!matches_room(room_id)) return false;
  if (contains_url) {
    auto* url = content.if_contains("url");
    bool has = url && url->is_string();
    if (has != *contains_url) return false;
  }
  return true;
}

} // namespace myelin::protocol
