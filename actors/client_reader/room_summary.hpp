// A local room described from its current state, as the room directory (/publicRooms) and the
// space hierarchy (/hierarchy) show it (spec: PublishedRoomsChunk and RoomSummary).
#pragma once
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"
#include "storage/tables/events.hpp"

namespace myelin::rooms {

struct room_summary {
  std::string room_id;
  std::string room_version;
  std::optional<std::string> name, topic, canonical_alias, avatar_url, room_type, encryption;
  std::optional<std::string> join_rule;   // absent when the room has no m.room.join_rules
  std::string history_visibility = "shared";
  std::vector<std::string> alt_aliases;
  std::vector<std::string> allowed_room_ids;  // restricted rooms: the rooms that grant entry
  bool guest_can_join = false;
  int64_t num_joined_members = 0;
  // m.space.child events with a non-empty content.via (only for spaces: room_type m.space).
  std::vector<storage::events::event_row> space_children;

  bool world_readable() const { return history_visibility == "world_readable"; }
  bool is_space() const { return room_type && *room_type == "m.space"; }

  // The PublishedRoomsChunk fields; `full` adds the RoomSummary ones (room_version, encryption,
  // allowed_room_ids).
  boost::json::object to_json(bool full = false) const;
};

// nullopt when the room is unknown here.
std::optional<room_summary> summarize_room(storage::connection& c, const std::string& room_id);

} // namespace myelin::rooms
