#include "storage/tables/device_lists.hpp"

#include <boost/json.hpp>

#include "storage/tables/events.hpp"

namespace myelin::storage::device_lists {

namespace {

std::set<std::string> joined_members(connection& c, const std::string& room_id) {
  auto r = c.exec("SELECT state_key FROM current_state_events WHERE room_id = $1 AND type = 'm.room.member' "
                  "AND membership = 'join'",
                  {room_id});
  std::set<std::string> out;
  for (size_t i = 0; i < r.size(); ++i) out.insert(r[i].as_text(0));
  return out;
}

} // namespace

int64_t latest_change(connection& c, const std::string& user_id) {
  auto r = c.exec("SELECT MAX(position) FROM device_list_changes WHERE user_id = $1 AND visible_to = ''", {user_id});
  return r.empty() || r[0].is_null(0) ? 0 : r[0].as_int(0);
}

boost::json::object to_json(const changes& c) {
  auto list = [](const std::set<std::string>& users) {
    boost::json::array out;
    for (const auto& u : users) out.emplace_back(u);
    return out;
  };
  return {{"changed", list(c.changed)}, {"left", list(c.left)}};
}

void record_change(connection& c, int64_t position, const std::string& user_id, const std::string& visible_to) {
  c.exec("INSERT INTO device_list_changes (position, user_id, visible_to) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
         {position, user_id, visible_to});
}

changes changes_for_viewer(connection& c, const std::string& viewer, int64_t after, int64_t upto,
                           const room_sync::window& w) {
  changes out;
  if (upto > after) {
    auto r = c.exec(std::string("SELECT DISTINCT d.user_id FROM device_list_changes d WHERE d.position > $2 AND "
                                "d.position <= $3 AND (d.visible_to = $1 OR (d.visible_to = '' AND "
                                "(d.user_id = $1 OR d.user_id IN (") +
                        events::co_members_sql + "))))",
                    {viewer, after, upto});
    for (size_t i = 0; i < r.size(); ++i) out.changed.insert(r[i].as_text(0));
  }

  // Membership moves inside the window, in order, so the last move of each user counts.
  std::set<std::string> rooms_joined, rooms_left, maybe_left;
  for (const auto& m : room_sync::member_changes(c, viewer, w)) {
    bool joined = m.membership == "join";
    bool gone = m.membership == "leave" || m.membership == "ban";
    if (m.user_id == viewer) {
      if (joined) rooms_left.erase(m.room_id), rooms_joined.insert(m.room_id);
      if (gone) rooms_joined.erase(m.room_id), rooms_left.insert(m.room_id);
    } else if (joined) {
      out.changed.insert(m.user_id);
    } else if (gone) {
      maybe_left.insert(m.user_id);
    }
  }
  for (const auto& room_id : rooms_joined)
    for (auto& u : joined_members(c, room_id)) out.changed.insert(std::move(u));
  for (const auto& room_id : rooms_left)
    for (auto& u : joined_members(c, room_id)) maybe_left.insert(std::move(u));

  if (!maybe_left.empty()) {
    auto r = c.exec(events::co_members_sql, {viewer});
    std::set<std::string> still_shared;
    for (size_t i = 0; i < r.size(); ++i) still_shared.insert(r[i].as_text(0));
    for (const auto& u : maybe_left)
      if (u != viewer && !still_shared.count(u)) out.left.insert(u);
  }
  for (const auto& u : out.left) out.changed.erase(u);
  return out;
}

} // namespace myelin::storage::device_lists
