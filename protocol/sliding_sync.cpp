#include "protocol/sliding_sync.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>

#include "protocol/errors.hpp"

namespace myelin::protocol::sliding {

namespace json = boost::json;
using errors::bad_json;
using errors::invalid_param;

namespace {

const json::object& object_at(const json::value& v, const std::string& what) {
  if (!v.is_object()) throw bad_json(what + " must be an object");
  return v.as_object();
}

const json::value* field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && !v->is_null() ? v : nullptr;
}

int64_t integer(const json::value& v, const std::string& what) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64() && v.as_uint64() <= uint64_t(INT64_MAX)) return int64_t(v.as_uint64());
  throw bad_json(what + " must be an integer");
}

bool boolean(const json::value& v, const std::string& what) {
  if (!v.is_bool()) throw bad_json(what + " must be a boolean");
  return v.as_bool();
}

std::string string_of(const json::value& v, const std::string& what) {
  if (!v.is_string()) throw bad_json(what + " must be a string");
  return std::string(v.as_string());
}

std::vector<std::string> strings(const json::value& v, const std::string& what) {
  if (!v.is_array()) throw bad_json(what + " must be an array of strings");
  std::vector<std::string> out;
  for (const auto& e : v.as_array()) out.push_back(string_of(e, what + " entries"));
  return out;
}

// room_types / not_room_types: strings, or null for rooms without a type.
std::vector<std::optional<std::string>> room_types(const json::value& v, const std::string& what) {
  if (!v.is_array()) throw bad_json(what + " must be an array");
  std::vector<std::optional<std::string>> out;
  for (const auto& e : v.as_array()) {
    if (e.is_null()) out.emplace_back();
    else out.emplace_back(string_of(e, what + " entries"));
  }
  return out;
}

// timeline_limit and required_state, shared by lists and room subscriptions.
room_config parse_config(const json::object& o, const std::string& what) {
  room_config c;
  if (auto* t = field(o, "timeline_limit")) {
    c.timeline_limit = integer(*t, what + ".timeline_limit");
    if (c.timeline_limit < 0) throw invalid_param(what + ".timeline_limit must not be negative");
    c.timeline_limit = std::min(c.timeline_limit, max_timeline_limit);
  }
  if (auto* rs = field(o, "required_state")) {
    if (!rs->is_array()) throw bad_json(what + ".required_state must be an array");
    for (const auto& e : rs->as_array()) {
      if (!e.is_array() || e.as_array().size() != 2 || !e.as_array()[0].is_string() || !e.as_array()[1].is_string())
        throw bad_json(what + ".required_state entries must be [type, state_key]");
      c.required_state.emplace_back(std::string(e.as_array()[0].as_string()),
                                    std::string(e.as_array()[1].as_string()));
    }
  }
  return c;
}

list_filters parse_filters(const json::object& o, const std::string& what) {
  list_filters f;
  if (auto* v = field(o, "is_dm")) f.is_dm = boolean(*v, what + ".is_dm");
  if (auto* v = field(o, "is_encrypted")) f.is_encrypted = boolean(*v, what + ".is_encrypted");
  if (auto* v = field(o, "is_invite")) f.is_invite = boolean(*v, what + ".is_invite");
  if (auto* v = field(o, "room_types")) f.room_types = room_types(*v, what + ".room_types");
  if (auto* v = field(o, "not_room_types")) f.not_room_types = room_types(*v, what + ".not_room_types");
  if (auto* v = field(o, "spaces")) f.spaces = strings(*v, what + ".spaces");
  return f;
}

list_request parse_list(const json::object& o, const std::string& what) {
  list_request l;
  l.config = parse_config(o, what);
  if (auto* r = field(o, "ranges")) {
    if (!r->is_array()) throw bad_json(what + ".ranges must be an array");
    for (const auto& e : r->as_array()) {
      if (!e.is_array() || e.as_array().size() != 2) throw bad_json(what + ".ranges entries must be [start, end]");
      int64_t start = integer(e.as_array()[0], what + ".ranges"), end = integer(e.as_array()[1], what + ".ranges");
      if (start < 0 || end < start) throw invalid_param(what + ".ranges entries need 0 <= start <= end");
      l.ranges.emplace_back(start, end);
    }
  }
  if (auto* f = field(o, "filters")) l.filters = parse_filters(object_at(*f, what + ".filters"), what + ".filters");
  return l;
}

extension_scope parse_scope(const json::object& o, const std::string& what) {
  extension_scope s;
  if (auto* e = field(o, "enabled")) s.enabled = boolean(*e, what + ".enabled");
  if (auto* l = field(o, "lists")) s.lists = strings(*l, what + ".lists");
  if (auto* r = field(o, "rooms")) s.rooms = strings(*r, what + ".rooms");
  return s;
}

bool has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

} // namespace

std::string room_config::key() const {
  auto sorted = required_state;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  json::array a;
  for (const auto& [t, k] : sorted) a.push_back(json::array{json::string(t), json::string(k)});
  return json::serialize(a);
}

void room_config::merge(const room_config& other) {
  timeline_limit = std::max(timeline_limit, other.timeline_limit);
  required_state.insert(required_state.end(), other.required_state.begin(), other.required_state.end());
}

bool list_request::in_ranges(int64_t i) const {
  for (const auto& [a, b] : ranges)
    if (i >= a && i <= b) return true;
  return false;
}

bool extension_scope::covers(const std::string& room_id, const std::vector<std::string>& room_lists,
                             bool subscribed) const {
  if (!enabled) return false;
  if (!lists && !rooms) return true;
  if (lists && (has(*lists, "*") ? !room_lists.empty() : std::any_of(room_lists.begin(), room_lists.end(), [&](auto& l) {
                  return has(*lists, l);
                })))
    return true;
  return rooms && subscribed && (has(*rooms, "*") || has(*rooms, room_id));
}

request parse_request(const json::value& body) {
  request r;
  if (body.is_null()) return r;
  const auto& o = object_at(body, "The request body");
  if (auto* c = field(o, "conn_id")) {
    r.conn_id = string_of(*c, "conn_id");
    if (r.conn_id.size() > 255) throw invalid_param("conn_id is too long");
  }
  if (auto* lists = field(o, "lists"))
    for (const auto& [name, l] : object_at(*lists, "lists")) {
      std::string what = "lists." + std::string(name);
      if (name.size() > 255) throw invalid_param("list names must be at most 255 characters");
      r.lists.emplace(std::string(name), parse_list(object_at(l, what), what));
    }
  if (auto* subs = field(o, "room_subscriptions"))
    for (const auto& [room_id, c] : object_at(*subs, "room_subscriptions")) {
      std::string what = "room_subscriptions." + std::string(room_id);
      if (room_id.empty() || room_id[0] != '!') throw invalid_param(what + ": not a room id");
      r.room_subscriptions.emplace(std::string(room_id), parse_config(object_at(c, what), what));
    }
  if (auto* ext = field(o, "extensions")) {
    const auto& e = object_at(*ext, "extensions");
    if (auto* td = field(e, "to_device")) {
      const auto& t = object_at(*td, "extensions.to_device");
      if (auto* en = field(t, "enabled")) r.to_device.enabled = boolean(*en, "extensions.to_device.enabled");
      if (auto* s = field(t, "since")) {
        auto text = string_of(*s, "extensions.to_device.since");
        int64_t v = 0;
        auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc{} || p != text.data() + text.size() || v < 0)
          throw invalid_param("extensions.to_device.since is not a to-device token");
        r.to_device.since = v;
      }
      if (auto* l = field(t, "limit")) {
        r.to_device.limit = integer(*l, "extensions.to_device.limit");
        if (r.to_device.limit < 1) throw invalid_param("extensions.to_device.limit must be positive");
      }
    }
    if (auto* e2ee = field(e, "e2ee"))
      if (auto* en = field(object_at(*e2ee, "extensions.e2ee"), "enabled")) r.e2ee = boolean(*en, "extensions.e2ee.enabled");
    if (auto* a = field(e, "account_data"))
      r.account_data = parse_scope(object_at(*a, "extensions.account_data"), "extensions.account_data");
    if (auto* a = field(e, "receipts")) r.receipts = parse_scope(object_at(*a, "extensions.receipts"), "extensions.receipts");
    if (auto* a = field(e, "typing")) r.typing = parse_scope(object_at(*a, "extensions.typing"), "extensions.typing");
  }
  return r;
}

std::string format_position(const position& p) { return std::to_string(p.id) + "_" + format_sync_token(p.token); }

std::optional<position> parse_position(std::string_view text) {
  auto sep = text.find('_');
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  position p;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + sep, p.id);
  if (ec != std::errc{} || ptr != text.data() + sep || p.id <= 0) return std::nullopt;
  auto token = parse_sync_token(text.substr(sep + 1));
  if (!token) return std::nullopt;
  p.token = std::move(*token);
  return p;
}

bool wants_lazy_members(const std::vector<state_pattern>& patterns) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [](const auto& p) { return p.first == "m.room.member" && p.second == "$LAZY"; });
}

bool state_matches(const std::vector<state_pattern>& patterns, const std::string& type, const std::string& state_key,
                   const std::string& viewer, const std::vector<std::string>& lazy_members) {
  for (const auto& [t, k] : patterns) {
    if (t != "*" && t != type) continue;
    if (k == "*" || k == state_key) return true;
    if (k == "$ME" && state_key == viewer) return true;
    if (k == "$LAZY" && type == "m.room.member" && has(lazy_members, state_key)) return true;
  }
  return false;
}

} // namespace myelin::protocol::sliding
