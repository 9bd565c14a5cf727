#include "storage/tables/room_moderation.hpp"

#include <boost/json.hpp>
#include <set>

#include "storage/tables/in_list.hpp"

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

constexpr const char* task_columns = "task_id, kind, room_id, status, error, result, created_ts";

std::vector<task_row> read_tasks(const result& r) {
  std::vector<task_row> out;
  for (size_t i = 0; i < r.size(); ++i)
    out.push_back({r[i].as_text(0), r[i].as_text(1), r[i].as_text(2), r[i].as_text(3), r[i].opt_text(4),
                   r[i].as_text(5), r[i].as_int(6)});
  return out;
}

} // namespace

std::optional<task_row> get_task(connection& c, const std::string& task_id, const std::string& kind) {
  auto rows = read_tasks(c.exec(std::string("SELECT ") + task_columns +
                                    " FROM room_admin_tasks WHERE task_id = $1 AND kind = $2",
                                {task_id, kind}));
  if (rows.empty()) return std::nullopt;
  return rows.front();
}

std::vector<task_row> tasks_for_room(connection& c, const std::string& room_id, const std::string& kind) {
  return read_tasks(c.exec(std::string("SELECT ") + task_columns +
                               " FROM room_admin_tasks WHERE room_id = $1 AND kind = $2 ORDER BY created_ts, task_id",
                           {room_id, kind}));
}

void upsert_task(connection& c, const task_row& t) {
  c.exec("INSERT INTO room_admin_tasks (task_id, kind, room_id, status, error, result, created_ts) "
         "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (task_id) DO UPDATE SET status = excluded.status, "
         "error = excluded.error, result = excluded.result",
         {t.task_id, t.kind, t.room_id, t.status, nullable(t.error), t.result, t.created_ts});
}

void purge_room(connection& c, const std::string& room_id) {
  // Rows that hang off the room's state groups and events first, then the room's own tables.
  c.exec("DELETE FROM state_group_entries WHERE state_group IN (SELECT id FROM state_groups WHERE room_id = $1)",
         {room_id});
  c.exec("DELETE FROM federation_relayed_events WHERE event_id IN (SELECT event_id FROM events WHERE room_id = $1)",
         {room_id});
  for (const char* table : {"state_groups", "rejected_events", "current_state_events", "event_relations", "redactions", "event_search",
                            "event_push_actions", "receipts", "room_aliases", "room_forgotten", "room_keys",
                            "sliding_sync_connection_rooms", "event_reports", "events", "room_heads", "rooms"})
    c.exec(std::string("DELETE FROM ") + table + " WHERE room_id = $1", {room_id});
  // Room-scoped account data (tags, m.fully_read, ...); '' is the global account data.
  c.exec("DELETE FROM account_data WHERE room_id = $1 AND room_id <> ''", {room_id});
}

int64_t purge_history(connection& c, const std::string& room_id, const history_cutoff& cut) {
  auto head = c.exec("SELECT forward_extremities FROM room_heads WHERE room_id = $1", {room_id});
  std::set<std::string> keep;
  if (!head.empty()) {
    boost::system::error_code ec;
    auto ext = boost::json::parse(head[0].as_text(0), ec);
    if (!ec && ext.is_array())
      for (const auto& e : ext.as_array())
        if (e.is_string()) keep.emplace(e.as_string());
  }
  auto latest = c.exec("SELECT event_id FROM events WHERE room_id = $1 AND state_key IS NULL "
                       "ORDER BY topological_ordering DESC, stream_ordering DESC LIMIT 1",
                       {room_id});
  if (!latest.empty()) keep.insert(latest[0].as_text(0));
  auto r = c.exec("SELECT event_id, sender FROM events WHERE room_id = $1 AND state_key IS NULL "
                  "AND topological_ordering < $2 AND origin_server_ts < $3",
                  {room_id, cut.before_depth.value_or(INT64_MAX), cut.before_ts.value_or(INT64_MAX)});
  std::vector<std::string> doomed;
  auto local_suffix = ":" + cut.server_name;
  for (size_t i = 0; i < r.size(); ++i) {
    auto id = r[i].as_text(0);
    if (keep.count(id) || (!cut.delete_local_events && r[i].as_text(1).ends_with(local_suffix))) continue;
    doomed.push_back(std::move(id));
  }
  for_each_chunk(doomed, [&](std::vector<std::string>& chunk) {
    auto in = in_list(1, chunk);  // pads the chunk: the parameters come after
    sql_params params(chunk.begin(), chunk.end());
    for (const char* table : {"event_relations", "redactions", "event_search", "event_push_actions", "events"})
      c.exec(std::string("DELETE FROM ") + table + " WHERE event_id IN (" + in + ")", params);
  });
  return static_cast<int64_t>(doomed.size());
}

} // namespace myelin::storage::room_moderation
