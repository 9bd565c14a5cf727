#include "actors/runtime/node_views.hpp"

#include <boost/json.hpp>

namespace myelin::runtime {

void position_board::seed(const std::vector<stream_position>& initial) {
  std::unique_lock lock(mutex_);
  for (const auto& p : initial) {
    auto& slot = positions_[p.stream][p.writer];
    slot = std::max(slot, p.position);
  }
}

void position_board::advance(const std::string& stream, const std::string& writer, int64_t position) {
  std::unique_lock lock(mutex_);
  auto& slot = positions_[stream][writer];
  if (position > slot) slot = position;
}

std::map<std::string, std::map<std::string, int64_t>> position_board::snapshot() const {
  std::shared_lock lock(mutex_);
  return positions_;
}

int64_t position_board::get(const std::string& stream, const std::string& writer) const {
  std::shared_lock lock(mutex_);
  auto s = positions_.find(stream);
  if (s == positions_.end()) return 0;
  auto w = s->second.find(writer);
  return w == s->second.end() ? 0 : w->second;
}

void typing_cache::apply(const stream_update& update) {
  for (const auto& text : update.rows) {
    auto value = boost::json::parse(text);
    const auto& row = value.as_object();
    auto* room = row.if_contains("room_id");
    auto* users = row.if_contains("user_ids");
    if (!room || !room->is_string() || !users || !users->is_array()) continue;
    room_typing entry;
    entry.position = update.position;
    for (const auto& u : users->as_array())
      if (u.is_string()) entry.user_ids.emplace_back(u.as_string());
    std::unique_lock lock(mutex_);
    // A room keeps its latest row: an update may arrive twice, or late (a copy sent over a node link
    // can overtake one sent through Redis), and must not bring back an older list. Typing positions
    // only grow (the writer stores its position), so the highest is the newest.
    auto& slot = rooms_[std::string(room->as_string())];
    if (slot.position <= entry.position) slot = std::move(entry);
  }
}

bool typing_cache::changed_since(const std::string& room_id, int64_t after, room_typing& out) const {
  std::shared_lock lock(mutex_);
  auto it = rooms_.find(room_id);
  if (it == rooms_.end() || it->second.position <= after) return false;
  out = it->second;
  return true;
}

} // namespace myelin::runtime
