#include "actors/admin/admin_helpers.hpp"

#include <charconv>

#include "actors/endpoint_helpers.hpp"
#include "common/config.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "storage/tables/accounts.hpp"

namespace myelin::endpoints::admin {

void require_admin(runtime::handler_context& ctx, const api_request& req) {
  auto c = ctx.db.acquire();
  if (!storage::accounts::is_server_admin(*c, req.user_id))
    throw protocol::errors::forbidden("You are not a server admin");
}

std::string local_user_id(const runtime::handler_context& ctx, const std::string& raw) {
  auto parts = protocol::split_user_id(raw);
  if (!parts || !protocol::is_valid_user_id(raw)) throw protocol::errors::invalid_param("Invalid user id: " + raw);
  if (parts->server_name != ctx.config.server_name)
    throw protocol::errors::invalid_param("This endpoint can only be used with local users");
  return raw;
}

std::string checked_room_id(const api_request& req) {
  const auto& room_id = req.path_params.at(0);
  if (!protocol::is_valid_room_id(room_id)) throw protocol::errors::invalid_param("Invalid room id: " + room_id);
  return room_id;
}

int64_t query_count(const api_request& req, std::string_view name, int64_t fallback, int64_t max) {
  auto v = query_param(req, name);
  if (!v) return fallback;
  int64_t n = -1;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc{} || end != v->data() + v->size() || n < 0 || n > max)
    throw protocol::errors::invalid_param("Query parameter " + std::string(name) + " must be an integer between 0 and " +
                                          std::to_string(max));
  return n;
}

bool query_flag(const api_request& req, std::string_view name, bool fallback) {
  auto v = query_param(req, name);
  if (!v) return fallback;
  if (*v == "true") return true;
  if (*v == "false") return false;
  throw protocol::errors::invalid_param("Query parameter " + std::string(name) + " must be true or false");
}

} // namespace myelin::endpoints::admin
