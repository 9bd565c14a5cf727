// Queries over account_data (storage/schema/0004_account_data.cpp): global account data has
// room_id "". Written only by the account_data stream writer.
#pragma once
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage::account_data {

// The content (JSON text) of one entry, nullopt if never set.
std::optional<std::string> get(connection& c, const std::string& user_id, const std::string& room_id,
                               const std::string& type);
// The users each of `user_ids` ignores (their global m.ignored_user_list), one query per
// max_in_list users; users who ignore no one are left out.
std::map<std::string, std::set<std::string>> ignored_users(connection& c, const std::vector<std::string>& user_ids);

void put(connection& c, const std::string& user_id, const std::string& room_id, const std::string& type,
         const std::string& content, int64_t position);

} // namespace myelin::storage::account_data
