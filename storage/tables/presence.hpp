// Queries over presence (storage/schema/0007_presence.cpp), and presence as clients see it.
// Written only by the presence stream writer (storage/streams/presence_stream.cpp); read by
// GET /presence/{userId}/status and /sync.
#pragma once
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage::presence {

// Synapse's timers (handlers/presence.py), which the presence writer applies.
inline constexpr int64_t idle_timeout_ms = 5 * 60 * 1000;          // online → unavailable without activity
inline constexpr int64_t sync_online_timeout_ms = 30 * 1000;        // → offline this long after the last sync
inline constexpr int64_t last_active_granularity_ms = 60 * 1000;    // "currently active" = active this recently

struct presence_state {
  std::string user_id;
  std::string state = "offline";          // online | unavailable | offline
  std::optional<std::string> status_msg;
  int64_t last_active_ts = 0;             // 0 = never active
  bool currently_active = false;
  int64_t position = 0;                   // presence stream position of the last visible change
};

// A user's presence; a user never seen is offline (nullopt here).
std::optional<presence_state> get(connection& c, const std::string& user_id);

// Presence that changed in (after, upto] of the users sharing a joined room with `viewer`, and the
// viewer's own; after = 0 gives the current presence of all of them (users never seen have none).
std::vector<presence_state> changed_for_viewer(connection& c, const std::string& viewer, int64_t after, int64_t upto);

// Whether the two users are joined to a common room (who may see whose presence).
bool shares_joined_room(connection& c, const std::string& a, const std::string& b);

// The content of an m.presence event / the GET /presence/{userId}/status body at `now_ms`:
// presence, last_active_ago (if ever active), status_msg (if set), currently_active (if online).
boost::json::object presence_content(const presence_state& p, int64_t now_ms);
// {"type": "m.presence", "sender": user_id, "content": presence_content(p, now_ms)}, for /sync.
boost::json::object presence_event(const presence_state& p, int64_t now_ms);

// ---- writer side (presence stream writer only) ----

// The row with what only the writer needs: until when the user counts as syncing.
struct presence_record {
  presence_state shown;
  int64_t syncing_until_ts = 0;
};
std::optional<presence_record> get_record(connection& c, const std::string& user_id);
void put_record(connection& c, const presence_record& r);
// Users who are not offline and whose state may have timed out at `now_ms` (idle, stopped
// syncing, no longer currently active), at most `limit` of them. The writer decides; this only
// narrows the scan. Every candidate the writer sees changes state, so a later call gets the rest.
std::vector<presence_record> timeout_candidates(connection& c, int64_t now_ms, int64_t limit);

} // namespace myelin::storage::presence
