#include "storage/tables/room_keys.hpp"

namespace myelin::storage::room_keys {

namespace {

// The version columns plus the key count, in one statement so the two agree.
constexpr const char* version_columns =
    "SELECT v.version, v.algorithm, v.auth_data, v.etag, "
    "(SELECT COUNT(*) FROM room_keys k WHERE k.user_id = v.user_id AND k.version = v.version) "
    "FROM room_key_versions v ";

std::optional<version_info> one_version(const result& r) {
  if (r.empty()) return std::nullopt;
  return version_info{r[0].as_int(0), r[0].as_text(1), r[0].as_text(2), r[0].as_int(3), r[0].as_int(4)};
}

// `WHERE user_id = $1 AND version = $2` plus the optional room ($3) and session ($3 or $4).
std::string key_selection(const std::optional<std::string>& room_id, const std::optional<std::string>& session_id,
                          sql_params& params) {
  std::string where = " WHERE user_id = $1 AND version = $2";
  if (room_id) {
    params.push_back(*room_id);
    where += " AND room_id = $" + std::to_string(params.size());
  }
  if (session_id) {
    params.push_back(*session_id);
    where += " AND session_id = $" + std::to_string(params.size());
  }
  return where;
}

} // namespace

std::optional<version_info> get_version(connection& c, const std::string& user_id, int64_t version) {
  return one_version(c.exec(std::string(version_columns) +
                                "WHERE v.user_id = $1 AND v.version = $2 AND v.deleted = 0",
                            {user_id, version}));
}

std::optional<version_info> current_version(connection& c, const std::string& user_id) {
  return one_version(c.exec(std::string(version_columns) +
                                "WHERE v.user_id = $1 AND v.deleted = 0 ORDER BY v.version DESC LIMIT 1",
                            {user_id}));
}

std::optional<int64_t> current_version_number(connection& c, const std::string& user_id) {
  auto r = c.exec("SELECT MAX(version) FROM room_key_versions WHERE user_id = $1 AND deleted = 0", {user_id});
  return r[0].opt_int(0);
}

std::optional<version_row> find_version(connection& c, const std::string& user_id, int64_t version, bool lock) {
  std::string sql = "SELECT algorithm, etag, deleted FROM room_key_versions WHERE user_id = $1 AND version = $2";
  if (lock && c.kind() == dialect::postgres) sql += " FOR UPDATE";
  auto r = c.exec(sql, {user_id, version});
  if (r.empty()) return std::nullopt;
  return version_row{r[0].as_text(0), r[0].as_int(1), r[0].as_int(2) != 0};
}

int64_t next_version(connection& c, const std::string& user_id) {
  auto r = c.exec("SELECT COALESCE(MAX(version), 0) + 1 FROM room_key_versions WHERE user_id = $1", {user_id});
  return r[0].as_int(0);
}

void insert_version(connection& c, const std::string& user_id, int64_t version, const std::string& algorithm,
                    const std::string& auth_data) {
  c.exec("INSERT INTO room_key_versions (user_id, version, algorithm, auth_data) VALUES ($1, $2, $3, $4)",
         {user_id, version, algorithm, auth_data});
}

void set_auth_data(connection& c, const std::string& user_id, int64_t version, const std::string& auth_data) {
  c.exec("UPDATE room_key_versions SET auth_data = $3 WHERE user_id = $1 AND version = $2",
         {user_id, version, auth_data});
}

void mark_deleted(connection& c, const std::string& user_id, int64_t version) {
  c.exec("UPDATE room_key_versions SET deleted = 1 WHERE user_id = $1 AND version = $2", {user_id, version});
}

int64_t bump_etag(connection& c, const std::string& user_id, int64_t version) {
  auto r = c.exec("UPDATE room_key_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2 RETURNING etag",
                  {user_id, version});
  if (r.empty()) throw database_error("room key backup " + std::to_string(version) + " vanished");
  return r[0].as_int(0);
}

int64_t count_keys(connection& c, const std::string& user_id, int64_t version) {
  return c.exec("SELECT COUNT(*) FROM room_keys WHERE user_id = $1 AND version = $2", {user_id, version})[0].as_int(0);
}

std::optional<key_metadata> get_key_metadata(connection& c, const std::string& user_id, int64_t version,
                                             const std::string& room_id, const std::string& session_id) {
  auto r = c.exec("SELECT first_message_index, forwarded_count, is_verified FROM room_keys "
                  "WHERE user_id = $1 AND version = $2 AND room_id = $3 AND session_id = $4",
                  {user_id, version, room_id, session_id});
  if (r.empty()) return std::nullopt;
  return key_metadata{r[0].as_int(0), r[0].as_int(1), r[0].as_int(2) != 0};
}

void put_key(connection& c, const std::string& user_id, int64_t version, const session_key& key) {
  c.exec("INSERT INTO room_keys (user_id, version, room_id, session_id, first_message_index, forwarded_count, "
         "is_verified, session_data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
         "ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET "
         "first_message_index = excluded.first_message_index, forwarded_count = excluded.forwarded_count, "
         "is_verified = excluded.is_verified, session_data = excluded.session_data",
         {user_id, version, key.room_id, key.session_id, key.meta.first_message_index, key.meta.forwarded_count,
          int64_t{key.meta.is_verified ? 1 : 0}, key.session_data});
}

std::vector<session_key> get_keys(connection& c, const std::string& user_id, int64_t version,
                                  const std::optional<std::string>& room_id,
                                  const std::optional<std::string>& session_id) {
  sql_params params{user_id, version};
  auto where = key_selection(room_id, session_id, params);
  auto r = c.exec("SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data "
                  "FROM room_keys" + where + " ORDER BY room_id, session_id",
                  params);
  std::vector<session_key> out;
  out.reserve(r.size());
  for (size_t i = 0; i < r.size(); ++i)
    out.push_back({r[i].as_text(0), r[i].as_text(1), {r[i].as_int(2), r[i].as_int(3), r[i].as_int(4) != 0},
                   r[i].as_text(5)});
  return out;
}

int64_t delete_keys(connection& c, const std::string& user_id, int64_t version,
                    const std::optional<std::string>& room_id, const std::optional<std::string>& session_id) {
  sql_params params{user_id, version};
  auto where = key_selection(room_id, session_id, params);
  return c.exec("DELETE FROM room_keys" + where, params).affected_rows();
}

size_t store_keys(connection& c, const std::string& user_id, int64_t version, const std::vector<session_key>& keys) {
  size_t written = 0;
  for (const auto& key : keys) {
    auto stored = get_key_metadata(c, user_id, version, key.room_id, key.session_id);
    if (stored && !protocol::key_backup::should_replace(*stored, key.meta)) continue;
    put_key(c, user_id, version, key);
    ++written;
  }
  return written;
}

} // namespace myelin::storage::room_keys
