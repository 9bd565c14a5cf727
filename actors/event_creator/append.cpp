#include "actors/event_creator/append.hpp"

#include <boost/json.hpp>

#include "actors/runtime/writer_client.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/database.hpp"
#include "storage/tables/accounts.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

appended_event append_event(runtime::handler_context& ctx, const api_request& req, const std::string& room_id,
                            json::object event_template, std::optional<std::string> txn_scope,
                            std::optional<std::string> txn_id) {
  json::object args{{"room_id", room_id}, {"event", std::move(event_template)}};
  if (txn_scope && txn_id)
    args["txn"] = json::object{
        {"user_id", req.user_id}, {"device_id", req.device_id}, {"scope", *txn_scope}, {"txn_id", *txn_id}};
  auto w = ctx.writers.write("events", room_id, "append", args);
  auto result = protocol::parse_object(w.result);
  return {protocol::req_string(result, "event_id"), w.position};
}

json::object state_template(std::string type, std::string state_key, json::object content, const std::string& sender) {
  return {{"type", std::move(type)}, {"state_key", std::move(state_key)}, {"content", std::move(content)},
          {"sender", sender}};
}

json::object member_content(runtime::handler_context& ctx, const std::string& user_id, const std::string& membership,
                            const std::optional<std::string>& reason) {
  json::object content{{"membership", membership}};
  if (membership == "join" || membership == "invite" || membership == "knock") {
    auto c = ctx.db.acquire();
    if (auto p = storage::accounts::get_profile(*c, user_id)) {
      if (p->displayname) content["displayname"] = *p->displayname;
      if (p->avatar_url) content["avatar_url"] = *p->avatar_url;
    }
  }
  if (reason) content["reason"] = *reason;
  return content;
}

void check_event_content(const json::object& content) {
  // canonical_json rejects floats (not allowed in events) with M_BAD_JSON.
  if (protocol::canonical_json(content).size() > max_event_content_bytes)
    throw protocol::errors::too_large("Event content is too large");
}

} // namespace myelin::endpoints
