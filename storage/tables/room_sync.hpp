// The queries /sync makes over the room tables: a user's memberships with their positions, and a
// room's events inside a window of the events stream. A window is per persister (the events
// position is a vector): events of persister w with after_w < stream_ordering <= upto_w.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "storage/tables/events.hpp"

namespace myelin::storage::room_sync {

struct window {
  // persister label ("writer.events/0") → (after, upto]
  std::map<std::string, std::pair<int64_t, int64_t>> by_persister;
  bool contains(const std::string& persister, int64_t stream_ordering) const;
};

struct membership {
  std::string room_id;
  std::string membership;      // join, invite, leave, ban, knock
  events::event_row event;     // the membership event itself
};

// Every room the user has a membership event in (current state), with that event.
std::vector<membership> memberships_of(connection& c, const std::string& user_id);

// The newest events of a room inside `w` (newest first), at most `limit`.
std::vector<events::event_row> newest_in_window(connection& c, const std::string& room_id, const window& w,
                                                size_t limit);

// Rooms (among the user's) that have events inside `w`.
std::vector<std::string> rooms_with_events(connection& c, const std::string& user_id, const window& w);

// Membership changes inside `w` in the rooms where the user has a membership now: (room, whose
// membership, the new membership), in stream order per persister.
struct member_change {
  std::string room_id;
  std::string user_id;
  std::string membership;
};
std::vector<member_change> member_changes(connection& c, const std::string& user_id, const window& w);

// The newest event of the room inside `w` (for "state as of a token"); nullopt if none.
std::optional<events::event_row> last_in_window(connection& c, const std::string& room_id, const window& w);

} // namespace myelin::storage::room_sync
