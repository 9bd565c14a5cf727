// Queries for simplified sliding sync (actors/sync/sliding/): the bump stamps of a user's rooms and
// the connection state kept per (user, device, conn_id) (storage/schema/0015_sliding_sync.cpp).
#pragma once
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage::sliding_sync {

// The event types that move a room up a list (Synapse's DEFAULT_BUMP_EVENT_TYPES).
const std::vector<std::string>& bump_event_types();
bool is_bump_event_type(std::string_view type);

// Per room the user has a membership in: the stream ordering of the newest bump event (0 if none).
// One join with room_heads, whose bump_stamp the persister keeps (storage/streams/events_stream).
std::map<std::string, int64_t> bump_stamps(connection& c, const std::string& user_id);

// Current state events of `types` in every room the user has a membership in: room → type →
// (state_key → content JSON text). For list filters (encryption, room type, space children).
using room_state_contents = std::map<std::string, std::map<std::string, std::map<std::string, std::string>>>;
room_state_contents state_of_user_rooms(connection& c, const std::string& user_id, const std::vector<std::string>& types);

struct room_entry {
  std::string sent_token;  // the sync token the client has the room up to; "" = the position's own
  std::string config;      // protocol::sliding::room_config::key() it was sent with
  int64_t timeline_limit = 0;            // the timeline_limit it was last sent with
  std::set<std::string> lazy_members;    // users whose member event was sent for `$LAZY`
  bool operator==(const room_entry&) const = default;
};

struct connection_state {
  int64_t connection_id = 0;
  int64_t position_id = 0;
  std::string lists;  // JSON text: {"list name": count}
  std::map<std::string, room_entry> rooms;
};

// How long an unused connection is kept: its `pos` is unknown afterwards (Synapse: a week).
constexpr int64_t connection_max_idle_ms = 7LL * 24 * 3600 * 1000;

// The state at `position_id` if that position belongs to this (user, device, conn_id); nullopt
// when unknown (never issued, pruned, another connection's, or the connection was idle longer than
// connection_max_idle_ms). Marks the connection used (at most one write an hour).
std::optional<connection_state> load(connection& c, const std::string& user_id, const std::string& device_id,
                                     const std::string& conn_id, int64_t position_id, int64_t now_ms);

// A fresh connection for the key, replacing any earlier one and its positions; connections of any
// user idle longer than connection_max_idle_ms go too. Returns its id.
int64_t open(connection& c, const std::string& user_id, const std::string& device_id, const std::string& conn_id,
             int64_t now_ms);

// Stores a new position of the connection and prunes every other position but `keep` (the one
// the request came from, so a retried request still finds it). Returns the new position's id.
int64_t save(connection& c, int64_t connection_id, int64_t keep, const std::string& lists,
             const std::map<std::string, room_entry>& rooms, int64_t now_ms);

// Every connection of a device (it was deleted or logged out): nothing can use them any more.
void forget_device(connection& c, const std::string& user_id, const std::string& device_id);

} // namespace myelin::storage::sliding_sync
