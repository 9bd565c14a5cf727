#include "storage/tables/presence.hpp"

#include "storage/tables/events.hpp"

namespace myelin::storage::presence {

namespace {

constexpr const char* columns =
    "p.user_id, p.state, p.status_msg, p.last_active_ts, p.currently_active, p.position, p.syncing_until_ts";

presence_record record_from(const row& r) {
  presence_record out;
  out.shown = {r.as_text(0), r.as_text(1), r.opt_text(2), r.as_int(3), r.as_int(4) != 0, r.as_int(5)};
  out.syncing_until_ts = r.as_int(6);
  return out;
}

} // namespace

std::optional<presence_state> get(connection& c, const std::string& user_id) {
  auto r = get_record(c, user_id);
  if (!r) return std::nullopt;
  return r->shown;
}

std::vector<presence_state> changed_for_viewer(connection& c, const std::string& viewer, int64_t after, int64_t upto) {
  auto r = c.exec(std::string("SELECT ") + columns + " FROM presence p WHERE p.position > $2 AND p.position <= $3 " +
                      "AND (p.user_id = $1 OR p.user_id IN (" + events::co_members_sql + ")) ORDER BY p.position, p.user_id",
                  {viewer, after, upto});
  std::vector<presence_state> out;
  out.reserve(r.size());
  for (size_t i = 0; i < r.size(); ++i) out.push_back(record_from(r[i]).shown);
  return out;
}

bool shares_joined_room(connection& c, const std::string& a, const std::string& b) {
  auto r = c.exec("SELECT 1 FROM current_state_events mine JOIN current_state_events other "
                  "ON other.room_id = mine.room_id AND other.type = 'm.room.member' AND other.state_key = $2 "
                  "AND other.membership = 'join' "
                  "WHERE mine.type = 'm.room.member' AND mine.state_key = $1 AND mine.membership = 'join' LIMIT 1",
                  {a, b});
  return !r.empty();
}

boost::json::object presence_content(const presence_state& p, int64_t now_ms) {
  boost::json::object content{{"presence", p.state}};
  if (p.last_active_ts > 0) content["last_active_ago"] = std::max<int64_t>(0, now_ms - p.last_active_ts);
  if (p.status_msg && !p.status_msg->empty()) content["status_msg"] = *p.status_msg;
  if (p.state == "online") content["currently_active"] = p.currently_active;
  return content;
}

boost::json::object presence_event(const presence_state& p, int64_t now_ms) {
  return {{"type", "m.presence"}, {"sender", p.user_id}, {"content", presence_content(p, now_ms)}};
}

std::optional<presence_record> get_record(connection& c, const std::string& user_id) {
  auto r = c.exec(std::string("SELECT ") + columns + " FROM presence p WHERE p.user_id = $1", {user_id});
  if (r.empty()) return std::nullopt;
  return record_from(r[0]);
}

void put_record(connection& c, const presence_record& r) {
  const auto& s = r.shown;
  c.exec("INSERT INTO presence (user_id, state, status_msg, last_active_ts, syncing_until_ts, currently_active, "
         "position) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, "
         "status_msg = excluded.status_msg, last_active_ts = excluded.last_active_ts, "
         "syncing_until_ts = excluded.syncing_until_ts, currently_active = excluded.currently_active, "
         "position = excluded.position",
         {s.user_id, s.state, nullable(s.status_msg), s.last_active_ts, r.syncing_until_ts,
          int64_t(s.currently_active), s.position});
}

std::vector<presence_record> timeout_candidates(connection& c, int64_t now_ms, int64_t limit) {
  auto r = c.exec(std::string("SELECT ") + columns +
                      " FROM presence p WHERE p.state <> 'offline' AND ("
                      "(p.state = 'online' AND p.last_active_ts < $1) OR "
                      "(p.currently_active = 1 AND p.last_active_ts < $2) OR "
                      "(p.syncing_until_ts < $3 AND p.last_active_ts < $3)) ORDER BY p.user_id LIMIT $4",
                  {now_ms - idle_timeout_ms, now_ms - last_active_granularity_ms, now_ms - sync_online_timeout_ms,
                   limit});
  std::vector<presence_record> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back(record_from(r[i]));
  return out;
}

} // namespace myelin::storage::presence
