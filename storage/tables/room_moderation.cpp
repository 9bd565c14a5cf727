#include "storage/tables/room_moderation.hpp"

namespace myelin::storage::room_moderation {

std::optional<std::string> blocked_by(connection& c, const std::string& room_id) {
  auto r = c.exec("SELECT user_id FROM blocked_rooms WHERE room_id = $1", {room_id});
  if (r.empty()) return std::nullopt;
  return r[0].as_text(0);
}

void set_blocked(connection& c, const std::string& room_id, const std::string& user_id, bool blocked) {
  if (blocked)
    c.exec("INSERT INTO blocked_rooms (room_id, user_id) VALUES ($1, $2) ON CONFLICT (room_id) DO NOTHING",
           {room_id, user_id});
  else
    c.exec("DELETE FROM blocked_rooms WHERE room_id = $1", {room_id});
}

namespace {

constexpr const char* deletion_columns = "delete_id, room_id, status, error, result, created_ts";

std::vector<deletion_row> read_deletions(const result& r) {
  std::vector<deletion_row> out;
  for (size_t i = 0; i < r.size(); ++i)
    out.push_back({r[i].as_text(0), r[i].as_text(1), r[i].as_text(2), r[i].opt_text(3), r[i].as_text(4),
                   r[i].as_int(5)});
  return out;
}

} // namespace

std::optional<deletion_row> get_deletion(connection& c, const std::string& delete_id) {
  auto rows = read_deletions(
      c.exec(std::string("SELECT ") + deletion_columns + " FROM room_deletions WHERE delete_id = $1", {delete_id}));
  if (rows.empty()) return std::nullopt;
  return rows.front();
}

std::vector<deletion_row> deletions_for_room(connection& c, const std::string& room_id) {
  return read_deletions(c.exec(std::string("SELECT ") + deletion_columns +
                                   " FROM room_deletions WHERE room_id = $1 ORDER BY created_ts, delete_id",
                               {room_id}));
}

void upsert_deletion(connection& c, const deletion_row& d) {
  c.exec("INSERT INTO room_deletions (delete_id, room_id, status, error, result, created_ts) "
         "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (delete_id) DO UPDATE SET status = excluded.status, "
         "error = excluded.error, result = excluded.result",
         {d.delete_id, d.room_id, d.status, nullable(d.error), d.result, d.created_ts});
}

void purge_room(connection& c, const std::string& room_id) {
  // Rows that hang off the room's state groups and events first, then the room's own tables.
  c.exec("DELETE FROM state_group_entries WHERE state_group IN (SELECT id FROM state_groups WHERE room_id = $1)",
         {room_id});
  for (const char* table : {"state_groups", "current_state_events", "event_relations", "redactions", "event_search",
                            "event_push_actions", "receipts", "room_aliases", "room_forgotten", "room_keys",
                            "sliding_sync_connection_rooms", "event_reports", "events", "room_heads", "rooms"})
    c.exec(std::string("DELETE FROM ") + table + " WHERE room_id = $1", {room_id});
  // Room-scoped account data (tags, m.fully_read, ...); '' is the global account data.
  c.exec("DELETE FROM account_data WHERE room_id = $1 AND room_id <> ''", {room_id});
}

} // namespace myelin::storage::room_moderation
