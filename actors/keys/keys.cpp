#include "actors/keys/keys.hpp"

#include <boost/json.hpp>

#include "common/config.hpp"
#include "protocol/e2e_keys.hpp"
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

json::array key_list(const json::object& body, std::initializer_list<std::string_view> fields) {
  json::array out;
  for (auto field : fields) {
    const auto* v = body.if_contains(field);
    if (!v || v->is_null()) continue;
    if (!v->is_object()) throw protocol::errors::bad_json("'" + std::string(field) + "' must be an object");
    for (auto& k : protocol::e2e::parse_one_time_keys(v->as_object(), field))
      out.push_back(json::object{{"algorithm", k.algorithm}, {"key_id", k.key_id}, {"key_json", k.key_json}});
  }
  return out;
}

json::object upload_keys_args(const json::object& body, const std::string& user_id, const std::string& device_id) {
  json::object args{{"user_id", user_id}, {"device_id", device_id}};
  if (const auto* dk = body.if_contains("device_keys"); dk && !dk->is_null()) {
    if (!dk->is_object()) throw protocol::errors::bad_json("'device_keys' must be an object");
    protocol::e2e::check_device_keys(dk->as_object(), user_id, device_id);
    args["device_keys"] = *dk;
  }
  args["one_time_keys"] = key_list(body, {"one_time_keys"});
  // Fallback keys under their stable name or the MSC2732 one older clients send.
  args["fallback_keys"] = key_list(body, {"fallback_keys", "org.matrix.msc2732.fallback_keys"});
  return args;
}

json::object stored_object(const std::string& json_text) { return protocol::parse_object(json_text); }

} // namespace myelin::keys
