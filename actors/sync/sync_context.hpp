// What every part of one /sync computation shares (actors/sync/*.cpp; not an interface for others).
#pragma once
#include <boost/json.hpp>
#include <set>

#include "actors/rooms/rooms.hpp"
#include "actors/sync/sync.hpp"
#include "storage/tables/room_sync.hpp"

namespace myelin::sync {

struct sync_context {
  runtime::handler_context& ctx;
  storage::connection& c;
  const api_request& req;
  const sync_params& params;
  rooms::viewer viewer;
  protocol::filter filter;
  bool unread_thread_notifications = false;
  const protocol::sync_token* since = nullptr;  // null: initial sync
  const protocol::sync_token& upto;
  storage::room_sync::window window;            // events stream: (since, upto]
  storage::room_sync::window everything;        // events stream: (0, upto]
  std::set<std::string> ignored;                // m.ignored_user_list

  bool initial() const { return since == nullptr; }
  // Positions of a single-writer stream (writer 0).
  int64_t since_of(const std::string& stream) const { return since ? since->get(stream, 0) : 0; }
  int64_t upto_of(const std::string& stream) const { return upto.get(stream, 0); }

  // Events as the filter's event_format and event_fields ask.
  boost::json::array format_events(const std::vector<storage::events::event_row>& events) const;
  // A client event object reduced to the filter's event_fields (if any).
  void apply_event_fields(boost::json::object& event) const;
};

// Shared by /sync and sliding sync (actors/sync/sliding/).

struct timeline_result {
  std::vector<storage::events::event_row> events;  // chronological
  bool limited = false;
};
// The newest `limit` events of the window the user may see and the filter wants, oldest first.
timeline_result load_timeline(sync_context& s, const std::string& room_id, const storage::room_sync::window& w,
                              size_t limit);

// The window narrowed to end at `last` (a leave): nothing after the user left is shown.
storage::room_sync::window ending_at(const storage::room_sync::window& w, const storage::events::event_row& last);

struct member_summary {
  int64_t joined = 0, invited = 0;
  std::vector<std::string> heroes;  // up to 5 joined or invited members other than the viewer
  bool named = false;               // has m.room.name or m.room.canonical_alias
};
member_summary room_members(sync_context& s, const std::string& room_id);

// The m.typing event of a room if it changed after `since_typing` (0: a first look, which does
// not announce that nobody types).
boost::json::array typing_events(sync_context& s, const std::string& room_id, int64_t since_typing);

// The stripped state shown with an invite or knock, ending with the membership event.
boost::json::array stripped_state(sync_context& s, const storage::room_sync::membership& m);

// To-device messages for the viewer's device in (since, upto], oldest first, at most `limit`;
// `next` is the position reached (upto, or the last message sent when cut). Messages up to
// `since` were received and are deleted.
struct to_device_batch {
  boost::json::array events;
  int64_t next = 0;
};
to_device_batch to_device_messages(sync_context& s, int64_t since, int64_t upto, size_t limit);

// device_one_time_keys_count and device_unused_fallback_key_types of the viewer's device.
void add_key_counts(sync_context& s, boost::json::object& body);

// rooms.{join,invite,leave,knock}; adds the rooms to `interest`. Sets `any` when there is something new.
boost::json::object rooms_section(sync_context& s, sync_interest& interest, bool& any);

} // namespace myelin::sync
