// The account_data stream: global and per-room account data, with room tags kept as the room's
// m.tag account data ({"tags": {tag: {order}}}) so /sync sends them like any other entry. Each
// change takes the next position; its row names the user, so the notifier (issue 4) can wake
// exactly that user's syncs.
//
// Operations: set {user_id, room_id ("" = global), type, content}; add_tag {user_id, room_id,
// tag, content}; remove_tag {user_id, room_id, tag}.
#include <boost/json.hpp>

#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/streams/stream_definition.hpp"
#include "storage/tables/account_data.hpp"

namespace myelin::storage {
namespace {

namespace json = boost::json;
using protocol::req_string;

op_output write(op_context& ctx, const std::string& user_id, const std::string& room_id, const std::string& type,
                const json::object& content) {
  int64_t position = ctx.next_position();
  // Stored as sent: account data may hold floats (tag order), which canonical JSON refuses.
  account_data::put(ctx.db, user_id, room_id, type, json::serialize(content), position);
  json::object row{{"type", "account_data"}, {"position", position}, {"user_id", user_id}, {"data_type", type}};
  if (!room_id.empty()) row["room_id"] = room_id;
  return {json::object{}, {std::move(row)}};
}

const json::object& content_arg(const json::object& args) {
  auto* c = protocol::opt_object(args, "content");
  if (!c) throw protocol::errors::bad_json("content must be an object");
  return *c;
}

// The room's m.tag content, with an object under "tags" whatever was stored before.
json::object current_tags(op_context& ctx, const std::string& user_id, const std::string& room_id) {
  json::object content;
  if (auto text = account_data::get(ctx.db, user_id, room_id, "m.tag")) content = protocol::parse_object(*text);
  if (!content.contains("tags") || !content["tags"].is_object()) content["tags"] = json::object{};
  return content;
}

op_output set(op_context& ctx, const json::object& args) {
  return write(ctx, req_string(args, "user_id"), protocol::opt_string(args, "room_id").value_or(""),
               req_string(args, "type"), content_arg(args));
}

op_output add_tag(op_context& ctx, const json::object& args) {
  auto user_id = req_string(args, "user_id");
  auto room_id = req_string(args, "room_id");
  auto content = current_tags(ctx, user_id, room_id);
  content["tags"].as_object()[req_string(args, "tag")] = content_arg(args);
  return write(ctx, user_id, room_id, "m.tag", content);
}

op_output remove_tag(op_context& ctx, const json::object& args) {
  auto user_id = req_string(args, "user_id");
  auto room_id = req_string(args, "room_id");
  auto content = current_tags(ctx, user_id, room_id);
  // Removing a tag that is not there succeeds and changes nothing (no new position).
  if (content["tags"].as_object().erase(req_string(args, "tag")) == 0) return {json::object{}, {}};
  return write(ctx, user_id, room_id, "m.tag", content);
}

} // namespace

stream_definition account_data_stream() {
  return stream_definition{"account_data", {{"set", set}, {"add_tag", add_tag}, {"remove_tag", remove_tag}}};
}

} // namespace myelin::storage
