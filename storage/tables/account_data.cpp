#include "storage/tables/account_data.hpp"

#include <boost/json.hpp>

#include "storage/tables/in_list.hpp"

namespace myelin::storage::account_data {

std::optional<std::string> get(connection& c, const std::string& user_id, const std::string& room_id,
                               const std::string& type) {
  auto r = c.exec("SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3",
                  {user_id, room_id, type});
  if (r.empty()) return std::nullopt;
  return r[0].as_text(0);
}

std::map<std::string, std::set<std::string>> ignored_users(connection& c, const std::vector<std::string>& user_ids) {
  std::map<std::string, std::set<std::string>> out;
  for_each_chunk(user_ids, [&](std::vector<std::string>& chunk) {
    std::string sql = "SELECT user_id, content FROM account_data WHERE room_id = '' AND type = 'm.ignored_user_list' "
                      "AND user_id IN (" + in_list(1, chunk) + ")";
    auto r = c.exec(sql, sql_params(chunk.begin(), chunk.end()));
    for (size_t i = 0; i < r.size(); ++i) {
      boost::system::error_code ec;
      auto content = boost::json::parse(r[i].as_text(1), ec);
      if (ec || !content.is_object()) continue;
      auto* ignored = content.as_object().if_contains("ignored_users");
      if (!ignored || !ignored->is_object() || ignored->as_object().empty()) continue;
      auto& set = out[r[i].as_text(0)];
      for (const auto& [user, _] : ignored->as_object()) set.emplace(user);
    }
  });
  return out;
}

void put(connection& c, const std::string& user_id, const std::string& room_id, const std::string& type,
         const std::string& content, int64_t position) {
  c.exec("INSERT INTO account_data (user_id, room_id, type, content, position) VALUES ($1, $2, $3, $4, $5) "
         "ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = excluded.content, position = excluded.position",
         {user_id, room_id, type, content, position});
}

} // namespace myelin::storage::account_data
