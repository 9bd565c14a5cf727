#include "storage/tables/filters.hpp"

namespace myelin::storage::filters {

std::optional<std::string> get(connection& c, const std::string& user_id, const std::string& filter_id) {
  if (filter_id.empty() || filter_id.size() > 18 || filter_id.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  auto r = c.exec("SELECT filter_json FROM user_filters WHERE user_id = $1 AND filter_id = $2",
                  {user_id, static_cast<int64_t>(std::stoll(filter_id))});
  if (r.empty()) return std::nullopt;
  return r[0].as_text(0);
}

} // namespace myelin::storage::filters
