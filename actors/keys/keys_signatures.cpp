// POST /keys/signatures/upload (spec: "Cross-signing"): signatures on keys, each checked against
// the signer's stored key and the stored copy of what it signs:
//   own device keys      signed by the user's self-signing key;
//   own master key       signed by one of the user's devices;
//   another user's master key   signed by the user's user-signing key (only the signer sees it).
// Each key that fails is reported in `failures` (M_INVALID_SIGNATURE, M_NOT_FOUND, …); the
// others are stored.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/keys/keys.hpp"
#include "actors/runtime/writer_client.hpp"
#include "protocol/crypto.hpp"
#include "protocol/e2e_keys.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/tables/e2e_keys.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace e2e = protocol::e2e;
namespace e2e_keys = storage::e2e_keys;

namespace {

struct signer_context {
  storage::connection& c;
  const std::string& user_id;
  json::array& accepted;  // {target_user_id, target_key_id, signer_key_id, signature}
};

// The uploaded copy must be the stored key with signatures added, nothing else.
void require_same_key(const json::object& uploaded, const std::string& stored_json) {
  if (e2e::signed_part(uploaded) != e2e::signed_part(keys::stored_object(stored_json)))
    throw protocol::errors::invalid_signature("The signed object does not match the stored key");
}

// Verifies the signatures `signer_user` made with the keys `candidates` offers (key id → raw
// public key) and accepts the valid ones; none valid is M_INVALID_SIGNATURE.
template <class Candidates>
void accept_signatures(signer_context& s, const json::object& obj, const std::string& target_user,
                       const std::string& target_key_id, Candidates&& candidates) {
  size_t valid = 0;
  for (const auto& [key_id, signature] : e2e::signatures_of(obj, s.user_id)) {
    auto raw = candidates(key_id);
    if (!raw) continue;
    if (!e2e::signed_by(obj, s.user_id, key_id, *raw))
      throw protocol::errors::invalid_signature("Invalid signature by " + key_id);
    s.accepted.push_back(json::object{{"target_user_id", target_user}, {"target_key_id", target_key_id},
                                      {"signer_key_id", key_id}, {"signature", signature}});
    ++valid;
  }
  if (!valid) throw protocol::errors::invalid_signature("No signature by a key that may sign this key");
}

std::optional<std::string> raw_key(const std::string& public_key_b64) {
  std::string raw;
  if (!protocol::base64_decode(public_key_b64, raw)) return std::nullopt;
  return raw;
}

void own_key(signer_context& s, const std::string& key_id, const json::object& obj) {
  if (auto device = e2e_keys::device_keys(s.c, s.user_id, key_id)) {
    require_same_key(obj, *device);
    auto ssk = e2e_keys::cross_signing_key(s.c, s.user_id, "self_signing");
    if (!ssk) throw protocol::errors::invalid_signature("No self-signing key to sign devices with");
    accept_signatures(s, obj, s.user_id, key_id, [&](const std::string& id) -> std::optional<std::string> {
      return id == "ed25519:" + ssk->public_key ? raw_key(ssk->public_key) : std::nullopt;
    });
    return;
  }
  auto master = e2e_keys::cross_signing_key(s.c, s.user_id, "master");
  if (!master || master->public_key != key_id) throw protocol::errors::not_found("No such device or master key");
  require_same_key(obj, master->key_json);
  accept_signatures(s, obj, s.user_id, key_id, [&](const std::string& id) -> std::optional<std::string> {
    if (!id.starts_with("ed25519:")) return std::nullopt;
    auto device = e2e_keys::device_keys(s.c, s.user_id, id.substr(8));
    if (!device) return std::nullopt;
    return e2e::ed25519_key(keys::stored_object(*device), id.substr(8));
  });
}

void other_users_master_key(signer_context& s, const std::string& target, const std::string& key_id,
                            const json::object& obj) {
  auto master = e2e_keys::cross_signing_key(s.c, target, "master");
  if (!master || master->public_key != key_id) throw protocol::errors::not_found("No such master key");
  require_same_key(obj, master->key_json);
  auto usk = e2e_keys::cross_signing_key(s.c, s.user_id, "user_signing");
  if (!usk) throw protocol::errors::invalid_signature("No user-signing key to sign other users with");
  accept_signatures(s, obj, target, key_id, [&](const std::string& id) -> std::optional<std::string> {
    return id == "ed25519:" + usk->public_key ? raw_key(usk->public_key) : std::nullopt;
  });
}

api_response upload(runtime::handler_context& ctx, const api_request& req) {
  auto body = body_object(ctx, req);
  json::object failures;
  json::array accepted;
  {
    auto c = ctx.db.acquire();
    signer_context s{*c, req.user_id, accepted};
    for (const auto& [user_key, by_key] : body) {
      std::string target(user_key);
      if (!by_key.is_object()) throw protocol::errors::bad_json("The value for " + target + " must be an object");
      for (const auto& [key_key, obj] : by_key.as_object()) {
        std::string key_id(key_key);
        try {
          if (!obj.is_object()) throw protocol::errors::bad_json("The signed key must be an object");
          if (target == req.user_id) own_key(s, key_id, obj.as_object());
          else other_users_master_key(s, target, key_id, obj.as_object());
        } catch (const protocol::matrix_error& e) {
          auto& by_user = failures[target];
          if (!by_user.is_object()) by_user.emplace_object();
          by_user.as_object()[key_id] = json::object{{"errcode", e.errcode()}, {"error", e.what()}};
        }
      }
    }
  }
  if (accepted.empty()) return runtime::json_response(json::object{{"failures", std::move(failures)}});
  auto w = ctx.writers.write("device_lists", req.user_id, "upload_signatures",
                             {{"user_id", req.user_id}, {"signatures", std::move(accepted)}});
  return json_response_after(json::object{{"failures", std::move(failures)}}, w.position);
}

} // namespace

void register_keys_signatures(runtime::endpoint_registry& r) {
  r.add({.name = "keys.signatures_upload", .method = "POST",
         .path = "/_matrix/client/{:v3|unstable}/keys/signatures/upload"},
        upload);
}

} // namespace myelin::endpoints
