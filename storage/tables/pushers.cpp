#include "storage/tables/pushers.hpp"

namespace myelin::storage::pushers {

namespace {

constexpr const char* columns =
    "p.user_id, p.app_id, p.pushkey, p.kind, p.app_display_name, p.device_display_name, p.profile_tag, p.lang, "
    "p.data, p.device_id, p.pushkey_ts";
constexpr size_t column_count = 11;

pusher read_pusher(const row& r) {
  return pusher{r.as_text(0), r.as_text(1), r.as_text(2), r.as_text(3), r.as_text(4), r.as_text(5),
                r.as_text(6), r.as_text(7), r.as_text(8), r.as_text(9), r.as_int(10)};
}

} // namespace

std::vector<pusher> for_user(connection& c, const std::string& user_id) {
  auto r = c.exec(std::string("SELECT ") + columns + " FROM pushers p WHERE p.user_id = $1 ORDER BY p.app_id, p.pushkey",
                  {user_id});
  std::vector<pusher> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back(read_pusher(r[i]));
  return out;
}

void set(connection& c, const pusher& p, bool append) {
  if (!append)
    c.exec("DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3", {p.app_id, p.pushkey, p.user_id});
  c.exec("INSERT INTO pushers (user_id, app_id, pushkey, kind, app_display_name, device_display_name, profile_tag, "
         "lang, data, device_id, pushkey_ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
         "ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET kind = excluded.kind, "
         "app_display_name = excluded.app_display_name, device_display_name = excluded.device_display_name, "
         "profile_tag = excluded.profile_tag, lang = excluded.lang, data = excluded.data, "
         "device_id = excluded.device_id, pushkey_ts = excluded.pushkey_ts",
         {p.user_id, p.app_id, p.pushkey, p.kind, p.app_display_name, p.device_display_name, p.profile_tag, p.lang,
          p.data, p.device_id, p.pushkey_ts});
}

bool remove(connection& c, const std::string& user_id, const std::string& app_id, const std::string& pushkey) {
  auto r = c.exec("DELETE FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3 RETURNING user_id",
                  {user_id, app_id, pushkey});
  return !r.empty();
}

std::vector<target> targets_for_event(connection& c, const std::string& room_id, const std::string& event_id) {
  // From the (few) pushers to the push actions by (user_id, room_id): event_push_actions has no
  // index by event. CROSS JOIN keeps SQLite from scanning the actions first.
  auto r = c.exec(std::string("SELECT ") + columns +
                      ", ep.actions, ep.highlight FROM pushers p CROSS JOIN event_push_actions ep "
                      "WHERE ep.user_id = p.user_id AND ep.room_id = $1 AND ep.event_id = $2 AND ep.notif = 1 "
                      "AND p.kind = 'http' ORDER BY p.user_id, p.app_id, p.pushkey",
                  {room_id, event_id});
  std::vector<target> out;
  for (size_t i = 0; i < r.size(); ++i)
    out.push_back(target{read_pusher(r[i]), r[i].as_text(column_count), r[i].as_int(column_count + 1) != 0});
  return out;
}

void remove_for_device(connection& c, const std::string& user_id, const std::string& device_id) {
  c.exec("DELETE FROM pushers WHERE user_id = $1 AND device_id = $2", {user_id, device_id});
}

progress load_progress(connection& c, const std::string& instance) {
  auto r = c.exec("SELECT persister, stream_ordering FROM pusher_progress WHERE instance = $1", {instance});
  progress out;
  for (size_t i = 0; i < r.size(); ++i) out[r[i].as_text(0)] = r[i].as_int(1);
  return out;
}

void save_progress(connection& c, const std::string& instance, const progress& p) {
  for (const auto& [persister, position] : p)
    c.exec("INSERT INTO pusher_progress (instance, persister, stream_ordering) VALUES ($1, $2, $3) "
           "ON CONFLICT (instance, persister) DO UPDATE SET stream_ordering = excluded.stream_ordering",
           {instance, persister, position});
}

} // namespace myelin::storage::pushers
