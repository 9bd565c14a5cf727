// Shared steps of the Synapse-compatible admin API (/_synapse/admin/…, served by `main`): the
// admin check every endpoint starts with, path user ids, and checked query parameters.
#pragma once
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "actors/runtime/endpoint_registry.hpp"

namespace myelin::endpoints::admin {

// 403 M_FORBIDDEN unless the requester is flagged a server admin (users.is_admin).
void require_admin(runtime::handler_context& ctx, const api_request& req);

// A path parameter that must be a user id of this server: 400 M_INVALID_PARAM otherwise.
std::string local_user_id(const runtime::handler_context& ctx, const std::string& raw);

// The first path parameter as a room id: 400 M_INVALID_PARAM unless it is one.
std::string checked_room_id(const api_request& req);

// Query parameters: a non-negative integer within [0, max] (400 M_INVALID_PARAM otherwise) and a
// "true"/"false" flag.
int64_t query_count(const api_request& req, std::string_view name, int64_t fallback, int64_t max = INT32_MAX);
bool query_flag(const api_request& req, std::string_view name, bool fallback);

// Optional fields as Synapse shows them: the value, or null.
template <class T>
boost::json::value or_null(const std::optional<T>& v) {
  return v ? boost::json::value(*v) : boost::json::value(nullptr);
}

} // namespace myelin::endpoints::admin
