#include "storage/tables/sliding_sync.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "storage/tables/in_list.hpp"

namespace myelin::storage::sliding_sync {

const std::vector<std::string>& bump_event_types() {
  static const std::vector<std::string> types = {"m.room.create", "m.room.message", "m.room.encrypted",
                                                 "m.sticker",     "m.call.invite",  "m.poll.start",
                                                 "m.beacon_info"};
  return types;
}

bool is_bump_event_type(std::string_view type) {
  const auto& types = bump_event_types();
  return std::find(types.begin(), types.end(), type) != types.end();
}

std::map<std::string, int64_t> bump_stamps(connection& c, const std::string& user_id) {
  auto r = c.exec("SELECT m.room_id, h.bump_stamp FROM current_state_events m JOIN room_heads h ON h.room_id = m.room_id "
                  "WHERE m.type = 'm.room.member' AND m.state_key = $1",
                  {user_id});
  std::map<std::string, int64_t> out;
  for (size_t i = 0; i < r.size(); ++i) out[r[i].as_text(0)] = r[i].as_int(1);
  return out;
}

room_state_contents state_of_user_rooms(connection& c, const std::string& user_id,
                                        const std::vector<std::string>& types) {
  room_state_contents out;
  if (types.empty()) return out;
  std::vector<std::string> padded = types;
  auto list = in_list(2, padded);
  sql_params params{user_id};
  for (auto& t : padded) params.emplace_back(t);
  auto r = c.exec("SELECT s.room_id, s.type, s.state_key, e.json FROM current_state_events m "
                  "JOIN current_state_events s ON s.room_id = m.room_id AND s.type IN (" + list + ") "
                  "JOIN events e ON e.event_id = s.event_id "
                  "WHERE m.type = 'm.room.member' AND m.state_key = $1",
                  params);
  for (size_t i = 0; i < r.size(); ++i) out[r[i].as_text(0)][r[i].as_text(1)][r[i].as_text(2)] = r[i].as_text(3);
  return out;
}

namespace {

// lazy_members column: a JSON array of user ids.
std::string lazy_text(const std::set<std::string>& users) {
  boost::json::array a;
  for (const auto& u : users) a.emplace_back(u);
  return boost::json::serialize(a);
}

std::set<std::string> lazy_set(const std::string& text) {
  std::set<std::string> out;
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_array()) return out;  // written by us; a damaged value costs resending members
  for (const auto& u : v.as_array())
    if (u.is_string()) out.emplace(u.as_string());
  return out;
}

constexpr int64_t touch_interval_ms = 3600 * 1000;

} // namespace

std::optional<connection_state> load(connection& c, const std::string& user_id, const std::string& device_id,
                                     const std::string& conn_id, int64_t position_id, int64_t now_ms) {
  auto r = c.exec("SELECT p.connection_id, p.lists, k.last_used_ts FROM sliding_sync_positions p "
                  "JOIN sliding_sync_connections k ON k.id = p.connection_id "
                  "WHERE p.id = $1 AND k.user_id = $2 AND k.device_id = $3 AND k.conn_id = $4",
                  {position_id, user_id, device_id, conn_id});
  if (r.size() == 0) return std::nullopt;
  int64_t last_used = r[0].as_int(2);
  if (now_ms - last_used > connection_max_idle_ms) return std::nullopt;
  connection_state s;
  s.connection_id = r[0].as_int(0);
  s.position_id = position_id;
  s.lists = r[0].as_text(1);
  if (now_ms - last_used > touch_interval_ms)
    c.exec("UPDATE sliding_sync_connections SET last_used_ts = $2 WHERE id = $1", {s.connection_id, now_ms});
  auto rooms = c.exec("SELECT room_id, sent_token, config, timeline_limit, lazy_members "
                      "FROM sliding_sync_connection_rooms WHERE position_id = $1",
                      {position_id});
  for (size_t i = 0; i < rooms.size(); ++i)
    s.rooms[rooms[i].as_text(0)] = {rooms[i].as_text(1), rooms[i].as_text(2), rooms[i].as_int(3),
                                    lazy_set(rooms[i].as_text(4))};
  return s;
}

namespace {

void delete_positions(connection& c, const std::string& where, const sql_params& params) {
  c.exec("DELETE FROM sliding_sync_connection_rooms WHERE position_id IN (SELECT id FROM sliding_sync_positions WHERE " +
             where + ")",
         params);
  c.exec("DELETE FROM sliding_sync_positions WHERE " + where, params);
}

// Connections matching `where` (over sliding_sync_connections) with their positions and rooms.
void delete_connections(connection& c, const std::string& where, const sql_params& params) {
  delete_positions(c, "connection_id IN (SELECT id FROM sliding_sync_connections WHERE " + where + ")", params);
  c.exec("DELETE FROM sliding_sync_connections WHERE " + where, params);
}

} // namespace

int64_t open(connection& c, const std::string& user_id, const std::string& device_id, const std::string& conn_id,
             int64_t now_ms) {
  delete_connections(c, "user_id = $1 AND device_id = $2 AND conn_id = $3", {user_id, device_id, conn_id});
  // Opening is rare (a client starting over), so it also sweeps the server's idle connections.
  delete_connections(c, "last_used_ts < $1", {now_ms - connection_max_idle_ms});
  auto r = c.exec("INSERT INTO sliding_sync_connections (user_id, device_id, conn_id, created_ts, last_used_ts) "
                  "VALUES ($1, $2, $3, $4, $4) RETURNING id",
                  {user_id, device_id, conn_id, now_ms});
  return r[0].as_int(0);
}

int64_t save(connection& c, int64_t connection_id, int64_t keep, const std::string& lists,
             const std::map<std::string, room_entry>& rooms, int64_t now_ms) {
  auto r = c.exec("INSERT INTO sliding_sync_positions (connection_id, created_ts, lists) VALUES ($1, $2, $3) RETURNING id",
                  {connection_id, now_ms, lists});
  int64_t id = r[0].as_int(0);
  for (const auto& [room_id, e] : rooms)
    c.exec("INSERT INTO sliding_sync_connection_rooms (position_id, room_id, sent_token, config, timeline_limit, "
           "lazy_members) VALUES ($1, $2, $3, $4, $5, $6)",
           {id, room_id, e.sent_token, e.config, e.timeline_limit, lazy_text(e.lazy_members)});
  delete_positions(c, "connection_id = $1 AND id <> $2 AND id <> $3", {connection_id, keep, id});
  return id;
}

void forget_device(connection& c, const std::string& user_id, const std::string& device_id) {
  delete_connections(c, "user_id = $1 AND device_id = $2", {user_id, device_id});
}

} // namespace myelin::storage::sliding_sync
