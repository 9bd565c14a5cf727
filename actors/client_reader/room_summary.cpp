#include "actors/client_reader/room_summary.hpp"

#include <boost/json.hpp>

#include "protocol/redaction.hpp"

namespace myelin::rooms {

namespace json = boost::json;
using storage::events::event_row;

namespace {

const json::object* content_of(const json::value& pdu) {
  if (!pdu.is_object()) return nullptr;
  auto* c = pdu.as_object().if_contains("content");
  return c && c->is_object() ? &c->as_object() : nullptr;
}

std::optional<std::string> string_field(const json::object* content, const char* key) {
  if (!content) return std::nullopt;
  auto* v = content->if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

} // namespace

std::optional<room_summary> summarize_room(storage::connection& c, const std::string& room_id) {
  auto room = storage::events::get_room(c, room_id);
  if (!room) return std::nullopt;
  room_summary s;
  s.room_id = room_id;
  s.room_version = room->room_version;
  s.num_joined_members = storage::events::joined_member_count(c, room_id);
  auto state = storage::events::current_state_of_types(
      c, room_id,
      {"m.room.create", "m.room.name", "m.room.topic", "m.room.canonical_alias", "m.room.avatar",
       "m.room.join_rules", "m.room.history_visibility", "m.room.guest_access", "m.room.encryption",
       "m.space.child"});
  std::vector<event_row> children;
  for (auto& e : state) {
    // A redacted state event says only what the redaction algorithm keeps (a redacted name is
    // no name; a redacted join rule is still a join rule).
    json::value pdu = json::parse(e.json);
    if (e.redacted_by && pdu.is_object()) pdu = protocol::redact(pdu.as_object(), room->room_version);
    const json::object* content = content_of(pdu);
    if (e.type == "m.room.create") {
      s.room_type = string_field(content, "type");
    } else if (e.type == "m.room.name") {
      if (auto n = string_field(content, "name"); n && !n->empty()) s.name = n;
    } else if (e.type == "m.room.topic") {
      if (auto t = string_field(content, "topic"); t && !t->empty()) s.topic = t;
    } else if (e.type == "m.room.canonical_alias") {
      s.canonical_alias = string_field(content, "alias");
      if (content)
        if (auto* alt = content->if_contains("alt_aliases"); alt && alt->is_array())
          for (const auto& a : alt->as_array())
            if (a.is_string()) s.alt_aliases.emplace_back(a.as_string());
    } else if (e.type == "m.room.avatar") {
      if (auto u = string_field(content, "url"); u && !u->empty()) s.avatar_url = u;
    } else if (e.type == "m.room.join_rules") {
      s.join_rule = string_field(content, "join_rule");
      if (content)
        if (auto* allow = content->if_contains("allow"); allow && allow->is_array())
          for (const auto& a : allow->as_array())
            if (auto id = string_field(a.is_object() ? &a.as_object() : nullptr, "room_id"))
              s.allowed_room_ids.push_back(*id);
    } else if (e.type == "m.room.history_visibility") {
      s.history_visibility = string_field(content, "history_visibility").value_or("shared");
    } else if (e.type == "m.room.guest_access") {
      s.guest_can_join = string_field(content, "guest_access").value_or("") == "can_join";
    } else if (e.type == "m.room.encryption") {
      s.encryption = string_field(content, "algorithm");
    } else if (e.type == "m.space.child" && content) {
      // A child without a non-empty via list is a removed child (spec: m.space.child).
      auto* via = content->if_contains("via");
      if (via && via->is_array() && !via->as_array().empty()) children.push_back(std::move(e));
    }
  }
  if (s.is_space()) s.space_children = std::move(children);
  return s;
}

json::object room_summary::to_json(bool full) const {
  json::object o{{"room_id", room_id},
                 {"num_joined_members", num_joined_members},
                 {"world_readable", world_readable()},
                 {"guest_can_join", guest_can_join}};
  if (name) o["name"] = *name;
  if (topic) o["topic"] = *topic;
  if (canonical_alias) o["canonical_alias"] = *canonical_alias;
  if (avatar_url) o["avatar_url"] = *avatar_url;
  if (join_rule) o["join_rule"] = *join_rule;
  if (room_type) o["room_type"] = *room_type;
  if (full) {
    o["room_version"] = room_version;
    if (encryption) o["encryption"] = *encryption;
    if (!allowed_room_ids.empty() && join_rule &&
        (*join_rule == "restricted" || *join_rule == "knock_restricted")) {
      json::array ids;
      for (const auto& id : allowed_room_ids) ids.emplace_back(id);
      o["allowed_room_ids"] = std::move(ids);
    }
  }
  return o;
}

} // namespace myelin::rooms
