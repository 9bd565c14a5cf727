// POST /keys/upload (spec: "Key management API"): the device's identity keys, one-time keys and
// fallback keys. Shapes and the device keys' self-signature are checked here, on the pool; the
// device_lists writer stores them and answers the one-time key counts.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/keys/keys.hpp"
#include "actors/runtime/writer_client.hpp"
#include "protocol/e2e_keys.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace e2e = protocol::e2e;

namespace {

// A one_time_keys / fallback_keys field as the writer's key list.
json::array key_list(const json::object& body, std::initializer_list<std::string_view> fields) {
  json::array out;
  for (auto field : fields) {
    const auto* v = body.if_contains(field);
    if (!v || v->is_null()) continue;
    if (!v->is_object()) throw protocol::errors::bad_json("'" + std::string(field) + "' must be an object");
    for (auto& k : e2e::parse_one_time_keys(v->as_object(), field))
      out.push_back(json::object{{"algorithm", k.algorithm}, {"key_id", k.key_id}, {"key_json", k.key_json}});
  }
  return out;
}

api_response upload(runtime::handler_context& ctx, const api_request& req) {
  if (req.path_params.size() == 1 && req.path_params[0] != req.device_id)
    throw protocol::errors::invalid_param("Keys can only be uploaded for the device of the access token");
  if (req.device_id.empty())
    throw protocol::errors::invalid_param("To upload keys, the access token must belong to a device");
  auto body = body_object(ctx, req, true);
  json::object args{{"user_id", req.user_id}, {"device_id", req.device_id}};
  if (const auto* dk = body.if_contains("device_keys"); dk && !dk->is_null()) {
    if (!dk->is_object()) throw protocol::errors::bad_json("'device_keys' must be an object");
    e2e::check_device_keys(dk->as_object(), req.user_id, req.device_id);
    args["device_keys"] = *dk;
  }
  args["one_time_keys"] = key_list(body, {"one_time_keys"});
  // Fallback keys under their stable name or the MSC2732 one older clients send.
  args["fallback_keys"] = key_list(body, {"fallback_keys", "org.matrix.msc2732.fallback_keys"});
  auto w = ctx.writers.write("device_lists", req.user_id, "upload_keys", args);
  return json_response_after(protocol::parse_value(w.result), w.position);
}

} // namespace

void register_keys_upload(runtime::endpoint_registry& r) {
  r.add({.name = "keys.upload", .method = "POST", .path = "/_matrix/client/{:r0|v3|unstable}/keys/upload"}, upload);
  // r0 clients may name the device in the path; it must be the token's.
  r.add({.name = "keys.upload_device", .method = "POST",
         .path = "/_matrix/client/{:r0|v3|unstable}/keys/upload/{deviceId}"},
        upload);
}

} // namespace myelin::endpoints
