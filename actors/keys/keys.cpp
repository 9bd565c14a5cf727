#include "actors/keys/keys.hpp"

#include <boost/json.hpp>

#include "common/config.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"

namespace myelin::keys {

namespace json = boost::json;

users_by_server split_users(const runtime::handler_context& ctx, const json::object& by_user, std::string_view what) {
  users_by_server out;
  for (const auto& [key, value] : by_user) {
    std::string user_id(key);
    auto parts = protocol::split_user_id(user_id);
    if (!parts || !protocol::is_valid_user_id(user_id))
      throw protocol::errors::invalid_param(std::string(what) + ": invalid user id " + user_id);
    if (parts->server_name == ctx.config.server_name) out.local.push_back(std::move(user_id));
    else out.remote[parts->server_name].push_back(std::move(user_id));
  }
  return out;
}

json::object unreachable_failures(const users_by_server& users) {
  json::object failures;
  for (const auto& [server, _] : users.remote)
    failures[server] = json::object{{"status", 503}, {"message", "Federation is not available on this server"}};
  return failures;
}

json::object stored_object(const std::string& json_text) { return protocol::parse_object(json_text); }

} // namespace myelin::keys
