// Queries over user_filters (storage/schema/0003_filters.cpp): filters a user stored with
// POST /user/{userId}/filter, read back by GET …/filter/{filterId} and by /sync's `filter` id.
#pragma once
#include <optional>
#include <string>

#include "storage/database.hpp"

namespace myelin::storage::filters {

// The stored filter JSON for an id as clients send it (decimal text); nullopt for an unknown or
// malformed id.
std::optional<std::string> get(connection& c, const std::string& user_id, const std::string& filter_id);

} // namespace myelin::storage::filters
