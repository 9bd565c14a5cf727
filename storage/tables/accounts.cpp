#include "storage/tables/accounts.hpp"

#include "common/clock.hpp"
#include "storage/tables/pushers.hpp"
#include "storage/tables/sliding_sync.hpp"

namespace myelin::storage::accounts {

std::optional<user_row> get_user(connection& c, const std::string& user_id) {
  auto r = c.exec("SELECT user_id, password_hash, is_admin, is_guest, deactivated, created_ts FROM users "
                  "WHERE user_id = $1",
                  {user_id});
  if (r.empty()) return std::nullopt;
  auto row = r[0];
  return user_row{row.as_text(0), row.opt_text(1), row.as_int(2) != 0, row.as_int(3) != 0, row.as_int(4) != 0,
                  row.as_int(5)};
}

bool is_server_admin(connection& c, const std::string& user_id) {
  auto u = get_user(c, user_id);
  return u && u->is_admin;
}

void insert_user(connection& c, const user_row& u) {
  c.exec("INSERT INTO users (user_id, password_hash, created_ts, is_admin, is_guest, deactivated) "
         "VALUES ($1, $2, $3, $4, $5, 0)",
         {u.user_id, nullable(u.password_hash), u.created_ts, int64_t(u.is_admin), int64_t(u.is_guest)});
}

void set_password_hash(connection& c, const std::string& user_id, const std::optional<std::string>& hash) {
  c.exec("UPDATE users SET password_hash = $2 WHERE user_id = $1", {user_id, nullable(hash)});
}

void set_deactivated(connection& c, const std::string& user_id) {
  c.exec("UPDATE users SET deactivated = 1, password_hash = NULL WHERE user_id = $1", {user_id});
}

void set_admin(connection& c, const std::string& user_id, bool is_admin) {
  c.exec("UPDATE users SET is_admin = $2 WHERE user_id = $1", {user_id, int64_t(is_admin)});
}

void set_reactivated(connection& c, const std::string& user_id) {
  c.exec("UPDATE users SET deactivated = 0 WHERE user_id = $1", {user_id});
}

std::optional<profile_row> get_profile(connection& c, const std::string& user_id) {
  auto r = c.exec("SELECT displayname, avatar_url FROM profiles WHERE user_id = $1", {user_id});
  if (r.empty()) return std::nullopt;
  return profile_row{r[0].opt_text(0), r[0].opt_text(1)};
}

void upsert_profile(connection& c, const std::string& user_id, const std::optional<std::string>& displayname,
                    const std::optional<std::string>& avatar_url) {
  c.exec("INSERT INTO profiles (user_id, displayname, avatar_url) VALUES ($1, $2, $3) "
         "ON CONFLICT (user_id) DO UPDATE SET displayname = excluded.displayname, avatar_url = excluded.avatar_url",
         {user_id, nullable(displayname), nullable(avatar_url)});
}

namespace {
device_row device_from(const row& r) {
  return device_row{r.as_text(0), r.as_text(1), r.opt_text(2), r.opt_int(3), r.opt_text(4), r.opt_text(5)};
}
constexpr const char* device_columns =
    "user_id, device_id, display_name, last_seen_ts, last_seen_ip, last_seen_user_agent";
} // namespace

std::vector<device_row> list_devices(connection& c, const std::string& user_id) {
  auto r = c.exec(std::string("SELECT ") + device_columns + " FROM devices WHERE user_id = $1 ORDER BY device_id",
                  {user_id});
  std::vector<device_row> out;
  out.reserve(r.size());
  for (size_t i = 0; i < r.size(); ++i) out.push_back(device_from(r[i]));
  return out;
}

std::optional<device_row> get_device(connection& c, const std::string& user_id, const std::string& device_id) {
  auto r = c.exec(std::string("SELECT ") + device_columns + " FROM devices WHERE user_id = $1 AND device_id = $2",
                  {user_id, device_id});
  if (r.empty()) return std::nullopt;
  return device_from(r[0]);
}

void upsert_device(connection& c, const device_row& d) {
  c.exec("INSERT INTO devices (user_id, device_id, display_name, created_ts, last_seen_ts, last_seen_ip, "
         "last_seen_user_agent) VALUES ($1, $2, $3, $4, $4, $5, $6) "
         "ON CONFLICT (user_id, device_id) DO UPDATE SET "
         "display_name = COALESCE(excluded.display_name, devices.display_name), "
         "last_seen_ts = excluded.last_seen_ts, last_seen_ip = excluded.last_seen_ip, "
         "last_seen_user_agent = excluded.last_seen_user_agent",
         {d.user_id, d.device_id, nullable(d.display_name), d.last_seen_ts.value_or(now_ms()), nullable(d.last_seen_ip),
          nullable(d.last_seen_user_agent)});
}

bool set_device_display_name(connection& c, const std::string& user_id, const std::string& device_id,
                             const std::optional<std::string>& name) {
  auto r = c.exec("UPDATE devices SET display_name = $3 WHERE user_id = $1 AND device_id = $2",
                  {user_id, device_id, nullable(name)});
  return r.affected_rows() > 0;
}

std::vector<std::string> delete_devices(connection& c, const std::string& user_id,
                                        const std::vector<std::string>& device_ids) {
  std::vector<std::string> deleted;
  for (const auto& d : device_ids) {
    auto r = c.exec("DELETE FROM devices WHERE user_id = $1 AND device_id = $2", {user_id, d});
    if (r.affected_rows() > 0) deleted.push_back(d);
    c.exec("DELETE FROM dehydrated_devices WHERE user_id = $1 AND device_id = $2", {user_id, d});
    sliding_sync::forget_device(c, user_id, d);
    pushers::remove_for_device(c, user_id, d);
  }
  return deleted;
}

std::optional<dehydrated_device_row> get_dehydrated_device(connection& c, const std::string& user_id) {
  auto r = c.exec("SELECT device_id, device_data FROM dehydrated_devices WHERE user_id = $1", {user_id});
  if (r.empty()) return std::nullopt;
  return dehydrated_device_row{r[0].as_text(0), r[0].as_text(1)};
}

void put_dehydrated_device(connection& c, const std::string& user_id, const dehydrated_device_row& d) {
  c.exec("INSERT INTO dehydrated_devices (user_id, device_id, device_data) VALUES ($1, $2, $3) "
         "ON CONFLICT (user_id) DO UPDATE SET device_id = excluded.device_id, device_data = excluded.device_data",
         {user_id, d.device_id, d.device_data});
}

int64_t insert_access_token(connection& c, const std::string& token_hash, const std::string& user_id,
                            const std::string& device_id, std::optional<int64_t> valid_until_ms, bool is_guest) {
  auto r = c.exec("INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, valid_until_ms, is_guest) "
                  "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                  {token_hash, user_id, device_id, now_ms(), nullable(valid_until_ms), int64_t(is_guest)});
  return r[0].as_int(0);
}

std::vector<std::string> delete_tokens_for_devices(connection& c, const std::string& user_id,
                                                   const std::vector<std::string>& device_ids) {
  std::vector<std::string> hashes;
  for (const auto& d : device_ids) {
    auto r = c.exec("DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2 RETURNING token_hash",
                    {user_id, d});
    for (size_t i = 0; i < r.size(); ++i) hashes.push_back(r[i].as_text(0));
  }
  return hashes;
}

std::vector<std::string> delete_tokens_for_user(connection& c, const std::string& user_id) {
  auto r = c.exec("DELETE FROM access_tokens WHERE user_id = $1 RETURNING token_hash", {user_id});
  std::vector<std::string> hashes;
  for (size_t i = 0; i < r.size(); ++i) hashes.push_back(r[i].as_text(0));
  return hashes;
}

} // namespace myelin::storage::accounts
