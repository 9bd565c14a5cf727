// Simplified sliding sync (MSC4186): the request body and the `pos` token, checked, without I/O.
// The server side is actors/sync/sliding/. Malformed input throws matrix_error (400 M_BAD_JSON for
// wrong shapes, M_INVALID_PARAM for out-of-range values), never anything a handler turns into a 500.
#pragma once
#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/sync_token.hpp"

namespace myelin::protocol::sliding {

// Largest timeline_limit honoured; larger ones are cut to it.
constexpr int64_t max_timeline_limit = 100;

// One required_state entry [type, state_key]: "*" is a wildcard, state_key "$ME" is the syncing
// user and "$LAZY" (m.room.member only) the senders of the timeline events sent with the room.
using state_pattern = std::pair<std::string, std::string>;

struct room_config {
  int64_t timeline_limit = 0;
  std::vector<state_pattern> required_state;
  // A stable text form: a room whose config changed gets its required_state again.
  std::string key() const;
  // The union of two configs (a room in several lists and a subscription): the larger timeline
  // limit and every required_state entry.
  void merge(const room_config& other);
};

struct list_filters {
  std::optional<bool> is_dm, is_encrypted, is_invite;
  // A null entry stands for rooms without a type (m.room.create content.type absent).
  std::optional<std::vector<std::optional<std::string>>> room_types;
  std::vector<std::optional<std::string>> not_room_types;
  std::optional<std::vector<std::string>> spaces;  // rooms that are m.space.child of these
};

struct list_request {
  std::vector<std::pair<int64_t, int64_t>> ranges;  // inclusive [start, end]
  room_config config;
  list_filters filters;
  // Whether index i of the sorted list is inside one of the ranges.
  bool in_ranges(int64_t i) const;
};

// Which rooms an extension covers: by default every room in the response; `lists` / `rooms`
// narrow it ("*" = all).
struct extension_scope {
  bool enabled = false;
  std::optional<std::vector<std::string>> lists, rooms;
  bool covers(const std::string& room_id, const std::vector<std::string>& room_lists, bool subscribed) const;
};

struct to_device_request {
  bool enabled = false;
  std::optional<int64_t> since;  // the next_batch of the previous to_device extension answer
  int64_t limit = 100;
};

struct request {
  std::string conn_id;
  std::map<std::string, list_request> lists;
  std::map<std::string, room_config> room_subscriptions;
  to_device_request to_device;
  bool e2ee = false;
  extension_scope account_data, receipts, typing;
};

// The POST body (an object; an empty body is an empty request).
request parse_request(const boost::json::value& body);

// `pos`: the connection position (a row of the connection's state) and the sync token the
// response was computed up to. Text: "<position>_<sync token>".
struct position {
  int64_t id = 0;
  sync_token token;
};
std::string format_position(const position& p);
std::optional<position> parse_position(std::string_view text);

// Whether a state event (type, state_key) matches one of the patterns, for `viewer`. "$LAZY"
// matches the members in `lazy_members`.
bool state_matches(const std::vector<state_pattern>& patterns, const std::string& type, const std::string& state_key,
                   const std::string& viewer, const std::vector<std::string>& lazy_members);
// Whether the patterns ask for lazy-loaded members.
bool wants_lazy_members(const std::vector<state_pattern>& patterns);

} // namespace myelin::protocol::sliding
