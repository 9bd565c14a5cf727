// The device_lists stream's log (device_list_changes, storage/schema/0010_e2e_keys.cpp) and the
// question /sync and /keys/changes ask of it: whose device lists should this user fetch again,
// and whom does the user no longer share a room with.
#pragma once
#include <boost/json/object.hpp>
#include <set>
#include <string>
#include <vector>

#include "storage/database.hpp"
#include "storage/tables/room_sync.hpp"

namespace myelin::storage::device_lists {

// Records that `user_id`'s devices or cross-signing keys changed at `position`, for everyone
// sharing a room with them (visible_to = "") or only for `visible_to`.
void record_change(connection& c, int64_t position, const std::string& user_id, const std::string& visible_to = "");

// The position of the newest change of `user_id`'s devices seen by everyone (0: none): the
// `stream_id` other servers compare device list updates against.
int64_t latest_change(connection& c, const std::string& user_id);

struct changes {
  std::set<std::string> changed;
  std::set<std::string> left;
};
// {"changed": [...], "left": [...]}, as /sync's device_lists and /keys/changes answer it.
boost::json::object to_json(const changes& c);

// Between two tokens: device_lists positions (after, upto] and the events window `w`.
//   changed: users sharing a joined room with the viewer (and the viewer) whose device lists
//            changed, users who joined a room the viewer is in, and every member of a room the
//            viewer joined — their keys may be new to the viewer's devices;
//   left:    users who left a room the viewer is in, or were in a room the viewer left, and now
//            share no room with the viewer.
changes changes_for_viewer(connection& c, const std::string& viewer, int64_t after, int64_t upto,
                           const room_sync::window& w);

} // namespace myelin::storage::device_lists
