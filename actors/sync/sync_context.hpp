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

// rooms.{join,invite,leave,knock}; adds the rooms to `interest`. Sets `any` when there is something new.
boost::json::object rooms_section(sync_context& s, sync_interest& interest, bool& any);

} // namespace myelin::sync
