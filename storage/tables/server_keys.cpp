#include "storage/tables/server_keys.hpp"

namespace myelin::storage::server_keys {

std::optional<key_row> get(connection& c, const std::string& server_name, const std::string& key_id) {
  auto r = c.exec("SELECT public_key, valid_until_ts, expired_ts, fetched_ts FROM server_keys "
                  "WHERE server_name = $1 AND key_id = $2",
                  {server_name, key_id});
  if (r.empty()) return std::nullopt;
  return key_row{r[0].as_text(0), r[0].as_int(1), r[0].opt_int(2), r[0].as_int(3)};
}

void store(connection& c, const std::string& server_name, const std::string& doc, int64_t valid_until_ts,
           const std::vector<stored_key>& keys, int64_t now_ms) {
  c.exec("INSERT INTO server_key_documents (server_name, document, valid_until_ts, fetched_ts) VALUES ($1, $2, $3, $4) "
         "ON CONFLICT (server_name) DO UPDATE SET document = excluded.document, "
         "valid_until_ts = excluded.valid_until_ts, fetched_ts = excluded.fetched_ts "
         "WHERE server_key_documents.valid_until_ts <= excluded.valid_until_ts",
         {server_name, doc, valid_until_ts, now_ms});
  for (const auto& k : keys)
    c.exec("INSERT INTO server_keys (server_name, key_id, public_key, valid_until_ts, expired_ts, fetched_ts) "
           "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (server_name, key_id) DO UPDATE SET "
           "public_key = excluded.public_key, valid_until_ts = excluded.valid_until_ts, "
           "expired_ts = excluded.expired_ts, fetched_ts = excluded.fetched_ts "
           "WHERE server_keys.expired_ts IS NULL OR excluded.expired_ts IS NOT NULL",
           {server_name, k.key_id, k.row.public_key, k.row.valid_until_ts,
            nullable(k.row.expired_ts), now_ms});
}

std::optional<document_row> document(connection& c, const std::string& server_name) {
  auto r = c.exec("SELECT document, valid_until_ts FROM server_key_documents WHERE server_name = $1", {server_name});
  if (r.empty()) return std::nullopt;
  return document_row{r[0].as_text(0), r[0].as_int(1)};
}

} // namespace myelin::storage::server_keys
