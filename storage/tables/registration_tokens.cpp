#include "storage/tables/registration_tokens.hpp"

namespace myelin::storage::registration_tokens {

namespace {

constexpr const char* columns = "token, uses_allowed, pending, completed, expiry_time";
// $N: the time to judge expiry at.
std::string valid_sql(int now_param) {
  auto now = "$" + std::to_string(now_param);
  return "(uses_allowed IS NULL OR pending + completed < uses_allowed) AND (expiry_time IS NULL OR expiry_time > " +
         now + ")";
}

token_row read_row(const result& r, size_t i) {
  return token_row{r[i].as_text(0), r[i].opt_int(1), r[i].as_int(2), r[i].as_int(3), r[i].opt_int(4)};
}

} // namespace

std::optional<token_row> get(connection& c, const std::string& token) {
  auto r = c.exec(std::string("SELECT ") + columns + " FROM registration_tokens WHERE token = $1", {token});
  if (r.empty()) return std::nullopt;
  return read_row(r, 0);
}

std::vector<token_row> list(connection& c, std::optional<bool> valid, int64_t now_ms) {
  std::string sql = std::string("SELECT ") + columns + " FROM registration_tokens";
  sql_params params;
  if (valid) {
    sql += *valid ? " WHERE " + valid_sql(1) : " WHERE NOT (" + valid_sql(1) + ")";
    params.emplace_back(now_ms);
  }
  auto r = c.exec(sql + " ORDER BY token", params);
  std::vector<token_row> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back(read_row(r, i));
  return out;
}

bool is_valid(connection& c, const std::string& token, int64_t now_ms) {
  return !c.exec("SELECT 1 FROM registration_tokens WHERE token = $1 AND " + valid_sql(2), {token, now_ms}).empty();
}

bool insert(connection& c, const token_row& row) {
  auto r = c.exec("INSERT INTO registration_tokens (token, uses_allowed, pending, completed, expiry_time) "
                  "VALUES ($1, $2, 0, 0, $3) ON CONFLICT (token) DO NOTHING",
                  {row.token, nullable(row.uses_allowed), nullable(row.expiry_time)});
  return r.affected_rows() == 1;
}

bool update(connection& c, const std::string& token, bool set_uses, std::optional<int64_t> uses_allowed,
            bool set_expiry, std::optional<int64_t> expiry_time) {
  if (set_uses)
    c.exec("UPDATE registration_tokens SET uses_allowed = $2 WHERE token = $1", {token, nullable(uses_allowed)});
  if (set_expiry)
    c.exec("UPDATE registration_tokens SET expiry_time = $2 WHERE token = $1", {token, nullable(expiry_time)});
  return get(c, token).has_value();
}

bool remove(connection& c, const std::string& token) {
  return c.exec("DELETE FROM registration_tokens WHERE token = $1", {token}).affected_rows() == 1;
}

bool reserve(connection& c, const std::string& token, const std::string& session_id, int64_t now_ms) {
  auto r = c.exec("UPDATE registration_tokens SET pending = pending + 1 WHERE token = $1 AND " + valid_sql(2),
                  {token, now_ms});
  if (r.affected_rows() != 1) return false;
  c.exec("UPDATE ui_auth_sessions SET registration_token = $2 WHERE session_id = $1", {session_id, token});
  return true;
}

void complete(connection& c, const std::string& token) {
  c.exec("UPDATE registration_tokens SET pending = pending - 1, completed = completed + 1 "
         "WHERE token = $1 AND pending > 0",
         {token});
}

void release(connection& c, const std::string& token) {
  c.exec("UPDATE registration_tokens SET pending = pending - 1 WHERE token = $1 AND pending > 0", {token});
}

void release_expired_sessions(connection& c, int64_t cutoff_ms) {
  auto r = c.exec("DELETE FROM ui_auth_sessions WHERE registration_token IS NOT NULL AND created_ts < $1 "
                  "RETURNING registration_token",
                  {cutoff_ms});
  for (size_t i = 0; i < r.size(); ++i) release(c, r[i].as_text(0));
}

} // namespace myelin::storage::registration_tokens
