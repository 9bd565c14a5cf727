// Synapse-compatible admin API, a user's devices: list, show, rename, delete one or several.
// Admins only; changes go through the accounts writer and are followed up like the client API's
// (device lists, keys and to-device messages of removed devices).
#include <boost/json.hpp>

#include "actors/admin/admin_helpers.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/keys/device_changes.hpp"
#include "actors/runtime/writer_client.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/tables/accounts.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace errors = protocol::errors;

namespace {


json::object device_json(const storage::accounts::device_row& d) {
  return json::object{{"user_id", d.user_id},
                      {"device_id", d.device_id},
                      {"display_name", admin::or_null(d.display_name)},
                      {"last_seen_ip", admin::or_null(d.last_seen_ip)},
                      {"last_seen_ts", admin::or_null(d.last_seen_ts)},
                      {"last_seen_user_agent", admin::or_null(d.last_seen_user_agent)}};
}

// The path's user, checked to be an admin's request about an existing local user.
std::string target_user(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto user_id = admin::local_user_id(ctx, req.path_params.at(0));
  auto c = ctx.db.acquire();
  if (!storage::accounts::get_user(*c, user_id)) throw errors::not_found("User not found");
  return user_id;
}

api_response remove(runtime::handler_context& ctx, const std::string& user_id, json::array ids) {
  auto w = ctx.writers.write("accounts", user_id, "delete_devices", {{"user_id", user_id}, {"device_ids", std::move(ids)}});
  keys::after_devices_removed(ctx, user_id, w);
  return json_response_after(json::object{}, w.position);
}

} // namespace

void register_admin_devices(runtime::endpoint_registry& r) {
  r.add({.name = "admin.devices.list", .method = "GET", .path = "/_synapse/admin/v2/users/{userId}/devices"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto user_id = target_user(ctx, req);
          auto c = ctx.db.acquire();
          json::array devices;
          for (const auto& d : storage::accounts::list_devices(*c, user_id)) devices.push_back(device_json(d));
          auto total = static_cast<int64_t>(devices.size());
          return runtime::json_response(json::object{{"devices", std::move(devices)}, {"total", total}});
        });
  r.add({.name = "admin.devices.get", .method = "GET",
         .path = "/_synapse/admin/v2/users/{userId}/devices/{deviceId}"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto user_id = target_user(ctx, req);
          auto c = ctx.db.acquire();
          auto d = storage::accounts::get_device(*c, user_id, req.path_params.at(1));
          if (!d) throw errors::not_found("Device not found");
          return runtime::json_response(device_json(*d));
        });
  r.add({.name = "admin.devices.update", .method = "PUT",
         .path = "/_synapse/admin/v2/users/{userId}/devices/{deviceId}"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto user_id = target_user(ctx, req);
          auto body = body_object(ctx, req, true);
          json::object args{{"user_id", user_id}, {"device_id", req.path_params.at(1)}};
          if (auto name = protocol::opt_string(body, "display_name")) {
            if (name->size() > 100) throw errors::invalid_param("display_name is too long (max 100)");
            args["display_name"] = *name;
          }
          auto w = ctx.writers.write("accounts", user_id, "update_device", args);
          keys::after_device_changed(ctx, user_id, req.path_params.at(1));
          return json_response_after(json::object{}, w.position);
        });
  // Deleting a device that does not exist is not an error (as in Synapse).
  r.add({.name = "admin.devices.delete", .method = "DELETE",
         .path = "/_synapse/admin/v2/users/{userId}/devices/{deviceId}"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto user_id = target_user(ctx, req);
          return remove(ctx, user_id, json::array{json::value(req.path_params.at(1))});
        });
  r.add({.name = "admin.devices.delete_many", .method = "POST",
         .path = "/_synapse/admin/v2/users/{userId}/delete_devices"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto user_id = target_user(ctx, req);
          auto body = body_object(ctx, req);
          auto* ids = protocol::opt_array(body, "devices");
          if (!ids) throw errors::missing_param("Missing devices");
          for (const auto& v : *ids)
            if (!v.is_string()) throw errors::invalid_param("devices must be a list of device ids");
          return remove(ctx, user_id, *ids);
        });
}

} // namespace myelin::endpoints
