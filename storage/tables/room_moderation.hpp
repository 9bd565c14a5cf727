// Room moderation by server admins (migration 22): blocked rooms, the status of room deletions,
// and purging a room's rows from every table. Written by the events stream writer only (the
// room's persister), so a purge cannot interleave with the room's own events.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage::room_moderation {

// The admin who blocked the room, if it is blocked.
std::optional<std::string> blocked_by(connection& c, const std::string& room_id);
void set_blocked(connection& c, const std::string& room_id, const std::string& user_id, bool blocked);

// A background task of the admin API about one room.
struct task_row {
  std::string task_id;
  std::string kind;     // "delete_room" | "purge_history"
  std::string room_id;
  std::string status;   // scheduled | active | complete | failed (Synapse's names)
  std::optional<std::string> error;
  std::string result;   // JSON object (delete_room: Synapse's "shutdown_room" fields)
  int64_t created_ts = 0;
};
std::optional<task_row> get_task(connection& c, const std::string& task_id, const std::string& kind);
std::vector<task_row> tasks_for_room(connection& c, const std::string& room_id, const std::string& kind);
void upsert_task(connection& c, const task_row& t);

// Deletes everything stored about the room — events, state, relations, redactions, search,
// aliases, receipts, room account data, notifications, key backups, sliding sync records, event
// reports, forgotten marks, its row and head — but not its block (a blocked room stays blocked).
void purge_room(connection& c, const std::string& room_id);

// Which history purge_history deletes: the room's message (non-state) events before a depth
// and/or a time; local users' events only with `delete_local_events` (they may be the only copy).
// State events, the room's forward extremities and its latest message are always kept, so the room
// keeps its current state and can still be sent to.
struct history_cutoff {
  std::optional<int64_t> before_depth;  // topological_ordering below this
  std::optional<int64_t> before_ts;     // origin_server_ts below this
  bool delete_local_events = false;
  std::string server_name;
};
// Deletes those events and their relations, redactions, search entries and push actions; returns
// how many events.
int64_t purge_history(connection& c, const std::string& room_id, const history_cutoff& cut);

} // namespace myelin::storage::room_moderation
