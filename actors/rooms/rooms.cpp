#include "actors/rooms/rooms.hpp"

#include <boost/json.hpp>
#include <map>
#include <set>

#include "actors/runtime/groups.hpp"
#include "common/clock.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/redaction.hpp"

namespace myelin::rooms {

namespace json = boost::json;
using storage::events::event_row;


std::string resolve_room(storage::connection& c, const std::string& id) {
  if (!id.empty() && id[0] == '#') {
    if (!protocol::is_valid_room_alias(id)) throw protocol::errors::invalid_param("Invalid room alias");
    auto room = storage::events::room_for_alias(c, id);
    if (!room) throw protocol::errors::not_found("Room alias " + id + " not found");
    return *room;
  }
  if (!protocol::is_valid_room_id(id)) throw protocol::errors::invalid_param("Invalid room id or alias");
  require_room(c, id);
  return id;
}

storage::events::room_row require_room(storage::connection& c, const std::string& room_id) {
  auto r = storage::events::get_room(c, room_id);
  if (!r) throw protocol::errors::not_found("Room not found");
  return *r;
}

void require_joined(storage::connection& c, const std::string& room_id, const std::string& user_id) {
  auto m = storage::events::current_membership(c, room_id, user_id);
  if (!m || *m != "join") {
    require_room(c, room_id);  // an unknown room is 404, not 403
    throw protocol::errors::forbidden("You are not joined to this room");
  }
}

json::object content_of(const event_row& e) {
  auto pdu = json::parse(e.json);
  if (auto* c = pdu.as_object().if_contains("content"); c && c->is_object()) return std::move(c->as_object());
  return {};
}

bool matches_filter(const protocol::room_event_filter& f, const event_row& e) {
  return f.matches(e.type, e.sender, e.room_id, f.contains_url ? content_of(e) : json::object{});
}

namespace {

json::object pdu_json(const event_row& e) { return json::parse(e.json).as_object(); }

json::object format(const event_row& e, json::object pdu, const viewer& v, int64_t now,
                    const std::string& room_version, const json::object* redaction) {
  if (redaction) pdu = protocol::redact(pdu, room_version);
  json::object out;
  auto* content = pdu.if_contains("content");
  out["content"] = content && content->is_object() ? *content : json::object{};
  out["event_id"] = e.event_id;
  out["origin_server_ts"] = e.origin_server_ts;
  out["room_id"] = e.room_id;
  out["sender"] = e.sender;
  if (e.state_key) out["state_key"] = *e.state_key;
  out["type"] = e.type;
  if (auto* r = pdu.if_contains("redacts"); r && r->is_string()) out["redacts"] = *r;
  json::object u;
  if (auto* stored = pdu.if_contains("unsigned"); stored && stored->is_object())
    for (const auto& kv : stored->as_object())
      if (kv.key() == "prev_content" || kv.key() == "replaces_state" || kv.key() == "prev_sender")
        u[kv.key()] = kv.value();
  u["age"] = now - e.origin_server_ts;
  if (e.txn_id && e.sender == v.user_id && e.txn_device_id && *e.txn_device_id == v.device_id)
    u["transaction_id"] = *e.txn_id;
  if (redaction) u["redacted_because"] = *redaction;
  out["unsigned"] = std::move(u);
  return out;
}

} // namespace

json::array client_events(storage::connection& c, const std::vector<event_row>& events, const viewer& v) {
  json::array out;
  if (events.empty()) return out;
  int64_t now = now_ms();
  std::map<std::string, std::string> versions;  // room → version
  std::vector<std::string> redaction_ids;
  for (const auto& e : events) {
    if (e.redacted_by) redaction_ids.push_back(*e.redacted_by);
    if (!versions.count(e.room_id)) {
      auto room = storage::events::get_room(c, e.room_id);
      versions[e.room_id] = room ? room->room_version : "10";
    }
  }
  std::map<std::string, json::object> redactions;
  if (!redaction_ids.empty())
    for (const auto& r : storage::events::get_events(c, redaction_ids))
      redactions.emplace(r.event_id, format(r, pdu_json(r), v, now, versions[r.room_id], nullptr));
  out.reserve(events.size());
  for (const auto& e : events) {
    const json::object* because = nullptr;
    if (e.redacted_by)
      if (auto it = redactions.find(*e.redacted_by); it != redactions.end()) because = &it->second;
    out.push_back(format(e, pdu_json(e), v, now, versions[e.room_id], because));
  }
  return out;
}

namespace {

// How restrictive each history visibility is, for the rule that a visibility change is judged
// by the more restrictive of its old and new values.
int restrictiveness(const std::string& hv) {
  if (hv == "world_readable") return 0;
  if (hv == "shared") return 1;
  if (hv == "invited") return 2;
  return 3;  // joined (and anything unknown: fail closed)
}

std::string content_string(storage::connection& c, const std::optional<std::string>& event_id, const char* key,
                           std::string fallback) {
  if (!event_id) return fallback;
  auto e = storage::events::get_event(c, *event_id);
  if (!e) return fallback;
  auto content = content_of(*e);
  if (auto* v = content.if_contains(key); v && v->is_string()) return std::string(v->as_string());
  return fallback;
}

struct state_facts {
  std::string history_visibility = "shared";
  std::string membership;  // "" = never a member
};

state_facts facts_at(storage::connection& c, std::optional<int64_t> group, const std::string& user_id) {
  state_facts f;
  if (!group) return f;
  auto ids = storage::events::state_at_group_filtered(
      c, *group, {{"m.room.history_visibility", ""}, {"m.room.member", user_id}});
  auto hv = ids.find({"m.room.history_visibility", ""});
  f.history_visibility =
      content_string(c, hv == ids.end() ? std::nullopt : std::optional(hv->second), "history_visibility", "shared");
  auto mem = ids.find({"m.room.member", user_id});
  f.membership = content_string(c, mem == ids.end() ? std::nullopt : std::optional(mem->second), "membership", "");
  return f;
}

bool visible(const state_facts& at, const std::string& hv_effective, bool joined_now) {
  if (hv_effective == "world_readable") return true;
  if (at.membership == "join") return true;
  if (hv_effective == "shared" && joined_now) return true;
  if (hv_effective == "invited" && at.membership == "invite") return true;
  return false;
}

} // namespace

std::vector<event_row> filter_visible(storage::connection& c, const std::string& room_id, const std::string& user_id,
                                      std::vector<event_row> events) {
  auto now_membership = storage::events::current_membership(c, room_id, user_id);
  bool joined_now = now_membership && *now_membership == "join";
  std::map<int64_t, state_facts> by_group;
  std::vector<event_row> out;
  out.reserve(events.size());
  for (auto& e : events) {
    state_facts at;
    if (e.state_group) {
      auto it = by_group.find(*e.state_group);
      if (it == by_group.end()) it = by_group.emplace(*e.state_group, facts_at(c, e.state_group, user_id)).first;
      at = it->second;
    }
    std::string hv = at.history_visibility;
    if (e.type == "m.room.history_visibility" && e.state_key && e.state_key->empty()) {
      // Judge a visibility change by the stricter of the old and the new setting.
      auto pdu = pdu_json(e);
      std::string old_hv = "shared";
      if (auto* u = pdu.if_contains("unsigned"); u && u->is_object())
        if (auto* pc = u->as_object().if_contains("prev_content"); pc && pc->is_object())
          if (auto* h = pc->as_object().if_contains("history_visibility"); h && h->is_string())
            old_hv = std::string(h->as_string());
      if (restrictiveness(old_hv) > restrictiveness(hv)) hv = old_hv;
    }
    // Users always see their own membership events: the leave or kick that ended their view of
    // the room, an invite they rejected (Synapse does the same).
    bool own_membership = e.type == "m.room.member" && e.state_key == user_id;
    if (own_membership || visible(at, hv, joined_now)) out.push_back(std::move(e));
  }
  return out;
}

bool can_see_event(storage::connection& c, const std::string& user_id, const event_row& e) {
  return !filter_visible(c, e.room_id, user_id, {e}).empty();
}

std::optional<int64_t> readable_state_group(storage::connection& c, const std::string& room_id,
                                            const std::string& user_id) {
  require_room(c, room_id);
  auto member_id = storage::events::current_state_event_id(c, room_id, "m.room.member", user_id);
  std::optional<event_row> member;
  if (member_id) member = storage::events::get_event(c, *member_id);
  if (member && member->membership && *member->membership == "join") return std::nullopt;
  auto hv_id = storage::events::current_state_event_id(c, room_id, "m.room.history_visibility", "");
  if (content_string(c, hv_id, "history_visibility", "shared") == "world_readable") return std::nullopt;
  // A former member sees the room as it was when they left (Synapse does the same).
  if (member && member->membership && (*member->membership == "leave" || *member->membership == "ban") &&
      member->state_group)
    return member->state_group;
  throw protocol::errors::forbidden("You are not a member of this room");
}

storage::room_sync::window events_window(const protocol::sync_token* since, const protocol::sync_token& upto) {
  storage::room_sync::window w;
  if (auto it = upto.positions.find("events"); it != upto.positions.end())
    for (const auto& [index, position] : it->second)
      w.by_persister[runtime::instance_label("writer.events", index)] = {since ? since->get("events", index) : 0,
                                                                         position};
  return w;
}

std::optional<storage::timeline::point> timeline_point(storage::connection& c, const std::string& room_id,
                                                       std::string_view token) {
  if (auto p = storage::timeline::parse_token(token)) return p;
  auto sync_token = protocol::parse_sync_token(token);
  if (!sync_token) return std::nullopt;
  auto last = storage::room_sync::last_in_window(c, room_id, events_window(nullptr, *sync_token));
  // Before the room's first event: a point before everything.
  return last ? storage::timeline::after(*last) : storage::timeline::point{0, 0};
}

} // namespace myelin::rooms
