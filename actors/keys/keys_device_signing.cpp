// POST /keys/device_signing/upload (spec: "Cross-signing"): the user's master, self-signing and
// user-signing keys. The self-signing and user-signing keys must be signed by the master key (the
// one uploaded with them, or the stored one). Replacing keys needs UIA (m.login.password); the
// first upload, or one that only repeats the stored keys, does not, as the spec allows.
#include <boost/json.hpp>

#include "actors/auth/uia.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/runtime/writer_client.hpp"
#include "protocol/crypto.hpp"
#include "protocol/e2e_keys.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/tables/e2e_keys.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace e2e = protocol::e2e;

namespace {

api_response upload(runtime::handler_context& ctx, const api_request& req) {
  auto body = body_object(ctx, req, true);
  std::map<std::string, e2e::cross_signing_key> uploaded;
  for (auto type : e2e::cross_signing_types) {
    const auto* v = body.if_contains(std::string(type) + "_key");
    if (v && !v->is_null()) uploaded.emplace(type, e2e::parse_cross_signing_key(*v, req.user_id, type));
  }

  std::map<std::string, storage::e2e_keys::cross_signing_row> stored;
  {
    auto c = ctx.db.acquire();
    for (const auto& row : storage::e2e_keys::cross_signing_keys_of_users(*c, {req.user_id})) stored[row.key_type] = row;
  }
  bool replaces = false;
  for (const auto& [type, key] : uploaded) {
    auto it = stored.find(type);
    replaces |= it != stored.end() && it->second.key_json != protocol::canonical_json(key.json);
  }
  bool first_upload = !stored.count("master");
  bool new_keys = false;
  for (const auto& [type, key] : uploaded) new_keys |= !stored.count(type);
  if (replaces || (new_keys && !first_upload))
    auth::require_uia(ctx, req, body, {{"m.login.password"}}, req.user_id);

  // The master key the others must be signed by.
  std::string master_id, master_raw;
  if (auto it = uploaded.find("master"); it != uploaded.end()) {
    master_id = it->second.key_id();
    master_raw = it->second.public_key_raw;
  } else if (auto st = stored.find("master"); st != stored.end()) {
    master_id = "ed25519:" + st->second.public_key;
    protocol::base64_decode(st->second.public_key, master_raw);
  }
  for (const auto& [type, key] : uploaded) {
    if (type == "master") continue;
    if (master_id.empty()) throw protocol::errors::invalid_signature("No master key to verify the " + type + " key with");
    if (!e2e::signed_by(key.json, req.user_id, master_id, master_raw))
      throw protocol::errors::invalid_signature("The " + type + " key is not signed by the master key");
  }

  json::array keys;
  for (const auto& [type, key] : uploaded)
    keys.push_back(json::object{
        {"key_type", type}, {"public_key", key.public_key}, {"key_json", protocol::canonical_json(key.json)}});
  if (keys.empty()) return runtime::json_response(json::object{});
  auto w = ctx.writers.write("device_lists", req.user_id, "upload_cross_signing",
                             {{"user_id", req.user_id}, {"keys", std::move(keys)}});
  return json_response_after(json::object{}, w.position);
}

} // namespace

void register_keys_device_signing(runtime::endpoint_registry& r) {
  r.add({.name = "keys.device_signing_upload", .method = "POST",
         .path = "/_matrix/client/{:v3|unstable}/keys/device_signing/upload"},
        upload);
}

} // namespace myelin::endpoints
