// Sliding sync lists: the user's rooms ordered by recency (bump stamp) and filtered per list; the
// ranges pick the rooms whose details are loaded. Everything here is two or three queries over
// all the user's rooms, then in-memory work, so the first screen does not grow with room count.
#include <algorithm>

#include "actors/sync/sliding/sliding.hpp"
#include "protocol/json.hpp"
#include "storage/tables/account_data.hpp"

namespace myelin::sync::sliding {

namespace json = boost::json;
using storage::room_sync::membership;

namespace {

// Rooms named in the user's m.direct account data ({"@user": ["!room", …]}).
std::set<std::string> direct_rooms(sync_context& s) {
  std::set<std::string> out;
  auto text = storage::account_data::get(s.c, s.viewer.user_id, "", "m.direct");
  if (!text) return out;
  try {
    auto v = protocol::parse_value(*text);
    if (!v.is_object()) return out;
    for (const auto& [_, rooms] : v.as_object())
      if (rooms.is_array())
        for (const auto& r : rooms.as_array())
          if (r.is_string()) out.insert(std::string(r.as_string()));
  } catch (const std::exception&) {
    // Unparseable account data: no DMs rather than a failed sync.
  }
  return out;
}

bool invite_is_direct(const membership& m) {
  if (m.membership != "invite") return false;
  try {
    auto pdu = protocol::parse_value(m.event.json);
    const auto* content = pdu.is_object() ? pdu.as_object().if_contains("content") : nullptr;
    const auto* direct = content && content->is_object() ? content->as_object().if_contains("is_direct") : nullptr;
    return direct && direct->is_bool() && direct->as_bool();
  } catch (const std::exception&) {
    return false;
  }
}

bool needs_state(const ss::list_filters& f) {
  return f.is_encrypted || f.room_types || !f.not_room_types.empty() || f.spaces;
}

json::object content_of(const std::string& pdu_text) {
  try {
    auto v = protocol::parse_value(pdu_text);
    if (auto* c = v.is_object() ? v.as_object().if_contains("content") : nullptr; c && c->is_object())
      return c->as_object();
  } catch (const std::exception&) {
  }
  return {};
}

// The state the filters read, per room: encryption, create (room type), space children.
struct filter_state {
  storage::sliding_sync::room_state_contents state;

  bool encrypted(const std::string& room_id) const {
    auto it = state.find(room_id);
    return it != state.end() && it->second.count("m.room.encryption");
  }
  std::optional<std::string> room_type(const std::string& room_id) const {
    auto it = state.find(room_id);
    if (it == state.end()) return std::nullopt;
    auto c = it->second.find("m.room.create");
    if (c == it->second.end() || c->second.empty()) return std::nullopt;
    auto content = content_of(c->second.begin()->second);
    if (auto* t = content.if_contains("type"); t && t->is_string()) return std::string(t->as_string());
    return std::nullopt;
  }
  // Children of a space: m.space.child entries whose content has a non-empty `via`.
  bool child_of(const std::string& room_id, const std::vector<std::string>& spaces) const {
    for (const auto& space : spaces) {
      auto it = state.find(space);
      if (it == state.end()) continue;
      auto children = it->second.find("m.space.child");
      if (children == it->second.end()) continue;
      auto child = children->second.find(room_id);
      if (child == children->second.end()) continue;
      auto content = content_of(child->second);
      if (auto* via = content.if_contains("via"); via && via->is_array() && !via->as_array().empty()) return true;
    }
    return false;
  }
};

bool type_in(const std::optional<std::string>& type, const std::vector<std::optional<std::string>>& types) {
  return std::find(types.begin(), types.end(), type) != types.end();
}

bool passes(const ss::list_filters& f, const room_entry& r, const filter_state& fs) {
  const auto& room_id = r.m->room_id;
  if (f.is_dm && *f.is_dm != r.is_dm) return false;
  if (f.is_invite && *f.is_invite != (r.m->membership == "invite")) return false;
  if (f.is_encrypted && *f.is_encrypted != fs.encrypted(room_id)) return false;
  if (f.room_types || !f.not_room_types.empty()) {
    auto type = fs.room_type(room_id);
    if (f.room_types && !type_in(type, *f.room_types)) return false;
    if (type_in(type, f.not_room_types)) return false;
  }
  if (f.spaces && !fs.child_of(room_id, *f.spaces)) return false;
  return true;
}

// Which memberships put a room in the lists (as Synapse): all but leave and ban, and of those a
// kick (someone else's leave event) until the room is forgotten, and any leave or ban that happened
// since `pos`, so the client gets the room's last events up to it.
bool listed(const sliding_context& x, const membership& m, const std::set<std::string>& forgotten) {
  if (m.membership == "join" || m.membership == "invite" || m.membership == "knock") return true;
  if (m.membership != "leave" && m.membership != "ban") return false;
  if (forgotten.count(m.room_id)) return false;
  bool kicked = m.membership == "leave" && m.event.sender != x.s.viewer.user_id;
  bool newly_left = x.pos && x.s.window.contains(m.event.persister, m.event.stream_ordering);
  return kicked || newly_left;
}

} // namespace

std::vector<room_entry> candidate_rooms(sliding_context& x, const std::vector<membership>& ms) {
  auto& s = x.s;
  auto bumps = storage::sliding_sync::bump_stamps(s.c, s.viewer.user_id);
  auto dms = direct_rooms(s);
  std::vector<room_entry> out;
  std::set<std::string> forgotten;
  for (auto& room_id : storage::events::forgotten_rooms(s.c, s.viewer.user_id)) forgotten.insert(std::move(room_id));
  for (const auto& m : ms) {
    // A membership the token has not reached yet waits for the next answer.
    if (!s.everything.contains(m.event.persister, m.event.stream_ordering)) continue;
    if (!listed(x, m, forgotten)) continue;
    if (m.membership == "invite" && s.ignored.count(m.event.sender)) continue;
    room_entry r{.m = &m};
    // Outside the room, the user's own membership is the newest thing they may see.
    // (The create event is a bump event, so a joined room always has one it stored.)
    int64_t bump = bumps[m.room_id];
    r.bump_stamp = m.membership == "join" && bump > 0 ? bump : m.event.stream_ordering;
    r.is_dm = dms.count(m.room_id) > 0 || invite_is_direct(m);
    out.push_back(r);
  }
  // Newest first; the room id breaks ties so the order is stable between requests.
  std::sort(out.begin(), out.end(), [](const room_entry& a, const room_entry& b) {
    return a.bump_stamp != b.bump_stamp ? a.bump_stamp > b.bump_stamp : a.m->room_id < b.m->room_id;
  });
  return out;
}

list_result select_rooms(sliding_context& x, const std::vector<room_entry>& rooms) {
  list_result out;
  filter_state fs;
  bool state_needed = std::any_of(x.request.lists.begin(), x.request.lists.end(),
                                  [](const auto& l) { return needs_state(l.second.filters); });
  if (state_needed)
    fs.state = storage::sliding_sync::state_of_user_rooms(x.s.c, x.s.viewer.user_id,
                                                          {"m.room.create", "m.room.encryption", "m.space.child"});
  for (const auto& [name, list] : x.request.lists) {
    int64_t index = 0;
    for (const auto& r : rooms) {
      if (!passes(list.filters, r, fs)) continue;
      if (list.in_ranges(index)) {
        out.in_range[r.m->room_id].push_back(name);
        out.configs[r.m->room_id].merge(list.config);
      }
      ++index;
    }
    out.counts[name] = index;
  }
  for (const auto& [room_id, config] : x.request.room_subscriptions) {
    // Only rooms the user is in (or invited to / knocking on); others are silently left out.
    const auto& id = room_id;
    bool visible = std::any_of(rooms.begin(), rooms.end(), [&](const room_entry& r) { return r.m->room_id == id; });
    if (!visible) continue;
    out.subscribed.insert(room_id);
    out.configs[room_id].merge(config);
  }
  return out;
}

} // namespace myelin::sync::sliding
