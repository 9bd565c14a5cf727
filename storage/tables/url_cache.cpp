#include "storage/tables/url_cache.hpp"

namespace myelin::storage::url_cache {

std::optional<entry> get(connection& c, const std::string& url, int64_t now_ms) {
  auto r = c.exec("SELECT ts, response, expires_ts FROM url_cache WHERE url = $1 AND expires_ts > $2", {url, now_ms});
  if (r.empty()) return std::nullopt;
  return entry{r[0].as_int(0), r[0].as_text(1), r[0].as_int(2)};
}

void put(connection& c, const std::string& url, const entry& e) {
  c.exec("INSERT INTO url_cache (url, ts, response, expires_ts) VALUES ($1, $2, $3, $4) "
         "ON CONFLICT (url) DO UPDATE SET ts = excluded.ts, response = excluded.response, "
         "expires_ts = excluded.expires_ts",
         {url, e.ts, e.response, e.expires_ts});
}

int64_t delete_expired(connection& c, int64_t now_ms) {
  return c.exec("DELETE FROM url_cache WHERE expires_ts <= $1", {now_ms}).affected_rows();
}

} // namespace myelin::storage::url_cache
