// Simplified sliding sync (MSC4186), POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync.
// Served by the sync group through the same long-poll as /sync (sync.hpp's long_poll_for): `pos`
// carries the sync token of the previous answer, so the instance parks a request with nothing new
// and wakes it on updates for the user or their rooms.
//
// One computation: the user's rooms with their bump stamps (two queries, whatever the room count),
// sorted and filtered in memory per list; details are loaded only for the rooms inside the
// requested ranges and the room subscriptions. What each room was last sent at is the connection
// state (storage/tables/sliding_sync.hpp), so only changes go out.
#pragma once
#include <map>
#include <set>

#include "actors/sync/sync_context.hpp"
#include "protocol/sliding_sync.hpp"
#include "storage/tables/sliding_sync.hpp"

namespace myelin::sync::sliding {

namespace ss = protocol::sliding;

// What the parts of one computation share.
struct sliding_context {
  sync_context& s;
  const ss::request& request;
  std::optional<ss::position> pos;  // null: a new connection
};

// A room the user may be shown in lists: joined, invited or knocking; left when they were kicked
// (until they forget it), or when they left since the request's `pos` (its final entry).
struct room_entry {
  const storage::room_sync::membership* m = nullptr;
  int64_t bump_stamp = 0;
  bool is_dm = false;
};

// ---- room_list.cpp ----
// The rooms each list shows (sorted by bump stamp, newest first, filtered) and their counts.
struct list_result {
  std::map<std::string, int64_t> counts;                    // list → rooms matching its filters
  std::map<std::string, std::vector<std::string>> in_range;  // room → the lists it is in range of
  std::map<std::string, ss::room_config> configs;           // room → merged config of lists and subscriptions
  std::set<std::string> subscribed;                         // rooms of room_subscriptions the user may see
};
std::vector<room_entry> candidate_rooms(sliding_context& x, const std::vector<storage::room_sync::membership>& ms);
list_result select_rooms(sliding_context& x, const std::vector<room_entry>& rooms);

// ---- room_response.cpp ----
// How the client already knows a room: never (initial), or up to `since`.
struct room_plan {
  const room_entry* room = nullptr;
  ss::room_config config;
  std::optional<protocol::sync_token> since;  // null: initial
  bool config_changed = false;
  bool unread_changed = false;    // the user's own read receipt moved
  int64_t sent_timeline_limit = 0;  // the limit it was last sent with (a larger one back-fills)
  std::set<std::string> lazy_sent;  // members already sent for `$LAZY`
};
// The room's entry of `rooms`, or nullopt when nothing changed since `since`. `lazy_sent` is what
// the connection has of `$LAZY` members after this answer.
std::optional<boost::json::object> room_response(sliding_context& x, const room_plan& p,
                                                 std::set<std::string>& lazy_sent);
// notification_count / highlight_count for the rooms about to be sent (one query).
void add_unread_counts(sliding_context& x, boost::json::object& rooms);

// ---- extensions.cpp ----
// Where each extension reaches: the rooms in the response's lists / subscriptions and which of
// them the client sees for the first time.
struct extension_rooms {
  const list_result& lists;
  std::set<std::string> initial;  // rooms sent with initial: true in this answer
  std::set<std::string> joined;   // receipts and typing are only for rooms the user is in
};
// The `extensions` object; sets `any` when something in it is new.
boost::json::object extensions(sliding_context& x, const extension_rooms& rooms, bool& any);

} // namespace myelin::sync::sliding
