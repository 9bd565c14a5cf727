#include "storage/tables/account_data.hpp"

namespace myelin::storage::account_data {

std::optional<std::string> get(connection& c, const std::string& user_id, const std::string& room_id,
                               const std::string& type) {
  auto r = c.exec("SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3",
                  {user_id, room_id, type});
  if (r.empty()) return std::nullopt;
  return r[0].as_text(0);
}

void put(connection& c, const std::string& user_id, const std::string& room_id, const std::string& type,
         const std::string& content, int64_t position) {
  c.exec("INSERT INTO account_data (user_id, room_id, type, content, position) VALUES ($1, $2, $3, $4, $5) "
         "ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = excluded.content, position = excluded.position",
         {user_id, room_id, type, content, position});
}

} // namespace myelin::storage::account_data
