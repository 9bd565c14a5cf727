// Event filters (spec: client-server "Filtering", RoomEventFilter): which events a client wants,
// by type (with '*' wildcards), sender, room and url presence, plus lazy-loading of members.
// Used by /messages, /context, /search now and by /sync.
#pragma once
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace myelin::protocol {

struct room_event_filter {
  std::optional<int64_t> limit;
  std::optional<std::vector<std::string>> types, senders, rooms;  // nullopt = everything
  std::vector<std::string> not_types, not_senders, not_rooms;
  std::optional<bool> contains_url;
  bool lazy_load_members = false;
  bool include_redundant_members = false;

  bool matches(std::string_view type, std::string_view sender, std::string_view room_id,
               const boost::json::object& content) const;
  bool matches_room(std::string_view room_id) const;
};

// A whole Filter (spec: client-server "Filtering", POST /user/{userId}/filter): what /sync
// returns. EventFilters (presence, account_data) use the room_event_filter fields they share.
struct room_filter {
  std::optional<std::vector<std::string>> rooms;
  std::vector<std::string> not_rooms;
  bool include_leave = false;
  room_event_filter timeline, state, ephemeral, account_data;
};

struct filter {
  std::optional<std::vector<std::string>> event_fields;
  std::string event_format = "client";  // "client" | "federation"
  room_event_filter presence, account_data;
  room_filter room;
};

filter parse_filter(const boost::json::object& o);

// Parses a filter object; wrong types are 400 M_BAD_JSON (M_NOT_JSON for unparsable text).
room_event_filter parse_room_event_filter(const boost::json::object& o);
room_event_filter parse_room_event_filter(std::string_view json_text);

// '*' matches any run of characters (the spec's wildcard for types).
bool glob_match(std::string_view pattern, std::string_view text);

} // namespace myelin::protocol
