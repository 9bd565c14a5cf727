// POST /keys/query (spec: "Key management API"): the device keys and cross-signing keys of the
// users named, with the signatures the requester may see — the owners' own, and the requester's
// user-signing signatures on other users' master keys. A user-signing key is shown only to its
// owner. Other servers' users: from the device list cache when we track them, else asked of
// their servers (actors/keys/remote_keys.cpp); a server that does not answer is in `failures`.
// POST /_matrix/federation/v1/user/keys/query answers another server the same way for our users
// (no requesting user: only the owners' signatures, never a user-signing key), and
// GET /_matrix/federation/v1/user/devices/{userId} lists one of our users' devices with them.
#include <boost/json.hpp>
#include <set>

#include "actors/endpoint_helpers.hpp"
#include "actors/federation/federation.hpp"
#include "actors/keys/keys.hpp"
#include "protocol/e2e_keys.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "common/config.hpp"
#include "protocol/identifiers.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/device_lists.hpp"
#include "storage/tables/e2e_keys.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace e2e_keys = storage::e2e_keys;

namespace {

// Signatures by target (user, key id), each (signer user, signer key id, signature).
using signature_index = std::map<std::pair<std::string, std::string>, std::vector<const e2e_keys::signature_row*>>;

void add_signatures(json::object& key, const signature_index& index, const std::string& user_id,
                    const std::string& key_id) {
  auto it = index.find({user_id, key_id});
  if (it == index.end()) return;
  for (const auto* s : it->second) protocol::e2e::add_signature(key, s->signer_user_id, s->signer_key_id, s->signature);
}

// The keys of the local users of `users` that `viewer` may see ("" for another server), as the
// response's device_keys / master_keys / self_signing_keys / user_signing_keys.
json::object local_keys(runtime::handler_context& ctx, const json::object& wanted, const keys::users_by_server& users,
                        const std::string& viewer) {
  // Per user: the devices asked for (empty = all).
  std::map<std::string, std::set<std::string>> devices_wanted;
  for (const auto& user_id : users.local) {
    const auto& v = wanted.at(user_id);
    if (!v.is_array()) throw protocol::errors::bad_json("device_keys: the value for " + user_id + " must be a list");
    auto& set = devices_wanted[user_id];
    for (const auto& d : v.as_array()) {
      if (!d.is_string()) throw protocol::errors::bad_json("device_keys: device ids must be strings");
      set.emplace(d.as_string());
    }
  }

  auto c = ctx.db.acquire();
  auto signatures = e2e_keys::signatures_for(*c, users.local, viewer);
  signature_index index;
  for (const auto& s : signatures) index[{s.target_user_id, s.target_key_id}].push_back(&s);

  json::object device_keys, master_keys, self_signing_keys, user_signing_keys;
  for (const auto& user_id : users.local) device_keys[user_id] = json::object{};
  for (const auto& row : e2e_keys::device_keys_of_users(*c, users.local)) {
    const auto& only = devices_wanted[row.user_id];
    if (!only.empty() && !only.count(row.device_id)) continue;
    auto key = keys::stored_object(row.key_json);
    add_signatures(key, index, row.user_id, row.device_id);
    json::object unsigned_data;
    if (row.display_name) unsigned_data["device_display_name"] = *row.display_name;
    key["unsigned"] = std::move(unsigned_data);
    device_keys[row.user_id].as_object()[row.device_id] = std::move(key);
  }
  for (const auto& row : e2e_keys::cross_signing_keys_of_users(*c, users.local)) {
    auto key = keys::stored_object(row.key_json);
    add_signatures(key, index, row.user_id, row.public_key);
    if (row.key_type == "master") master_keys[row.user_id] = std::move(key);
    else if (row.key_type == "self_signing") self_signing_keys[row.user_id] = std::move(key);
    else if (row.key_type == "user_signing" && !viewer.empty() && row.user_id == viewer)
      user_signing_keys[row.user_id] = std::move(key);
  }
  json::object out{{"device_keys", std::move(device_keys)},
                   {"master_keys", std::move(master_keys)},
                   {"self_signing_keys", std::move(self_signing_keys)}};
  if (!viewer.empty()) out["user_signing_keys"] = std::move(user_signing_keys);
  return out;
}

const json::object& wanted_of(const json::object& body) {
  const auto* wanted = protocol::opt_object(body, "device_keys");
  if (!wanted) throw protocol::errors::missing_param("Missing 'device_keys'");
  return *wanted;
}

api_response query(runtime::handler_context& ctx, const api_request& req) {
  auto body = body_object(ctx, req);
  const auto& wanted = wanted_of(body);
  auto users = keys::split_users(ctx, wanted, "device_keys");
  auto out = local_keys(ctx, wanted, users, req.user_id);
  json::object failures;
  keys::query_remote_keys(ctx, wanted, users, keys::request_timeout(body), out, failures);
  out["failures"] = std::move(failures);
  return runtime::json_response(out);
}

// Another server asks for our users' keys; users of other servers in the request are not ours
// to answer and are left out.
api_response federation_query(runtime::handler_context& ctx, const api_request& req) {
  federation::authenticate_origin(ctx, req);
  auto body = body_object(ctx, req);
  const auto& wanted = wanted_of(body);
  auto users = keys::split_users(ctx, wanted, "device_keys");
  return runtime::json_response(local_keys(ctx, wanted, users, ""));
}

// Every device of one of our users with its keys, its display name and the device list position
// (stream_id) other servers track updates from.
api_response federation_user_devices(runtime::handler_context& ctx, const api_request& req) {
  federation::authenticate_origin(ctx, req);
  const auto& user_id = req.path_params.at(0);
  auto parts = protocol::split_user_id(user_id);
  if (!parts || parts->server_name != ctx.config.server_name)
    throw protocol::errors::invalid_param("user_id is not a user of this server");
  json::object wanted{{user_id, json::array{}}};
  auto keys = local_keys(ctx, wanted, keys::users_by_server{{user_id}, {}}, "");
  auto c = ctx.db.acquire();
  auto user = storage::accounts::get_user(*c, user_id);
  if (!user) throw protocol::errors::not_found("No such user");
  const auto& device_keys = keys.at("device_keys").as_object().at(user_id).as_object();
  json::array devices;
  for (const auto& d : storage::accounts::list_devices(*c, user_id)) {
    json::object device{{"device_id", d.device_id}};
    if (d.display_name) device["device_display_name"] = *d.display_name;
    if (const auto* k = device_keys.if_contains(d.device_id)) {
      auto key = k->as_object();
      key.erase("unsigned");
      device["keys"] = std::move(key);
    }
    devices.push_back(std::move(device));
  }
  json::object out{{"user_id", user_id},
                   {"stream_id", storage::device_lists::latest_change(*c, user_id)},
                   {"devices", std::move(devices)}};
  for (const char* field : {"master_key", "self_signing_key"}) {
    const auto& by_user = keys.at(std::string(field) + "s").as_object();
    if (const auto* k = by_user.if_contains(user_id)) out[field] = *k;
  }
  return runtime::json_response(out);
}

} // namespace

void register_keys_query(runtime::endpoint_registry& r) {
  r.add({.name = "keys.query", .method = "POST", .path = "/_matrix/client/{:r0|v3|unstable}/keys/query",
         .allow_guest = true},
        query);
  r.add({.name = "federation.user_keys_query", .method = "POST", .path = "/_matrix/federation/v1/user/keys/query",
         .auth = auth_mode::none},
        federation_query);
  r.add({.name = "federation.user_devices", .method = "GET", .path = "/_matrix/federation/v1/user/devices/{userId}",
         .auth = auth_mode::none},
        federation_user_devices);
}

} // namespace myelin::endpoints
