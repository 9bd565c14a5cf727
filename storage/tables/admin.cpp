#include "storage/tables/admin.hpp"

#include <boost/json.hpp>
#include <map>

#include "storage/tables/events.hpp"

namespace myelin::storage::admin {

namespace json = boost::json;

namespace {

// `text` for a LIKE pattern with its wildcards taken literally (ESCAPE '\').
std::string like_literal(const std::string& text) {
  std::string p;
  for (char ch : text) {
    if (ch == '%' || ch == '_' || ch == '\\') p += '\\';
    p += ch;
  }
  return p;
}

// '%text%', lower-cased: a case-insensitive substring match against lower(column).
std::string contains_pattern(const std::string& text) {
  std::string p = like_literal(text);
  for (auto& ch : p) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return "%" + p + "%";
}

constexpr const char* user_select =
    "SELECT u.user_id, u.password_hash, u.is_admin, u.is_guest, u.deactivated, u.created_ts, p.displayname, "
    "p.avatar_url, (SELECT MAX(d.last_seen_ts) FROM devices d WHERE d.user_id = u.user_id) "
    "FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id ";

user_entry user_from(const row& r) {
  return user_entry{accounts::user_row{r.as_text(0), r.opt_text(1), r.as_int(2) != 0, r.as_int(3) != 0,
                                       r.as_int(4) != 0, r.as_int(5)},
                    r.opt_text(6), r.opt_text(7), r.opt_int(8)};
}

// One page of an admin list, and how many rows match in all: `count_sql` and `select_sql` both
// end where `where` goes; rows come in `order` (ascending or descending), from `from`, `limit` of them.
template <class Each>
int64_t select_page(connection& c, const std::string& count_sql, const std::string& select_sql,
                    const std::string& where, const sql_params& params, const std::string& order, bool descending,
                    int64_t limit, int64_t from, Each&& each) {
  auto total = c.exec(count_sql + where, params);
  auto r = c.exec(select_sql + where + " ORDER BY " + order + (descending ? " DESC" : " ASC") + " LIMIT " +
                      std::to_string(limit) + " OFFSET " + std::to_string(from),
                  params);
  for (size_t i = 0; i < r.size(); ++i) each(r[i]);
  return total.empty() ? 0 : total[0].as_int(0);
}

} // namespace

user_page list_users(connection& c, const user_filter& f) {
  std::string where = "WHERE 1 = 1";
  sql_params params;
  auto param = [&](sql_value v) {
    params.push_back(std::move(v));
    return "$" + std::to_string(params.size());
  };
  if (!f.guests) where += " AND u.is_guest = 0";
  if (!f.deactivated) where += " AND u.deactivated = 0";
  if (f.admins) where += *f.admins ? " AND u.is_admin = 1" : " AND u.is_admin = 0";
  if (f.user_id) where += " AND lower(u.user_id) LIKE " + param(contains_pattern(*f.user_id)) + " ESCAPE '\\'";
  if (f.name) {
    auto p = param(contains_pattern(*f.name));
    where += " AND (lower(u.user_id) LIKE " + p + " ESCAPE '\\' OR lower(p.displayname) LIKE " + p + " ESCAPE '\\')";
  }
  user_page page;
  page.total = select_page(c, "SELECT COUNT(*) FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id ",
                           user_select, where, params, "u.user_id", f.descending, f.limit, f.from,
                           [&](const row& r) { page.users.push_back(user_from(r)); });
  return page;
}

std::optional<user_entry> get_user_entry(connection& c, const std::string& user_id) {
  auto r = c.exec(std::string(user_select) + "WHERE u.user_id = $1", {user_id});
  if (r.empty()) return std::nullopt;
  return user_from(r[0]);
}

std::optional<std::string> content_string(const std::string& event_json, std::string_view key) {
  boost::system::error_code ec;
  auto v = json::parse(event_json, ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto* content = v.as_object().if_contains("content");
  if (!content || !content->is_object()) return std::nullopt;
  auto* s = content->as_object().if_contains(key);
  if (!s || !s->is_string()) return std::nullopt;
  return std::string(s->as_string());
}

namespace {

bool content_bool(const std::string& event_json, std::string_view key, bool fallback) {
  boost::system::error_code ec;
  auto v = json::parse(event_json, ec);
  if (ec || !v.is_object()) return fallback;
  auto* content = v.as_object().if_contains("content");
  if (!content || !content->is_object()) return fallback;
  auto* b = content->as_object().if_contains(key);
  return b && b->is_bool() ? b->as_bool() : fallback;
}

} // namespace

std::vector<room_summary> room_summaries(connection& c, const std::string& server_name,
                                         const std::optional<std::string>& room_id) {
  std::map<std::string, room_summary> rooms;
  auto r = room_id ? c.exec("SELECT room_id, room_version, creator, is_public FROM rooms WHERE room_id = $1", {*room_id})
                   : c.exec("SELECT room_id, room_version, creator, is_public FROM rooms");
  for (size_t i = 0; i < r.size(); ++i) {
    room_summary s;
    s.room_id = r[i].as_text(0);
    s.version = r[i].as_text(1);
    s.creator = r[i].as_text(2);
    s.is_public = r[i].as_int(3) != 0;
    rooms.emplace(s.room_id, std::move(s));
  }
  if (rooms.empty()) return {};

  // One pass per state type over every room (or the one room).
  auto each_state = [&](const std::string& type, auto&& fn) {
    std::vector<events::event_row> evs;
    if (room_id) {
      evs = events::current_state_of_types(c, *room_id, {type});
      std::erase_if(evs, [](const auto& e) { return e.state_key != ""; });
    } else {
      evs = events::current_state_in_all_rooms(c, type);
    }
    for (const auto& e : evs)
      if (auto it = rooms.find(e.room_id); it != rooms.end()) fn(it->second, e.json);
  };
  each_state("m.room.name", [](room_summary& s, const std::string& j) { s.name = content_string(j, "name"); });
  each_state("m.room.canonical_alias",
             [](room_summary& s, const std::string& j) { s.canonical_alias = content_string(j, "alias"); });
  each_state("m.room.topic", [](room_summary& s, const std::string& j) { s.topic = content_string(j, "topic"); });
  each_state("m.room.avatar", [](room_summary& s, const std::string& j) { s.avatar = content_string(j, "url"); });
  each_state("m.room.join_rules",
             [](room_summary& s, const std::string& j) { s.join_rules = content_string(j, "join_rule"); });
  each_state("m.room.guest_access",
             [](room_summary& s, const std::string& j) { s.guest_access = content_string(j, "guest_access"); });
  each_state("m.room.history_visibility", [](room_summary& s, const std::string& j) {
    s.history_visibility = content_string(j, "history_visibility");
  });
  each_state("m.room.encryption",
             [](room_summary& s, const std::string& j) { s.encryption = content_string(j, "algorithm"); });
  each_state("m.room.create", [](room_summary& s, const std::string& j) {
    s.room_type = content_string(j, "type");
    s.federatable = content_bool(j, "m.federate", true);
  });

  // Member and state counts in one grouped query; local = the user id ends in ":server_name".
  std::string counts =
      "SELECT room_id, COUNT(*), "
      "SUM(CASE WHEN type = 'm.room.member' AND membership = 'join' THEN 1 ELSE 0 END), "
      "SUM(CASE WHEN type = 'm.room.member' AND membership = 'join' AND state_key LIKE $1 ESCAPE '\\' "
      "THEN 1 ELSE 0 END) FROM current_state_events ";
  sql_params params{"%" + like_literal(":" + server_name)};
  if (room_id) {
    counts += "WHERE room_id = $2 ";
    params.push_back(*room_id);
  }
  auto cr = c.exec(counts + "GROUP BY room_id", params);
  for (size_t i = 0; i < cr.size(); ++i) {
    auto it = rooms.find(cr[i].as_text(0));
    if (it == rooms.end()) continue;
    it->second.state_events = cr[i].as_int(1);
    it->second.joined_members = cr[i].as_int(2);
    it->second.joined_local_members = cr[i].as_int(3);
  }
  std::vector<room_summary> out;
  out.reserve(rooms.size());
  for (auto& [_, s] : rooms) out.push_back(std::move(s));
  return out;
}

std::vector<std::string> joined_members(connection& c, const std::string& room_id) {
  auto r = c.exec("SELECT state_key FROM current_state_events WHERE room_id = $1 AND type = 'm.room.member' "
                  "AND membership = 'join' ORDER BY state_key",
                  {room_id});
  std::vector<std::string> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back(r[i].as_text(0));
  return out;
}

namespace {

constexpr const char* report_select =
    "SELECT r.id, r.received_ts, r.room_id, r.event_id, r.user_id, r.reason, r.score, e.sender "
    "FROM event_reports r LEFT JOIN events e ON e.event_id = r.event_id ";

event_report report_from(const row& r) {
  return event_report{r.as_int(0),  r.as_int(1),     r.as_text(2),   r.as_text(3),
                      r.as_text(4), r.opt_text(5),   r.opt_int(6),   r.opt_text(7)};
}

} // namespace

int64_t insert_event_report(connection& c, const event_report& r) {
  auto res = c.exec("INSERT INTO event_reports (received_ts, room_id, event_id, user_id, reason, score) "
                    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    {r.received_ts, r.room_id, r.event_id, r.user_id, nullable(r.reason), nullable(r.score)});
  return res.empty() ? 0 : res[0].as_int(0);
}

bool delete_event_report(connection& c, int64_t id) {
  return c.exec("DELETE FROM event_reports WHERE id = $1", {id}).affected_rows() > 0;
}

report_page list_event_reports(connection& c, const report_filter& f) {
  std::string where = "WHERE 1 = 1";
  sql_params params;
  if (f.user_id) {
    params.push_back(contains_pattern(*f.user_id));
    where += " AND lower(r.user_id) LIKE $" + std::to_string(params.size()) + " ESCAPE '\\'";
  }
  if (f.room_id) {
    params.push_back(contains_pattern(*f.room_id));
    where += " AND lower(r.room_id) LIKE $" + std::to_string(params.size()) + " ESCAPE '\\'";
  }
  report_page page;
  page.total = select_page(c, "SELECT COUNT(*) FROM event_reports r ", report_select, where, params, "r.id",
                           f.newest_first, f.limit, f.from,
                           [&](const row& r) { page.reports.push_back(report_from(r)); });
  return page;
}

std::optional<event_report> get_event_report(connection& c, int64_t id) {
  auto r = c.exec(std::string(report_select) + "WHERE r.id = $1", {id});
  if (r.empty()) return std::nullopt;
  return report_from(r[0]);
}

} // namespace myelin::storage::admin
