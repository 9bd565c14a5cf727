// Dehydrated devices (MSC3814, unstable prefix org.matrix.msc3814.v1): one device per user kept
// on the server, without a token, that receives to-device messages (megolm keys) while the user
// has no client running; a later client fetches them and replaces the device.
//   PUT    /dehydrated_device                       device_id, device_data, keys → {device_id}
//   GET    /dehydrated_device                       {device_id, device_data} | 404 M_NOT_FOUND
//   DELETE /dehydrated_device                       {device_id} | 404 M_NOT_FOUND
//   POST   /dehydrated_device/{deviceId}/events     {next_batch?} → {events, next_batch}
// The device is an ordinary row of `devices` (accounts writer) with its keys in the device_lists
// writer, so /keys/query and /keys/claim see it like any other. Fetching its messages does not
// delete them (the MSC: an aborted rehydration can start again); replacing or deleting the device
// does, like any device removal.
#include <boost/json.hpp>
#include <charconv>
#include <limits>

#include "actors/endpoint_helpers.hpp"
#include "actors/keys/device_changes.hpp"
#include "actors/keys/keys.hpp"
#include "actors/runtime/writer_client.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/to_device.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

constexpr const char* base = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device";
constexpr size_t max_device_id_length = 255;

api_response put_device(runtime::handler_context& ctx, const api_request& req) {
  auto body = body_object(ctx, req);
  auto device_id = protocol::req_string(body, "device_id");
  if (device_id.empty() || device_id.size() > max_device_id_length)
    throw protocol::errors::invalid_param("Invalid device_id");
  const auto* data = protocol::opt_object(body, "device_data");
  if (!data) throw protocol::errors::missing_param("Missing 'device_data'");
  if (!protocol::opt_object(body, "device_keys")) throw protocol::errors::missing_param("Missing 'device_keys'");
  // Checked before anything is written: a dehydrated device without valid keys is useless.
  auto key_args = keys::upload_keys_args(body, req.user_id, device_id);

  json::object args{{"user_id", req.user_id}, {"device_id", device_id}, {"device_data", json::serialize(*data)}};
  if (auto name = protocol::opt_string(body, "initial_device_display_name")) args["display_name"] = *name;
  auto w = ctx.writers.write("accounts", req.user_id, "set_dehydrated_device", args);
  keys::after_devices_removed(ctx, req.user_id, w);  // the device it replaced
  keys::after_device_changed(ctx, req.user_id, device_id);
  auto k = ctx.writers.write("device_lists", req.user_id, "upload_keys", key_args);
  return json_response_after(json::object{{"device_id", device_id}}, k.position);
}

std::optional<storage::accounts::dehydrated_device_row> current(runtime::handler_context& ctx, const api_request& req) {
  auto c = ctx.db.acquire();
  return storage::accounts::get_dehydrated_device(*c, req.user_id);
}

api_response get_device(runtime::handler_context& ctx, const api_request& req) {
  auto d = current(ctx, req);
  if (!d) throw protocol::errors::not_found("No dehydrated device");
  return runtime::json_response(
      json::object{{"device_id", d->device_id}, {"device_data", protocol::parse_value(d->device_data)}});
}

api_response delete_device(runtime::handler_context& ctx, const api_request& req) {
  auto w = ctx.writers.write("accounts", req.user_id, "delete_dehydrated_device", {{"user_id", req.user_id}});
  keys::after_devices_removed(ctx, req.user_id, w);
  auto result = protocol::parse_object(w.result);
  return json_response_after(json::object{{"device_id", result.at("device_id")}}, w.position);
}

api_response device_events(runtime::handler_context& ctx, const api_request& req) {
  auto body = body_object(ctx, req, true);
  auto d = current(ctx, req);
  if (!d || d->device_id != req.path_params.at(0))
    throw protocol::errors::forbidden("Not the user's dehydrated device");
  int64_t after = 0;
  if (auto token = protocol::opt_string(body, "next_batch")) {
    auto [ptr, ec] = std::from_chars(token->data(), token->data() + token->size(), after);
    if (ec != std::errc{} || ptr != token->data() + token->size() || after < 0)
      throw protocol::errors::invalid_param("Invalid next_batch");
  }
  auto c = ctx.db.acquire();
  auto msgs = storage::to_device::pending(*c, req.user_id, d->device_id, after, std::numeric_limits<int64_t>::max(),
                                          storage::to_device::max_messages_per_sync);
  json::array events;
  for (const auto& m : msgs)
    events.push_back(storage::to_device::client_event(m));
  // The last batch is the empty one: its token is the one the client sent.
  int64_t next = msgs.empty() ? after : msgs.back().position;
  return runtime::json_response(json::object{{"events", std::move(events)}, {"next_batch", std::to_string(next)}});
}

} // namespace

void register_dehydrated_device(runtime::endpoint_registry& r) {
  r.add({.name = "dehydrated_device.put", .method = "PUT", .path = base}, put_device);
  r.add({.name = "dehydrated_device.get", .method = "GET", .path = base}, get_device);
  r.add({.name = "dehydrated_device.delete", .method = "DELETE", .path = base}, delete_device);
  r.add({.name = "dehydrated_device.events", .method = "POST", .path = std::string(base) + "/{deviceId}/events"},
        device_events);
}

} // namespace myelin::endpoints
