// Queries over the room tables (storage/schema/0002_rooms.cpp). Reads are used by every group;
// the write functions only by the events stream writer (storage/streams/events_stream.cpp).
// One function per query; each takes the connection (and so the caller's transaction) explicitly.
#pragma once
#include <map>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage::events {

using state_key_pair = std::pair<std::string, std::string>;  // (type, state_key)
using state_ids = std::map<state_key_pair, std::string>;      // → event_id

struct room_row {
  std::string room_id;
  std::string room_version;
  std::string creator;
  bool is_public = false;
  int64_t created_ts = 0;
};

struct room_head {
  std::string room_id;
  std::vector<std::string> forward_extremities;
  int64_t depth = 0;
  std::optional<int64_t> state_group;  // state after the last event
  std::string last_persister;
  int64_t last_stream_ordering = 0;
  // Stream ordering of the newest event of a bump type (sliding sync's recency; see
  // storage/tables/sliding_sync.hpp bump_event_types), kept with the head so lists need no scan.
  int64_t bump_stamp = 0;
};

struct event_row {
  std::string event_id;
  std::string room_id;
  std::string persister;
  int64_t stream_ordering = 0;
  int64_t topological_ordering = 0;
  std::string type;
  std::optional<std::string> state_key;
  std::string sender;
  int64_t origin_server_ts = 0;
  std::optional<std::string> membership;
  std::optional<int64_t> state_group;   // state after this event
  std::optional<std::string> redacted_by;
  std::optional<std::string> txn_id;    // unsigned.transaction_id, shown to the sending device only
  std::optional<std::string> txn_device_id;
  std::string json;                     // the PDU as stored
};

// The columns event_from() reads, in order, for any query that selects whole events.
extern const char* const event_columns;
event_row event_from(const row& r);
std::vector<event_row> event_rows(const result& r);
// Events of `persister` with stream_ordering > after, in stream order, at most `limit`: how the
// events stream's followers outside /sync (pushers, application services) read it.
std::vector<event_row> events_after(connection& c, const std::string& persister, int64_t after, size_t limit);

// The same columns as event_columns, qualified with the alias `e` for joins.
std::string qualified_event_columns();

// ---- reads ----
std::optional<room_row> get_room(connection& c, const std::string& room_id);
std::optional<room_head> get_room_head(connection& c, const std::string& room_id);
std::optional<event_row> get_event(connection& c, const std::string& event_id);
// Events by id, in no particular order; unknown ids are skipped.
std::vector<event_row> get_events(connection& c, const std::vector<std::string>& event_ids);

// State after the events of group `state_group`: the whole state, or only `types` (empty state
// key list = every key of that type).
state_ids state_at_group(connection& c, int64_t state_group);
state_ids state_at_group_filtered(connection& c, int64_t state_group, const std::vector<state_key_pair>& keys,
                                  const std::vector<std::string>& whole_types = {});
// The m.room.member events of `users` in the state at a group (lazy-loaded members).
std::vector<event_row> member_events_at(connection& c, int64_t state_group, const std::set<std::string>& users);

std::optional<std::string> current_state_event_id(connection& c, const std::string& room_id, const std::string& type,
                                                  const std::string& state_key);
state_ids current_state(connection& c, const std::string& room_id);
std::optional<std::string> current_membership(connection& c, const std::string& room_id, const std::string& user_id);
// Whether a user of `server_name` has one of `memberships` in the room's current state (user ids
// end with ":" + server name): the one "is that server in the room" check of every component.
bool server_has_member(connection& c, const std::string& room_id, const std::string& server_name,
                       std::initializer_list<std::string_view> memberships);
std::vector<std::string> rooms_for_user(connection& c, const std::string& user_id, const std::string& membership);
// A subquery: the users joined to a room that user $1 is joined to, $1 included (who sees whose
// presence and device lists).
inline constexpr const char* co_members_sql =
    "SELECT other.state_key FROM current_state_events mine JOIN current_state_events other "
    "ON other.room_id = mine.room_id AND other.type = 'm.room.member' AND other.membership = 'join' "
    "WHERE mine.type = 'm.room.member' AND mine.state_key = $1 AND mine.membership = 'join'";

// The event a client transaction made in a room: (sender, device, txn_id), for /send (scope
// "send") or /redact (scope "redact") — the same txn_id may be used once on each endpoint.
std::optional<std::string> event_for_txn(connection& c, const std::string& room_id, const std::string& user_id,
                                         const std::string& device_id, const std::string& scope,
                                         const std::string& txn_id);

std::optional<std::string> room_for_alias(connection& c, const std::string& alias);
std::vector<std::string> aliases_for_room(connection& c, const std::string& room_id);

// ---- writes (events stream writer only) ----
void insert_room(connection& c, const room_row& r);
void upsert_room_head(connection& c, const room_head& h);
void insert_event(connection& c, const event_row& e);
// A new state group after `prev_group` with `changes` on top. Writes a full snapshot instead of a
// delta when there is no previous group or the delta chain is already `max_delta_chain` long.
int64_t add_state_group(connection& c, const std::string& room_id, const std::string& event_id,
                        std::optional<int64_t> prev_group, const state_ids& changes, int max_delta_chain = 100);
void set_current_state(connection& c, const std::string& room_id, const std::string& type,
                       const std::string& state_key, const std::string& event_id,
                       const std::optional<std::string>& membership);
void insert_relation(connection& c, const std::string& event_id, const std::string& room_id,
                     const std::string& relates_to, const std::string& rel_type,
                     const std::optional<std::string>& aggregation_key);
// Records the redaction and marks the target (if known) as redacted.
void insert_redaction(connection& c, const std::string& event_id, const std::string& redacts,
                      const std::string& room_id);
void insert_search_entry(connection& c, const event_row& e, const std::string& key, const std::string& body);


// ---- reads for directory/search/relations ----
// Used by the room directory, /publicRooms, /hierarchy, /relations, /threads, /search,
// /timestamp_to_event and the user directory (actors/client_reader, actors/user_dir).

// A place in one room's topological order: (topological_ordering, stream_ordering).
using topo_position = std::pair<int64_t, int64_t>;

// Current state events of a room whose type is one of `types` (every state key).
std::vector<event_row> current_state_of_types(connection& c, const std::string& room_id,
                                              const std::vector<std::string>& types);
// The current ("" state key) event of `type` in every room, e.g. every room's join rules.
std::vector<event_row> current_state_in_all_rooms(connection& c, const std::string& type);
int64_t joined_member_count(connection& c, const std::string& room_id);
struct alias_row {
  std::string room_alias;
  std::string room_id;
  std::string creator;
};
std::optional<alias_row> get_alias(connection& c, const std::string& room_alias);
// Rooms published in the room directory (rooms.is_public), in room id order.
std::vector<std::string> published_rooms(connection& c);

// Children of `parent_id` in its room (event_relations), optionally of one rel_type and event
// type, paged like the timeline: backwards = at/before `from`, newest first; forwards = after
// `from`, oldest first. Redacted children are left out: their m.relates_to is gone.
std::vector<event_row> relations_page(connection& c, const std::string& room_id, const std::string& parent_id,
                                      const std::optional<std::string>& rel_type,
                                      const std::optional<std::string>& event_type,
                                      std::optional<topo_position> from, bool backwards, size_t limit);

// Thread roots of a room (events with m.thread children), newest latest reply first. `before`
// continues after a previous page's last root; `participant` keeps only threads that user
// started or replied to.
struct thread_root {
  std::string root_id;
  int64_t latest_topo = 0;  // topological ordering of the latest reply
};
std::vector<thread_root> thread_roots(connection& c, const std::string& room_id,
                                      const std::optional<std::string>& participant,
                                      const std::optional<thread_root>& before, size_t limit);
struct thread_stats {
  int64_t count = 0;             // replies (not redacted)
  bool user_replied = false;     // `user_id` sent one of them
};
thread_stats thread_summary(connection& c, const std::string& root_id, const std::string& user_id);
// The newest replies of a thread, newest first.
std::vector<event_row> thread_latest_replies(connection& c, const std::string& root_id, size_t limit);

// Events of a room at or after `ts` (forwards, oldest first) or at or before it (backwards,
// newest first), skipping the first `offset`.
std::vector<event_row> events_by_ts(connection& c, const std::string& room_id, int64_t ts, bool forwards,
                                    size_t offset, size_t limit);

// Rooms the user has forgotten (POST /forget): left behind for good, never searched again.
std::vector<std::string> forgotten_rooms(connection& c, const std::string& user_id);

// Full-text search over event_search (PostgreSQL tsvector, SQLite FTS5). `words` must already be
// plain words (letters, digits, non-ASCII bytes): each must occur, as a prefix of a word.
struct search_cursor {  // where a "recent" page ended
  int64_t origin_server_ts = 0;
  int64_t stream_ordering = 0;
  std::string event_id;
};
struct search_query {
  std::vector<std::string> words;
  std::vector<std::string> room_ids;
  std::vector<std::string> keys;            // content.body, content.name, content.topic
  bool by_rank = true;                      // else newest first
  size_t offset = 0;                        // by rank: hits to skip
  std::optional<search_cursor> before;      // recent: only hits older than this
  size_t limit = 10;
};
struct search_hit {
  std::string event_id;
  std::string room_id;
  double rank = 0;                          // higher is better
  search_cursor position;
};
std::vector<search_hit> search_events(connection& c, const search_query& q);
int64_t count_search_matches(connection& c, const search_query& q);

// Joined members matching a user directory search: `pattern` is a LIKE pattern (lower case,
// with '\' as the escape character) tried on the lower-cased user id and display name. One row
// per (user, room); deactivated users are left out. At most `max_rows` rows.
struct directory_member {
  std::string user_id;
  std::string room_id;
  std::optional<std::string> displayname;
  std::optional<std::string> avatar_url;
};
std::vector<directory_member> directory_members_matching(connection& c, const std::string& pattern,
                                                         size_t max_rows);

} // namespace myelin::storage::events
