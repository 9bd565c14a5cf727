// POST /keys/claim (spec: "Key management API"): one key per (user, device, algorithm) named —
// a one-time key while the device has any, then its fallback key. Handed out by the
// device_lists writer, which serializes claims, so no one-time key is ever given twice. Other
// servers' users' keys are claimed from their servers (actors/keys/remote_keys.cpp).
// POST /_matrix/federation/v1/user/keys/claim does the same for another server, for our users.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/federation/federation.hpp"
#include "actors/keys/keys.hpp"
#include "actors/runtime/writer_client.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

// Devices one request may claim for: the body limit bounds it already; this bounds one write.
constexpr size_t max_claims = 10000;

// Claims keys of the local users named in `wanted`; `shard_key` picks the writer shard (the
// requesting user, or the requesting server).
json::object claim_local(runtime::handler_context& ctx, const json::object* wanted, const keys::users_by_server& users,
                         const std::string& shard_key) {
  json::array claims;
  for (const auto& user_id : users.local) {
    const auto& devices = wanted->at(user_id);
    if (!devices.is_object()) throw protocol::errors::bad_json("one_time_keys: the value for " + user_id + " must be an object");
    for (const auto& [device_id, algorithm] : devices.as_object()) {
      if (!algorithm.is_string()) throw protocol::errors::bad_json("one_time_keys: algorithms must be strings");
      claims.push_back(json::object{{"user_id", user_id}, {"device_id", device_id}, {"algorithm", algorithm}});
    }
  }
  if (claims.size() > max_claims) throw protocol::errors::too_large("Too many devices in one claim");

  json::object one_time_keys;
  if (!claims.empty()) {
    auto w = ctx.writers.write("device_lists", shard_key, "claim", {{"claims", std::move(claims)}});
    auto result = protocol::parse_object(w.result);
    for (const auto& v : result.at("keys").as_array()) {
      const auto& k = v.as_object();
      auto& by_user = one_time_keys[k.at("user_id").as_string()];
      if (!by_user.is_object()) by_user.emplace_object();
      std::string key_name = std::string(k.at("algorithm").as_string()) + ":" + std::string(k.at("key_id").as_string());
      by_user.as_object()[k.at("device_id").as_string()] =
          json::object{{key_name, protocol::parse_value(k.at("key_json").as_string())}};
    }
  }
  return json::object{{"one_time_keys", std::move(one_time_keys)}};
}

const json::object* wanted_of(const json::object& body) {
  const auto* wanted = protocol::opt_object(body, "one_time_keys");
  if (!wanted) throw protocol::errors::missing_param("Missing 'one_time_keys'");
  return wanted;
}

api_response claim(runtime::handler_context& ctx, const api_request& req) {
  auto body = body_object(ctx, req);
  const auto* wanted = wanted_of(body);
  auto users = keys::split_users(ctx, *wanted, "one_time_keys");
  auto out = claim_local(ctx, wanted, users, req.user_id);
  json::object failures;
  keys::claim_remote_keys(ctx, *wanted, users, keys::request_timeout(body), out, failures);
  out["failures"] = std::move(failures);
  return runtime::json_response(out);
}

api_response federation_claim(runtime::handler_context& ctx, const api_request& req) {
  auto origin = federation::authenticate_origin(ctx, req);
  auto body = body_object(ctx, req);
  const auto* wanted = wanted_of(body);
  return runtime::json_response(claim_local(ctx, wanted, keys::split_users(ctx, *wanted, "one_time_keys"), origin));
}

} // namespace

void register_keys_claim(runtime::endpoint_registry& r) {
  r.add({.name = "keys.claim", .method = "POST", .path = "/_matrix/client/{:r0|v3|unstable}/keys/claim",
         .allow_guest = true},
        claim);
  r.add({.name = "federation.user_keys_claim", .method = "POST", .path = "/_matrix/federation/v1/user/keys/claim",
         .auth = auth_mode::none},
        federation_claim);
}

} // namespace myelin::endpoints
