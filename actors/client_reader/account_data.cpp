// Account data and room tags (spec: client-server "Client Config" and "Room Tagging"):
//   GET/PUT /user/{userId}/account_data/{type}
//   GET/PUT /user/{userId}/rooms/{roomId}/account_data/{type}
//   GET /user/{userId}/rooms/{roomId}/tags, PUT/DELETE /user/{userId}/rooms/{roomId}/tags/{tag}
// Only the user themself may read or write. Writes go to the account_data stream writer; reads
// come straight from its table. Tags are the room's m.tag account data.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/runtime/writer_client.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "storage/database.hpp"
#include "storage/tables/account_data.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

constexpr size_t max_type_length = 255;

void require_self(const api_request& req) {
  if (req.path_params.at(0) != req.user_id)
    throw protocol::errors::forbidden("Cannot access account data of other users");
}

void check_type(const std::string& type) {
  if (type.empty() || type.size() > max_type_length) throw protocol::errors::invalid_param("Invalid account data type");
}

void check_room(const std::string& room_id) {
  if (!protocol::is_valid_room_id(room_id)) throw protocol::errors::invalid_param("Invalid room id");
}

// Types the server manages through their own APIs (read markers, push rules): 405 M_BAD_JSON.
void refuse_server_managed(const std::string& type) {
  if (type == "m.fully_read" || type == "m.push_rules")
    throw protocol::matrix_error(405, "M_BAD_JSON", "Cannot set " + type + " through this API.");
}

api_response read(runtime::handler_context& ctx, const std::string& user_id, const std::string& room_id,
                  const std::string& type) {
  auto c = ctx.db.acquire();
  auto content = storage::account_data::get(*c, user_id, room_id, type);
  if (!content) throw protocol::errors::not_found("Account data not found");
  return runtime::json_response(protocol::parse_value(*content));
}

api_response write(runtime::handler_context& ctx, const api_request& req, const std::string& op, json::object args) {
  auto w = ctx.writers.write("account_data", req.user_id, op, args);
  return json_response_after(json::object{}, w.position);
}

} // namespace

void register_account_data(runtime::endpoint_registry& r) {
  r.add({.name = "account_data.get", .method = "GET",
         .path = "/_matrix/client/{:r0|v3}/user/{userId}/account_data/{type}", .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          require_self(req);
          return read(ctx, req.user_id, "", req.path_params.at(1));
        });
  r.add({.name = "account_data.put", .method = "PUT",
         .path = "/_matrix/client/{:r0|v3}/user/{userId}/account_data/{type}", .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          require_self(req);
          const auto& type = req.path_params.at(1);
          check_type(type);
          refuse_server_managed(type);
          auto content = body_object(ctx, req);
          return write(ctx, req, "set", {{"user_id", req.user_id}, {"type", type}, {"content", content}});
        });
  r.add({.name = "room_account_data.get", .method = "GET",
         .path = "/_matrix/client/{:r0|v3}/user/{userId}/rooms/{roomId}/account_data/{type}", .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          require_self(req);
          check_room(req.path_params.at(1));
          return read(ctx, req.user_id, req.path_params.at(1), req.path_params.at(2));
        });
  r.add({.name = "room_account_data.put", .method = "PUT",
         .path = "/_matrix/client/{:r0|v3}/user/{userId}/rooms/{roomId}/account_data/{type}", .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          require_self(req);
          const auto& room_id = req.path_params.at(1);
          const auto& type = req.path_params.at(2);
          check_room(room_id);
          check_type(type);
          refuse_server_managed(type);
          auto content = body_object(ctx, req);
          return write(ctx, req, "set",
                       {{"user_id", req.user_id}, {"room_id", room_id}, {"type", type}, {"content", content}});
        });

  r.add({.name = "tags.get", .method = "GET", .path = "/_matrix/client/{:r0|v3}/user/{userId}/rooms/{roomId}/tags",
         .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          require_self(req);
          check_room(req.path_params.at(1));
          auto c = ctx.db.acquire();
          json::object tags;
          if (auto text = storage::account_data::get(*c, req.user_id, req.path_params.at(1), "m.tag")) {
            auto content = protocol::parse_object(*text);
            if (auto* t = content.if_contains("tags"); t && t->is_object()) tags = t->as_object();
          }
          return runtime::json_response(json::object{{"tags", std::move(tags)}});
        });
  r.add({.name = "tags.put", .method = "PUT",
         .path = "/_matrix/client/{:r0|v3}/user/{userId}/rooms/{roomId}/tags/{tag}", .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          require_self(req);
          check_room(req.path_params.at(1));
          const auto& tag = req.path_params.at(2);
          if (tag.empty() || tag.size() > max_type_length) throw protocol::errors::invalid_param("Invalid tag");
          auto content = body_object(ctx, req);
          if (auto* order = content.if_contains("order"); order && !order->is_number())
            throw protocol::errors::bad_json("order must be a number");
          return write(ctx, req, "add_tag",
                       {{"user_id", req.user_id}, {"room_id", req.path_params.at(1)}, {"tag", tag}, {"content", content}});
        });
  r.add({.name = "tags.delete", .method = "DELETE",
         .path = "/_matrix/client/{:r0|v3}/user/{userId}/rooms/{roomId}/tags/{tag}", .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          require_self(req);
          check_room(req.path_params.at(1));
          return write(ctx, req, "remove_tag",
                       {{"user_id", req.user_id}, {"room_id", req.path_params.at(1)}, {"tag", req.path_params.at(2)}});
        });
}

} // namespace myelin::endpoints
