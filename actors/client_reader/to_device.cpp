// Send-to-device messaging (spec: client-server "Send-to-Device messaging"):
//   PUT /sendToDevice/{eventType}/{txnId} {"messages": {user_id: {device_id | "*": content}}}
// The handler checks the shape, keeps local recipients and hands them to the to_device writer,
// which expands "*", skips unknown users and devices and makes the transaction idempotent per
// (sender, device, event type, txnId). Other servers' users go in the same write as `remote`: the
// writer queues one m.direct_to_device EDU per server for the federation sender.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

constexpr size_t max_type_length = 255;
// Recipients named in one request ("*" counts once): the body limit already bounds the size;
// this bounds the rows one transaction writes.
constexpr size_t max_recipients = 10000;

api_response send_to_device(runtime::handler_context& ctx, const api_request& req) {
  const auto& type = req.path_params.at(0);
  const auto& txn_id = req.path_params.at(1);
  if (type.empty() || type.size() > max_type_length) throw protocol::errors::invalid_param("Invalid event type");
  if (txn_id.empty()) throw protocol::errors::invalid_param("Invalid transaction id");
  auto body = body_object(ctx, req);
  const auto* messages = protocol::opt_object(body, "messages");
  if (!messages) throw protocol::errors::missing_param("Missing 'messages'");

  json::object local, remote;
  size_t recipients = 0;
  for (const auto& [user_key, by_device] : *messages) {
    std::string user_id(user_key);
    auto parts = protocol::split_user_id(user_id);
    if (!parts || !protocol::is_valid_user_id(user_id)) throw protocol::errors::invalid_param("Invalid user id " + user_id);
    if (!by_device.is_object()) throw protocol::errors::bad_json("Messages for " + user_id + " must be an object");
    for (const auto& [device_id, content] : by_device.as_object())
      if (!content.is_object()) throw protocol::errors::bad_json("Each message must be an object");
    recipients += by_device.as_object().size();
    if (recipients > max_recipients) throw protocol::errors::too_large("Too many recipient devices");
    (parts->server_name == ctx.config.server_name ? local : remote)[user_id] = by_device;
  }
  auto w = ctx.writers.write("to_device", req.user_id, "send",
                             {{"sender", req.user_id},
                              {"sender_device", req.device_id},
                              {"type", type},
                              {"txn_id", txn_id},
                              {"messages", std::move(local)},
                              {"remote", std::move(remote)}});
  return json_response_after(json::object{}, w.position);
}

} // namespace

void register_to_device(runtime::endpoint_registry& r) {
  r.add({.name = "to_device.send", .method = "PUT", .path = "/_matrix/client/{:r0|v3}/sendToDevice/{eventType}/{txnId}",
         .allow_guest = true},
        send_to_device);
}

} // namespace myelin::endpoints
