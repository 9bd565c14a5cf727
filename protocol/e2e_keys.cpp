#include "protocol/e2e_keys.hpp"

#include <boost/json.hpp>

#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "protocol/signing.hpp"

namespace myelin::protocol::e2e {

namespace json = boost::json;

namespace {

// Curve25519 and ed25519 public keys are 32 bytes.
constexpr size_t public_key_bytes = 32;

const json::object& object_field(const json::object& o, std::string_view key, std::string_view what) {
  const auto* v = o.if_contains(key);
  if (!v) throw errors::missing_param(std::string(what) + " has no '" + std::string(key) + "'");
  if (!v->is_object()) throw errors::bad_json(std::string(what) + ": '" + std::string(key) + "' must be an object");
  return v->as_object();
}

void require_owner(const json::object& o, const std::string& user_id, std::string_view what) {
  auto owner = opt_string(o, "user_id");
  if (!owner) throw errors::missing_param(std::string(what) + " has no 'user_id'");
  if (*owner != user_id) throw errors::invalid_param(std::string(what) + " belongs to " + *owner + ", not " + user_id);
}

// Rejects floats and other values canonical JSON cannot carry, so that the object can be signed
// and verified later.
std::string canonical_or_bad_json(const json::value& v, std::string_view what) {
  try {
    return canonical_json(v);
  } catch (const matrix_error&) {
    throw errors::bad_json(std::string(what) + " is not valid canonical JSON (floats are not allowed)");
  }
}

} // namespace

std::optional<std::string> ed25519_key(const json::object& keys_object, std::string_view key_name) {
  const auto* keys = keys_object.if_contains("keys");
  if (!keys || !keys->is_object()) return std::nullopt;
  const auto* k = keys->as_object().if_contains("ed25519:" + std::string(key_name));
  if (!k || !k->is_string()) return std::nullopt;
  std::string raw;
  if (!base64_decode(k->as_string(), raw) || raw.size() != public_key_bytes) return std::nullopt;
  return raw;
}

void check_device_keys(const json::object& keys, const std::string& user_id, const std::string& device_id) {
  const std::string what = "device_keys";
  require_owner(keys, user_id, what);
  auto owner_device = opt_string(keys, "device_id");
  if (!owner_device) throw errors::missing_param("device_keys has no 'device_id'");
  if (*owner_device != device_id)
    throw errors::invalid_param("device_keys are for device " + *owner_device + ", not this device (" + device_id + ")");
  const auto* algorithms = opt_array(keys, "algorithms");
  if (!algorithms) throw errors::missing_param("device_keys has no 'algorithms'");
  for (const auto& a : *algorithms)
    if (!a.is_string()) throw errors::bad_json("device_keys: 'algorithms' must be a list of strings");
  for (const auto& [key_id, value] : object_field(keys, "keys", what)) {
    auto colon = std::string_view(key_id).find(':');
    if (colon == std::string_view::npos || colon == 0)
      throw errors::bad_json("device_keys: key id '" + std::string(key_id) + "' is not 'algorithm:device_id'");
    if (!value.is_string()) throw errors::bad_json("device_keys: key '" + std::string(key_id) + "' must be a string");
  }
  if (keys.contains("signatures")) object_field(keys, "signatures", what);
  canonical_or_bad_json(keys, what);
  auto identity = ed25519_key(keys, device_id);
  if (!identity) throw errors::invalid_param("device_keys has no valid 'ed25519:" + device_id + "' key");
  if (!signed_by(keys, user_id, "ed25519:" + device_id, *identity))
    throw errors::invalid_signature("device_keys are not signed by the device's ed25519 key");
}

std::vector<one_time_key> parse_one_time_keys(const json::object& keys, std::string_view field) {
  std::vector<one_time_key> out;
  out.reserve(keys.size());
  for (const auto& [id, value] : keys) {
    std::string_view full(id);
    auto colon = full.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == full.size())
      throw errors::bad_json(std::string(field) + ": key id '" + std::string(full) + "' is not 'algorithm:key_id'");
    if (!value.is_string() && !value.is_object())
      throw errors::bad_json(std::string(field) + ": key '" + std::string(full) + "' must be a string or an object");
    if (value.is_object()) {
      const auto* k = value.as_object().if_contains("key");
      if (!k || !k->is_string())
        throw errors::bad_json(std::string(field) + ": key '" + std::string(full) + "' has no string 'key'");
    }
    out.push_back({std::string(full.substr(0, colon)), std::string(full.substr(colon + 1)),
                   canonical_or_bad_json(value, field)});
  }
  return out;
}

cross_signing_key parse_cross_signing_key(const json::value& v, const std::string& user_id, std::string_view type) {
  const std::string what = std::string(type) + "_key";
  if (!v.is_object()) throw errors::bad_json(what + " must be an object");
  const auto& o = v.as_object();
  require_owner(o, user_id, what);
  const auto* usage = opt_array(o, "usage");
  if (!usage) throw errors::missing_param(what + " has no 'usage'");
  bool declared = false;
  for (const auto& u : *usage) {
    if (!u.is_string()) throw errors::bad_json(what + ": 'usage' must be a list of strings");
    declared |= u.as_string() == type;
  }
  if (!declared) throw errors::invalid_param(what + ": 'usage' must include '" + std::string(type) + "'");
  const auto& keys = object_field(o, "keys", what);
  if (keys.size() != 1) throw errors::invalid_param(what + " must have exactly one key");
  const auto& [key_id, value] = *keys.begin();
  std::string_view id(key_id);
  if (!id.starts_with("ed25519:") || !value.is_string() || value.as_string() != id.substr(8))
    throw errors::invalid_param(what + ": the key must be 'ed25519:<public key>': <public key>");
  cross_signing_key out{std::string(type), std::string(id.substr(8)), {}, o};
  if (!base64_decode(out.public_key, out.public_key_raw) || out.public_key_raw.size() != public_key_bytes)
    throw errors::invalid_param(what + ": the public key is not a 32-byte unpadded base64 ed25519 key");
  if (o.contains("signatures")) object_field(o, "signatures", what);
  canonical_or_bad_json(o, what);
  return out;
}

bool signed_by(const json::object& obj, const std::string& user_id, const std::string& key_id,
               const std::string& public_key_raw) {
  return verify_json_signature(obj, user_id, key_id, public_key_raw);
}

json::object signed_part(const json::object& obj) {
  json::object copy = obj;
  copy.erase("signatures");
  copy.erase("unsigned");
  return copy;
}

std::vector<std::pair<std::string, std::string>> signatures_of(const json::object& obj, const std::string& user_id) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto* sigs = obj.if_contains("signatures");
  if (!sigs || !sigs->is_object()) return out;
  const auto* mine = sigs->as_object().if_contains(user_id);
  if (!mine || !mine->is_object()) return out;
  for (const auto& [key_id, sig] : mine->as_object())
    if (sig.is_string()) out.emplace_back(std::string(key_id), std::string(sig.as_string()));
  return out;
}

void add_signature(json::object& obj, const std::string& user_id, const std::string& key_id,
                   const std::string& signature) {
  json::value& sigs = obj["signatures"];
  if (!sigs.is_object()) sigs.emplace_object();
  json::value& by_user = sigs.as_object()[user_id];
  if (!by_user.is_object()) by_user.emplace_object();
  by_user.as_object()[key_id] = signature;
}

} // namespace myelin::protocol::e2e
