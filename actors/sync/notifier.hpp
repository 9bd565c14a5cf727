// The sync notifier's index: which parked long-polls a stream update concerns. A waiter is keyed
// by its user and the rooms it is in; an update row names a room ("room_id", or "rooms" for
// presence) and/or a user ("user_id"; "state_key" of a membership event, so an invite or a join
// elsewhere reaches the invitee). Lookups are hash-map hits per row: no scan over waiters.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "actors/runtime/messages.hpp"

namespace myelin::sync {

class notifier {
public:
  using waiter_id = uint64_t;

  void watch(waiter_id id, const std::string& user_id, const std::vector<std::string>& room_ids);
  void unwatch(waiter_id id);
  // The watched waiters this update concerns (each once).
  std::vector<waiter_id> affected(const stream_update& update) const;
  // Whether the update concerns this user or these rooms (for a waiter not yet watched).
  static bool concerns(const stream_update& update, const std::string& user_id,
                       const std::unordered_set<std::string>& room_ids);
  size_t size() const { return keys_.size(); }

private:
  std::unordered_map<std::string, std::unordered_set<waiter_id>> by_user_, by_room_;
  std::unordered_map<waiter_id, std::pair<std::string, std::vector<std::string>>> keys_;
};

} // namespace myelin::sync
