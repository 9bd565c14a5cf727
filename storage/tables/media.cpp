#include "storage/tables/media.hpp"

namespace myelin::storage::media_table {

namespace {

constexpr const char* local_columns =
    "SELECT media_id, user_id, created_ts, unused_expires_at, upload_ts, content_type, upload_name, size, sha256, "
    "quarantined_by FROM local_media ";

local_media local_from(const row& r) {
  local_media m;
  m.media_id = r.as_text(0);
  m.user_id = r.as_text(1);
  m.created_ts = r.as_int(2);
  m.unused_expires_at = r.opt_int(3);
  m.upload_ts = r.opt_int(4);
  m.content_type = r.as_text(5);
  m.upload_name = r.opt_text(6);
  m.size = r.as_int(7);
  m.sha256 = r.as_text(8);
  m.quarantined_by = r.opt_text(9);
  return m;
}

} // namespace

std::optional<local_media> get_local(connection& c, const std::string& media_id) {
  auto r = c.exec(std::string(local_columns) + "WHERE media_id = $1", {media_id});
  if (r.empty()) return std::nullopt;
  return local_from(r[0]);
}

void insert_uploaded(connection& c, const local_media& m) {
  c.exec("INSERT INTO local_media (media_id, user_id, created_ts, upload_ts, content_type, upload_name, size, sha256) "
         "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
         {m.media_id, m.user_id, m.created_ts, m.upload_ts.value_or(m.created_ts), m.content_type,
          nullable(m.upload_name), m.size, m.sha256});
}

void insert_pending(connection& c, const std::string& media_id, const std::string& user_id, int64_t now_ms,
                    int64_t expires_at) {
  c.exec("INSERT INTO local_media (media_id, user_id, created_ts, unused_expires_at) VALUES ($1, $2, $3, $4)",
         {media_id, user_id, now_ms, expires_at});
}

bool complete_pending(connection& c, const std::string& media_id, int64_t now_ms, const std::string& content_type,
                      const std::optional<std::string>& upload_name, int64_t size, const std::string& sha256) {
  // One statement decides: of two concurrent uploads to the same id, exactly one sees a pending row.
  auto r = c.exec("UPDATE local_media SET upload_ts = $2, unused_expires_at = NULL, content_type = $3, "
                  "upload_name = $4, size = $5, sha256 = $6 WHERE media_id = $1 AND upload_ts IS NULL",
                  {media_id, now_ms, content_type, nullable(upload_name), size, sha256});
  return r.affected_rows() == 1;
}

int64_t count_pending(connection& c, const std::string& user_id, int64_t now_ms) {
  auto r = c.exec("SELECT COUNT(*) FROM local_media WHERE user_id = $1 AND upload_ts IS NULL AND unused_expires_at > $2",
                  {user_id, now_ms});
  return r[0].as_int(0);
}

int64_t delete_expired_pending(connection& c, int64_t now_ms) {
  auto r = c.exec("DELETE FROM local_media WHERE upload_ts IS NULL AND unused_expires_at <= $1", {now_ms});
  return r.affected_rows();
}

bool set_quarantined(connection& c, const std::string& media_id, const std::optional<std::string>& by) {
  auto r = c.exec("UPDATE local_media SET quarantined_by = $2 WHERE media_id = $1", {media_id, nullable(by)});
  return r.affected_rows() == 1;
}

std::optional<thumbnail> get_thumbnail(connection& c, const std::string& origin, const std::string& media_id,
                                       int64_t width, int64_t height, const std::string& method, bool animated) {
  sql_params params{media_id, width, height, method, int64_t{animated ? 1 : 0}};
  std::string sql = "SELECT content_type, actual_width, actual_height, size FROM ";
  if (origin.empty()) {
    sql += "local_media_thumbnails WHERE ";
  } else {
    sql += "remote_media_thumbnails WHERE origin = $6 AND ";
    params.emplace_back(origin);
  }
  auto r = c.exec(sql + "media_id = $1 AND width = $2 AND height = $3 AND method = $4 AND animated = $5", params);
  if (r.empty()) return std::nullopt;
  thumbnail t;
  t.origin = origin;
  t.media_id = media_id;
  t.width = width;
  t.height = height;
  t.method = method;
  t.animated = animated;
  t.content_type = r[0].as_text(0);
  t.actual_width = r[0].as_int(1);
  t.actual_height = r[0].as_int(2);
  t.size = r[0].as_int(3);
  return t;
}

void put_thumbnail(connection& c, const thumbnail& t) {
  sql_params params{t.media_id, t.width, t.height, t.method, int64_t{t.animated ? 1 : 0}, t.content_type,
                    t.actual_width, t.actual_height, t.size};
  const char* upsert =
      " DO UPDATE SET content_type = excluded.content_type, actual_width = excluded.actual_width, "
      "actual_height = excluded.actual_height, size = excluded.size";
  if (t.origin.empty()) {
    c.exec(std::string("INSERT INTO local_media_thumbnails (media_id, width, height, method, animated, content_type, "
                       "actual_width, actual_height, size) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                       "ON CONFLICT (media_id, width, height, method, animated)") + upsert,
           params);
  } else {
    params.emplace_back(t.origin);
    c.exec(std::string("INSERT INTO remote_media_thumbnails (media_id, width, height, method, animated, content_type, "
                       "actual_width, actual_height, size, origin) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                       "ON CONFLICT (origin, media_id, width, height, method, animated)") + upsert,
           params);
  }
}

std::optional<remote_media> get_remote(connection& c, const std::string& origin, const std::string& media_id) {
  auto r = c.exec("SELECT content_type, upload_name, size, sha256, created_ts, quarantined_by, last_access_ts "
                  "FROM remote_media_cache "
                  "WHERE origin = $1 AND media_id = $2",
                  {origin, media_id});
  if (r.empty()) return std::nullopt;
  remote_media m;
  m.origin = origin;
  m.media_id = media_id;
  m.content_type = r[0].as_text(0);
  m.upload_name = r[0].opt_text(1);
  m.size = r[0].as_int(2);
  m.sha256 = r[0].as_text(3);
  m.created_ts = r[0].as_int(4);
  m.quarantined_by = r[0].opt_text(5);
  m.last_access_ts = r[0].as_int(6);
  return m;
}

void put_remote(connection& c, const remote_media& m) {
  c.exec("INSERT INTO remote_media_cache (origin, media_id, content_type, upload_name, size, sha256, created_ts, "
         "last_access_ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (origin, media_id) DO UPDATE SET "
         "content_type = excluded.content_type, upload_name = excluded.upload_name, size = excluded.size, "
         "sha256 = excluded.sha256",
         {m.origin, m.media_id, m.content_type, nullable(m.upload_name), m.size, m.sha256, m.created_ts});
}

void touch_remote(connection& c, const std::string& origin, const std::string& media_id, int64_t now) {
  c.exec("UPDATE remote_media_cache SET last_access_ts = $3 WHERE origin = $1 AND media_id = $2",
         {origin, media_id, now});
}

std::vector<std::pair<std::string, std::string>> remote_media_before(connection& c, int64_t before_ts, int64_t limit) {
  auto r = c.exec("SELECT origin, media_id FROM remote_media_cache WHERE last_access_ts < $1 "
                  "ORDER BY last_access_ts LIMIT $2",
                  {before_ts, limit});
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i < r.size(); ++i) out.emplace_back(r[i].as_text(0), r[i].as_text(1));
  return out;
}

bool delete_remote(connection& c, const std::string& origin, const std::string& media_id) {
  c.exec("DELETE FROM remote_media_thumbnails WHERE origin = $1 AND media_id = $2", {origin, media_id});
  return c.exec("DELETE FROM remote_media_cache WHERE origin = $1 AND media_id = $2", {origin, media_id})
             .affected_rows() == 1;
}

media_page list_user_media(connection& c, const std::string& user_id, int64_t from, int64_t limit,
                           const std::string& order_column, bool descending) {
  media_page page;
  page.total = c.exec("SELECT COUNT(*) FROM local_media WHERE user_id = $1", {user_id})[0].as_int(0);
  auto dir = descending ? " DESC" : " ASC";
  auto r = c.exec(std::string(local_columns) + "WHERE user_id = $1 ORDER BY " + order_column + dir + ", media_id ASC" +
                      " LIMIT $2 OFFSET $3",
                  {user_id, limit, from});
  for (size_t i = 0; i < r.size(); ++i) page.media.push_back(local_from(r[i]));
  return page;
}

std::vector<std::string> media_ids_before(connection& c, int64_t before_ts, int64_t size_gt) {
  auto r = c.exec("SELECT media_id FROM local_media WHERE upload_ts IS NOT NULL AND quarantined_by IS NULL "
                  "AND created_ts < $1 AND size > $2 ORDER BY media_id",
                  {before_ts, size_gt});
  std::vector<std::string> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back(r[i].as_text(0));
  return out;
}

bool delete_local(connection& c, const std::string& media_id) {
  c.exec("DELETE FROM local_media_thumbnails WHERE media_id = $1", {media_id});
  return c.exec("DELETE FROM local_media WHERE media_id = $1", {media_id}).affected_rows() == 1;
}

} // namespace myelin::storage::media_table
