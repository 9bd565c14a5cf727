// Room moderation by server admins (migration 19): blocked rooms, the status of room deletions,
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

struct deletion_row {
  std::string delete_id;
  std::string room_id;
  std::string status;   // scheduled | active | complete | failed (Synapse's names)
  std::optional<std::string> error;
  std::string result;   // JSON object: Synapse's "shutdown_room" fields
  int64_t created_ts = 0;
};
std::optional<deletion_row> get_deletion(connection& c, const std::string& delete_id);
std::vector<deletion_row> deletions_for_room(connection& c, const std::string& room_id);
void upsert_deletion(connection& c, const deletion_row& d);

// Deletes everything stored about the room — events, state, relations, redactions, search,
// aliases, receipts, room account data, notifications, key backups, sliding sync records, event
// reports, forgotten marks, its row and head — but not its block (a blocked room stays blocked).
void purge_room(connection& c, const std::string& room_id);

} // namespace myelin::storage::room_moderation
