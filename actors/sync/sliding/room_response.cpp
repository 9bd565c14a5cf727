// One room of a sliding sync answer: on first sight (initial) the newest timeline_limit events and
// the required_state; afterwards only what changed since the room was last sent — new events
// (num_live, limited when more came than the limit), changed state the config asks for, and the
// name, avatar, heroes and counts when they moved.
#include "actors/sync/sliding/sliding.hpp"
#include "protocol/json.hpp"
#include "storage/tables/notifications.hpp"
#include "storage/tables/timeline.hpp"

namespace myelin::sync::sliding {

namespace json = boost::json;
namespace events = storage::events;
namespace timeline = storage::timeline;
using storage::events::event_row;

namespace {

// A field of a state event's content ("" when absent or not a string).
std::string content_string(const json::object& event, std::string_view key) {
  auto* c = event.if_contains("content");
  auto* v = c && c->is_object() ? c->as_object().if_contains(key) : nullptr;
  return v && v->is_string() ? std::string(v->as_string()) : "";
}

std::string content_string(const event_row& e, std::string_view key) {
  try {
    auto pdu = protocol::parse_value(e.json);
    return pdu.is_object() ? content_string(pdu.as_object(), key) : "";
  } catch (const std::exception&) {
    return "";
  }
}

// name / avatar from state events (stripped or full); empty values are left out.
void add_name_and_avatar(json::object& room, const std::optional<std::string>& name,
                         const std::optional<std::string>& avatar) {
  if (name && !name->empty()) room["name"] = *name;
  if (avatar && !avatar->empty()) room["avatar"] = *avatar;
}

json::object invited_or_knocking(sliding_context& x, const room_plan& p) {
  const auto& m = *p.room->m;
  json::object room{{"initial", true}, {"bump_stamp", p.room->bump_stamp}};
  auto state = stripped_state(x.s, m);
  std::optional<std::string> name, avatar;
  for (const auto& e : state) {
    const auto& o = e.as_object();
    if (o.at("type") == "m.room.name") name = content_string(o, "name");
    if (o.at("type") == "m.room.avatar") avatar = content_string(o, "url");
  }
  add_name_and_avatar(room, name, avatar);
  room[m.membership == "invite" ? "invite_state" : "knock_state"] = std::move(state);
  if (p.room->is_dm) room["is_dm"] = true;
  return room;
}

// Heroes of an unnamed room with their display names and avatars as of `group`.
json::array heroes_of(sync_context& s, const member_summary& members, int64_t group) {
  std::set<std::string> users(members.heroes.begin(), members.heroes.end());
  std::map<std::string, event_row> member_events;
  for (auto& e : events::member_events_at(s.c, group, users)) member_events.emplace(e.state_key.value_or(""), std::move(e));
  json::array out;
  for (const auto& user : members.heroes) {
    json::object hero{{"user_id", user}};
    if (auto it = member_events.find(user); it != member_events.end()) {
      if (auto n = content_string(it->second, "displayname"); !n.empty()) hero["displayname"] = n;
      if (auto a = content_string(it->second, "avatar_url"); !a.empty()) hero["avatar_url"] = a;
    }
    out.push_back(std::move(hero));
  }
  return out;
}

} // namespace

std::optional<json::object> room_response(sliding_context& x, const room_plan& p, std::set<std::string>& lazy_sent) {
  auto& s = x.s;
  const auto& m = *p.room->m;
  const auto& room_id = m.room_id;
  bool left = m.membership == "leave" || m.membership == "ban";
  lazy_sent = p.lazy_sent;
  // A left room shows nothing after the user's leave.
  auto cap = [&](const storage::room_sync::window& w) { return left ? ending_at(w, m.event) : w; };
  storage::room_sync::window everything = cap(s.everything);
  storage::room_sync::window w = everything;
  bool initial = !p.since;
  if (!initial) {
    w = cap(rooms::events_window(&*p.since, s.upto));
    bool membership_changed = w.contains(m.event.persister, m.event.stream_ordering);
    // The membership changed since the room was sent (an invite accepted): start over.
    if (membership_changed && !left) {
      initial = true;
      w = everything;
    }
    // Left before the room was last sent: the client has everything it may see.
    if (left && !membership_changed) return std::nullopt;
  }
  if (m.membership == "invite" || m.membership == "knock") {
    if (!initial) return std::nullopt;
    return invited_or_knocking(x, p);
  }

  auto limit = static_cast<size_t>(p.config.timeline_limit);
  // A larger timeline_limit than the room was sent with back-fills the timeline.
  bool expanded = !initial && p.sent_timeline_limit > 0 && p.config.timeline_limit > p.sent_timeline_limit;
  auto tl = load_timeline(s, room_id, expanded ? everything : w, limit);
  int64_t num_live = 0;
  if (!initial)
    for (const auto& e : tl.events) num_live += w.contains(e.persister, e.stream_ordering) ? 1 : 0;
  auto last = storage::room_sync::last_in_window(s.c, room_id, everything);
  if (!last || !last->state_group) return std::nullopt;  // nothing of the room stored yet
  auto now = events::state_at_group(s.c, *last->state_group);

  // required_state: everything matching on first sight (or after a config change), otherwise the
  // matching entries that changed since the room was sent. `$LAZY` adds the member event of each
  // timeline sender once per connection (and again when it changes).
  bool full = initial || p.config_changed;
  if (full) lazy_sent.clear();
  events::state_ids before;
  if (!full)
    if (auto then = storage::room_sync::last_in_window(s.c, room_id, rooms::events_window(nullptr, *p.since));
        then && then->state_group)
      before = events::state_at_group(s.c, *then->state_group);
  bool lazy = ss::wants_lazy_members(p.config.required_state);
  std::set<std::string> senders;
  if (lazy)
    for (const auto& e : tl.events) senders.insert(e.sender);
  bool name_changed = full, avatar_changed = full, members_changed = full;
  std::vector<std::string> ids;
  for (const auto& [key, id] : now) {
    auto it = before.find(key);
    bool changed = full || it == before.end() || it->second != id;
    if (changed) {
      name_changed |= key.first == "m.room.name" || key.first == "m.room.canonical_alias";
      avatar_changed |= key.first == "m.room.avatar";
      members_changed |= key.first == "m.room.member";
    }
    bool member = key.first == "m.room.member";
    bool sender = member && senders.count(key.second);
    bool lazy_known = member && lazy_sent.count(key.second);
    bool lazy_new = lazy && sender && !lazy_known;
    bool lazy_changed = lazy && changed && (sender || lazy_known);
    if (lazy_new || lazy_changed || (changed && ss::state_matches(p.config.required_state, key.first, key.second,
                                                                  s.viewer.user_id, {})))
      ids.push_back(id);
  }
  lazy_sent.insert(senders.begin(), senders.end());
  if (!initial && !expanded && tl.events.empty() && ids.empty() && !p.config_changed && !p.unread_changed &&
      !name_changed && !avatar_changed && !members_changed)
    return std::nullopt;

  json::object room;
  if (initial) room["initial"] = true;
  if (expanded) room["unstable_expanded_timeline"] = true;
  room["bump_stamp"] = p.room->bump_stamp;
  room["required_state"] = s.format_events(events::get_events(s.c, ids));
  room["timeline"] = s.format_events(tl.events);
  room["limited"] = tl.limited;
  room["num_live"] = num_live;
  room["prev_batch"] = timeline::to_token(tl.events.empty() ? timeline::after(*last) : timeline::before(tl.events.front()));
  if (name_changed || avatar_changed) {
    // As of the room's last event shown (a left room's name may have changed since).
    std::vector<std::string> name_ids;
    for (const char* type : {"m.room.name", "m.room.avatar"})
      if (auto it = now.find({type, ""}); it != now.end()) name_ids.push_back(it->second);
    std::optional<std::string> name, avatar;
    for (auto& e : events::get_events(s.c, name_ids)) {
      if (e.type == "m.room.name") name = content_string(e, "name");
      else avatar = content_string(e, "url");
    }
    add_name_and_avatar(room, name, avatar);
  }
  if (members_changed) {
    auto members = room_members(s, room_id);
    room["joined_count"] = members.joined;
    room["invited_count"] = members.invited;
    if (!members.named) room["heroes"] = heroes_of(s, members, *last->state_group);
  }
  if (p.room->is_dm) room["is_dm"] = true;
  return room;
}

void add_unread_counts(sliding_context& x, json::object& rooms) {
  std::vector<std::string> ids;
  for (const auto& [room_id, body] : rooms)
    if (!body.as_object().contains("invite_state") && !body.as_object().contains("knock_state"))
      ids.emplace_back(room_id);
  if (ids.empty()) return;
  auto unread = storage::notifications::unread_for_rooms(x.s.c, x.s.viewer.user_id, ids);
  for (const auto& id : ids) {
    auto [n, h] = unread[id].totals();
    auto& body = rooms[id].as_object();
    body["notification_count"] = n;
    body["highlight_count"] = h;
  }
}

} // namespace myelin::sync::sliding
