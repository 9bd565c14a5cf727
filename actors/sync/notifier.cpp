#include "actors/sync/notifier.hpp"

#include <boost/json.hpp>

namespace myelin::sync {

namespace json = boost::json;

namespace {

// Calls on_user / on_room for every key a row names; returns whether the row concerns everyone
// ({"everyone": true}: a catch-up after a node link came back, when what was missed is unknown).
template <class OnUser, class OnRoom>
bool row_keys(const std::string& text, OnUser&& on_user, OnRoom&& on_room) {
  json::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return false;
  const auto& row = v.as_object();
  if (auto* e = row.if_contains("everyone"); e && e->is_bool() && e->as_bool()) return true;
  if (auto* r = row.if_contains("room_id"); r && r->is_string()) on_room(std::string(r->as_string()));
  if (auto* u = row.if_contains("user_id"); u && u->is_string()) on_user(std::string(u->as_string()));
  if (auto* rs = row.if_contains("rooms"); rs && rs->is_array())
    for (const auto& r : rs->as_array())
      if (r.is_string()) on_room(std::string(r.as_string()));
  // A membership event concerns its subject even before they are in the room.
  if (row.contains("membership"))
    if (auto* sk = row.if_contains("state_key"); sk && sk->is_string()) on_user(std::string(sk->as_string()));
  return false;
}

} // namespace

void notifier::watch(waiter_id id, const std::string& user_id, const std::vector<std::string>& room_ids) {
  unwatch(id);
  by_user_[user_id].insert(id);
  for (const auto& r : room_ids) by_room_[r].insert(id);
  keys_.emplace(id, std::make_pair(user_id, room_ids));
}

void notifier::unwatch(waiter_id id) {
  auto it = keys_.find(id);
  if (it == keys_.end()) return;
  auto drop = [id](auto& index, const std::string& key) {
    auto slot = index.find(key);
    if (slot == index.end()) return;
    slot->second.erase(id);
    if (slot->second.empty()) index.erase(slot);
  };
  drop(by_user_, it->second.first);
  for (const auto& r : it->second.second) drop(by_room_, r);
  keys_.erase(it);
}

std::vector<notifier::waiter_id> notifier::affected(const stream_update& update) const {
  std::unordered_set<waiter_id> hit;
  auto add = [&hit](const auto& index, const std::string& key) {
    if (auto it = index.find(key); it != index.end()) hit.insert(it->second.begin(), it->second.end());
  };
  for (const auto& text : update.rows) {
    if (row_keys(text, [&](const std::string& u) { add(by_user_, u); }, [&](const std::string& r) { add(by_room_, r); })) {
      std::vector<waiter_id> all;
      for (const auto& [id, keys] : keys_) all.push_back(id);
      return all;
    }
  }
  return {hit.begin(), hit.end()};
}

bool notifier::concerns(const stream_update& update, const std::string& user_id,
                        const std::unordered_set<std::string>& room_ids) {
  bool hit = false;
  for (const auto& text : update.rows)
    hit |= row_keys(text, [&](const std::string& u) { hit |= u == user_id; },
                    [&](const std::string& r) { hit |= room_ids.count(r) > 0; });
  return hit;
}

} // namespace myelin::sync
