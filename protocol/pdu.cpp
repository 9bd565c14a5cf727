// Typed, forgiving accessors over a PDU's JSON: a missing or mistyped field reads as empty/zero,
// since events arrive from other servers and the auth rules decide what to make of them.
#include "protocol/pdu.hpp"

#include <boost/json.hpp>
#include <cmath>
#include <limits>

namespace myelin::protocol {

namespace json = boost::json;

namespace {

std::string_view string_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string()) return {};
  const json::string& s = v->get_string();
  return {s.data(), s.size()};
}

// Integers may be stored as uint64 by the parser, or (room versions 1–5, not canonical JSON) as
// doubles; all read as int64, anything else as 0.
int64_t integer_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) {
    uint64_t u = v->get_uint64();
    return u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                           : static_cast<int64_t>(u);
  }
  if (v->is_double()) {
    double d = v->get_double();
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return 0;
    return static_cast<int64_t>(d);
  }
  return 0;
}

// prev_events / auth_events: v3+ a list of ids, v1–2 a list of [id, {hashes}] pairs.
std::vector<std::string> event_refs(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_array()) return out;
  const json::array& refs = v->get_array();
  out.reserve(refs.size());
  for (const json::value& r : refs) {
    if (r.is_string()) {
      out.emplace_back(r.get_string());
    } else if (r.is_array() && !r.get_array().empty() && r.get_array().front().is_string()) {
      out.emplace_back(r.get_array().front().get_string());
    }
  }
  return out;
}

} // namespace

std::string_view pdu::type() const { return string_field(json, "type"); }
std::string_view pdu::sender() const { return string_field(json, "sender"); }
std::string_view pdu::room_id() const { return string_field(json, "room_id"); }

std::optional<std::string_view> pdu::state_key() const {
  const json::value* v = json.if_contains("state_key");
  if (!v || !v->is_string()) return std::nullopt;
  return std::string_view(v->get_string().data(), v->get_string().size());
}

const json::object& pdu::content() const {
  static const json::object empty;
  const json::value* v = json.if_contains("content");
  return v && v->is_object() ? v->get_object() : empty;
}

int64_t pdu::depth() const { return integer_field(json, "depth"); }
int64_t pdu::origin_server_ts() const { return integer_field(json, "origin_server_ts"); }
std::vector<std::string> pdu::prev_events() const { return event_refs(json, "prev_events"); }
std::vector<std::string> pdu::auth_events() const { return event_refs(json, "auth_events"); }

std::optional<std::string_view> pdu::redacts() const {
  // v1–10 carry it top-level; v11 moved it into content (servers may still add the top-level copy
  // for clients, so the top-level one wins when both are there).
  const json::value* v = json.if_contains("redacts");
  if (v && v->is_string()) return std::string_view(v->get_string().data(), v->get_string().size());
  const json::value* c = content().if_contains("redacts");
  if (c && c->is_string()) return std::string_view(c->get_string().data(), c->get_string().size());
  return std::nullopt;
}

std::string_view pdu::membership() const {
  if (type() != "m.room.member") return {};
  return string_field(content(), "membership");
}

} // namespace myelin::protocol
