// The device endpoints (spec: Client-Server API, "Device management"): list, get, rename, and
// delete (one, or many via /delete_devices) behind UIA. Deleting a device revokes its tokens and
// removes its keys and queued to-device messages; renaming or deleting one is a device list change.
#include <boost/json.hpp>

#include "actors/keys/device_changes.hpp"
#include "actors/auth/uia.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/runtime/writer_client.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/database.hpp"
#include "storage/tables/accounts.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

json::object device_json(const storage::accounts::device_row& d) {
  json::object o{{"device_id", d.device_id}};
  o["display_name"] = d.display_name ? json::value(*d.display_name) : json::value(nullptr);
  if (d.last_seen_ip) o["last_seen_ip"] = *d.last_seen_ip;
  if (d.last_seen_ts) o["last_seen_ts"] = *d.last_seen_ts;
  return o;
}

api_response delete_devices(runtime::handler_context& ctx, const api_request& req, const json::object& body,
                            json::array ids) {
  auth::require_uia(ctx, req, body, {{"m.login.password"}}, req.user_id);
  auto w = ctx.writers.write("accounts", req.user_id, "delete_devices",
                             {{"user_id", req.user_id}, {"device_ids", std::move(ids)}});
  keys::after_devices_removed(ctx, req.user_id, w);
  return json_response_after(json::object{}, w.position);
}

} // namespace

void register_devices(runtime::endpoint_registry& r) {
  r.add({.name = "devices.list", .method = "GET", .path = "/_matrix/client/{:r0|v3}/devices"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto c = ctx.db.acquire();
          json::array devices;
          for (const auto& d : storage::accounts::list_devices(*c, req.user_id)) devices.push_back(device_json(d));
          return runtime::json_response(json::object{{"devices", std::move(devices)}});
        });

  r.add({.name = "devices.get", .method = "GET", .path = "/_matrix/client/{:r0|v3}/devices/{deviceId}"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto c = ctx.db.acquire();
          auto d = storage::accounts::get_device(*c, req.user_id, req.path_params.at(0));
          if (!d) throw protocol::errors::not_found("Device not found");
          return runtime::json_response(device_json(*d));
        });

  r.add({.name = "devices.update", .method = "PUT", .path = "/_matrix/client/{:r0|v3}/devices/{deviceId}"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto body = body_object(ctx, req, true);
          json::object args{{"user_id", req.user_id}, {"device_id", req.path_params.at(0)}};
          if (auto name = protocol::opt_string(body, "display_name")) {
            if (name->size() > 100) throw protocol::errors::invalid_param("display_name is too long (max 100)");
            args["display_name"] = *name;
          }
          auto w = ctx.writers.write("accounts", req.user_id, "update_device", args);
          keys::after_device_changed(ctx, req.user_id, req.path_params.at(0));
          return json_response_after(json::object{}, w.position);
        });

  r.add({.name = "devices.delete", .method = "DELETE", .path = "/_matrix/client/{:r0|v3}/devices/{deviceId}"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto body = body_object(ctx, req, true);
          {
            auto c = ctx.db.acquire();
            if (!storage::accounts::get_device(*c, req.user_id, req.path_params.at(0)))
              throw protocol::errors::not_found("Device not found");
          }
          return delete_devices(ctx, req, body, json::array{json::value(req.path_params.at(0))});
        });

  r.add({.name = "devices.delete_many", .method = "POST", .path = "/_matrix/client/{:r0|v3}/delete_devices"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto body = body_object(ctx, req);
          auto* ids = protocol::opt_array(body, "devices");
          if (!ids) throw protocol::errors::missing_param("Missing 'devices'");
          for (const auto& v : *ids)
            if (!v.is_string()) throw protocol::errors::bad_json("'devices' must be a list of device ids");
          return delete_devices(ctx, req, body, *ids);
        });
}

} // namespace myelin::endpoints
