// Queries over event_push_actions (storage/schema/0009_notifications.cpp): which events notified
// which local users, written by the events persister as it stores each event; read for /sync's
// unread notification counts and GET /notifications.
//
// "Read" follows the user's read receipts (receipts table of the receipts stream: m.read and
// m.read.private, whichever is further): a push action is read when a receipt that covers its
// thread points at an event at or after it in the room's order (topological_ordering,
// stream_ordering). An unthreaded receipt (thread_id '') covers every thread; a "main" receipt
// covers the main timeline (push actions with thread_id ''); a receipt with a thread root's id
// covers that thread. Redacted events count and show no more (their rows stay; reads skip them).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage::notifications {

struct push_action {
  std::string room_id;
  std::string event_id;
  std::string user_id;
  std::string persister;
  int64_t stream_ordering = 0;
  int64_t topological_ordering = 0;
  std::string thread_id;        // thread root, "" = main timeline
  bool highlight = false;
  std::string actions;          // JSON array
  int64_t ts = 0;               // when the notification was made
};

// ---- writes (events persister only) ----
// Stores push actions (one event's: SQLite a statement per row, PostgreSQL a few multi-row ones).
void insert(connection& c, const std::vector<push_action>& rows);

// ---- reads ----

// Unread notification counts in a room: the main timeline at the top level, other threads by
// root id in `threads` (only threads with something unread). A /sync without thread
// notifications reports totals().
struct unread_counts {
  int64_t notification_count = 0, highlight_count = 0;
  std::map<std::string, std::pair<int64_t, int64_t>> threads;  // root → (notifications, highlights)

  // Everything, threads folded into the main timeline.
  std::pair<int64_t, int64_t> totals() const;
};

unread_counts unread_for(connection& c, const std::string& user_id, const std::string& room_id);
// The same for many rooms in one query per max_in_list rooms; every asked room is in the result.
std::map<std::string, unread_counts> unread_for_rooms(connection& c, const std::string& user_id,
                                                      const std::vector<std::string>& room_ids);

// GET /notifications: newest first. The token is where the previous page ended.
struct page_token {
  int64_t ts = 0;
  int64_t stream_ordering = 0;
  std::string persister;
};
std::string to_string(const page_token& t);
std::optional<page_token> parse_page_token(std::string_view s);

struct notification {
  push_action action;
  bool read = false;
};
std::vector<notification> page(connection& c, const std::string& user_id, const std::optional<page_token>& from,
                               bool only_highlight, size_t limit);

} // namespace myelin::storage::notifications
