// The to_device stream: send-to-device messages for local devices, held in device_inbox until
// the device's /sync acknowledges them.
//
// Operations:
//   send {sender, sender_device, type, txn_id, messages: {user_id: {device_id | "*": content}}}
//     Local users only (the handler leaves remote ones out). "*" means every device of the user
//     and wins over named devices; unknown users and devices are skipped. A transaction already
//     applied (same sender, device, type and txn_id) delivers nothing again. All messages of one
//     send share one position; one row per recipient device:
//     {"type":"to_device","position","user_id","device_id"}.
//     Optional `remote` {user_id: {device_id | "*": content}}: other servers' users, one
//     m.direct_to_device EDU per server (with a fresh message_id) into federation_outbox at the
//     same position, and a row {"type":"to_device_remote","position","destination"} that wakes
//     the federation sender (and no sync).
//   ack {user_id, device_id, upto}
//     Deletes the device's messages up to `upto` (/sync, once the device has seen them). Never a
//     row or a position: nobody needs to hear about it.
//   drop_devices {user_id, device_ids}
//     Deletes what waits for devices that were just deleted. No row.
//   cleanup {}
//     Periodic: forgets transactions older than a day and drops messages of deleted devices.
#include <boost/json.hpp>

#include <map>

#include "common/clock.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/streams/stream_definition.hpp"
#include "protocol/crypto.hpp"
#include "protocol/identifiers.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/federation_sender.hpp"
#include "storage/tables/to_device.hpp"

namespace myelin::storage {
namespace {

namespace json = boost::json;
using protocol::req_string;

constexpr int64_t txn_retention_ms = 24 * 3600 * 1000;
constexpr std::chrono::milliseconds cleanup_interval{10 * 60 * 1000};

// The devices a user's entry names that exist ("*" = all of them), with their content.
std::vector<std::pair<std::string, const json::object*>> recipients(connection& c, const std::string& user_id,
                                                                    const json::object& by_device) {
  std::vector<std::pair<std::string, const json::object*>> out;
  auto content_of = [](const json::value& v) -> const json::object& {
    if (!v.is_object()) throw protocol::errors::bad_json("Each message must be an object");
    return v.as_object();
  };
  if (auto* all = by_device.if_contains("*")) {
    const auto& content = content_of(*all);
    for (const auto& d : accounts::list_devices(c, user_id)) out.emplace_back(d.device_id, &content);
    return out;
  }
  for (const auto& [device_id, v] : by_device) {
    const auto& content = content_of(v);
    if (accounts::get_device(c, user_id, std::string(device_id))) out.emplace_back(std::string(device_id), &content);
  }
  return out;
}

// Other servers' recipients: one EDU per server, for the federation sender to deliver.
void queue_remote(op_context& ctx, const json::object& remote, const std::string& sender, const std::string& type,
                  int64_t& position, op_output& out) {
  std::map<std::string, json::object> by_server;
  for (const auto& [user_key, by_device] : remote) {
    auto parts = protocol::split_user_id(user_key);
    if (!parts) throw protocol::errors::invalid_param("Invalid user id " + std::string(user_key));
    if (!by_device.is_object()) throw protocol::errors::bad_json("Messages for " + std::string(user_key) + " must be an object");
    by_server[parts->server_name][user_key] = by_device;
  }
  if (by_server.empty()) return;
  if (!position) position = ctx.next_position();
  auto message_id = protocol::random_alnum(20);  // the spec: unique per sender, at most 32 characters
  for (auto& [server, messages] : by_server) {
    json::object edu{{"edu_type", "m.direct_to_device"},
                     {"content", {{"sender", sender}, {"type", type}, {"message_id", message_id},
                                  {"messages", std::move(messages)}}}};
    federation_sender::outbox_add(ctx.db, server, position, json::serialize(edu));
    out.rows.push_back({{"type", "to_device_remote"}, {"position", position}, {"destination", server}});
  }
}

op_output send(op_context& ctx, const json::object& args) {
  auto sender = req_string(args, "sender");
  auto sender_device = protocol::opt_string(args, "sender_device").value_or("");
  auto type = req_string(args, "type");
  auto txn_id = req_string(args, "txn_id");
  const auto* messages = protocol::opt_object(args, "messages");
  if (!messages) throw protocol::errors::missing_param("Missing 'messages'");
  int64_t now = now_ms();

  op_output out{json::object{}, {}};
  if (!to_device::record_txn(ctx.db, sender, sender_device, type, txn_id, now)) return out;  // a retry
  int64_t position = 0;
  for (const auto& [user_key, by_device] : *messages) {
    std::string user_id(user_key);
    if (!by_device.is_object()) throw protocol::errors::bad_json("Messages for " + user_id + " must be an object");
    for (const auto& [device_id, content] : recipients(ctx.db, user_id, by_device.as_object())) {
      if (!position) position = ctx.next_position();
      to_device::insert(ctx.db, user_id, device_id, position, sender, type, json::serialize(*content), now);
      out.rows.push_back({{"type", "to_device"}, {"position", position}, {"user_id", user_id}, {"device_id", device_id}});
    }
  }
  if (const auto* remote = protocol::opt_object(args, "remote")) queue_remote(ctx, *remote, sender, type, position, out);
  return out;
}

op_output ack(connection& c, const json::object& args) {
  auto upto = protocol::opt_int(args, "upto");
  if (!upto) throw protocol::errors::missing_param("Missing 'upto'");
  to_device::ack(c, req_string(args, "user_id"), req_string(args, "device_id"), *upto);
  return {json::object{}, {}};
}

op_output drop_devices(connection& c, const json::object& args) {
  to_device::drop_devices(c, req_string(args, "user_id"), protocol::string_array(args, "device_ids"));
  return {json::object{}, {}};
}

op_output cleanup(connection& c, const json::object&) {
  to_device::purge(c, now_ms() - txn_retention_ms);
  return {json::object{}, {}};
}

} // namespace

stream_definition to_device_stream() {
  stream_definition def{"to_device", {{"send", send}, {"ack", on_connection(ack)},
                                          {"drop_devices", on_connection(drop_devices)},
                                          {"cleanup", on_connection(cleanup)}}};
  def.periodic = stream_definition::periodic_op{cleanup_interval, "cleanup"};
  return def;
}

} // namespace myelin::storage
