// The key objects of end-to-end encryption (spec: Client-Server API, "End-to-End Encryption"):
// device keys, one-time and fallback keys, cross-signing keys, and the signatures that bind them.
// Shape checks and signature verification only; no I/O. Errors are the spec's: M_BAD_JSON /
// M_INVALID_PARAM for malformed objects, M_INVALID_SIGNATURE for a signature that does not verify.
#pragma once
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace myelin::protocol::e2e {

// The three cross-signing key types and the `usage` each must declare.
inline constexpr std::string_view cross_signing_types[] = {"master", "self_signing", "user_signing"};

// Checks a device's identity keys as uploaded to /keys/upload: owned by (user_id, device_id),
// `algorithms` a list of strings, `keys` a map of "algorithm:device_id" → unpadded base64, with an
// ed25519 key for the device, and signed by that key. Throws otherwise.
void check_device_keys(const boost::json::object& keys, const std::string& user_id, const std::string& device_id);

// The raw 32 bytes of the ed25519 key `keys_object["keys"]["ed25519:" + key_name]`, if present
// and well formed.
std::optional<std::string> ed25519_key(const boost::json::object& keys_object, std::string_view key_name);

// One entry of a one_time_keys / fallback_keys map ("algorithm:key_id" → key). `key_json` is the
// canonical JSON of the value (a string for unsigned curve25519 keys, an object for signed ones).
struct one_time_key {
  std::string algorithm;
  std::string key_id;
  std::string key_json;
};
// Parses such a map; `field` names it in errors.
std::vector<one_time_key> parse_one_time_keys(const boost::json::object& keys, std::string_view field);

// A cross-signing key as uploaded: owned by `user_id`, its `usage` includes `type`, and `keys`
// holds exactly one "ed25519:<public key>" entry whose value is that public key.
struct cross_signing_key {
  std::string type;            // master | self_signing | user_signing
  std::string public_key;      // unpadded base64, as in the key id
  std::string public_key_raw;  // 32 bytes
  boost::json::object json;    // the key object as uploaded
  std::string key_id() const { return "ed25519:" + public_key; }
};
cross_signing_key parse_cross_signing_key(const boost::json::value& v, const std::string& user_id, std::string_view type);

// Whether obj["signatures"][user_id][key_id] is a valid ed25519 signature by `public_key_raw`.
bool signed_by(const boost::json::object& obj, const std::string& user_id, const std::string& key_id,
               const std::string& public_key_raw);

// The object without `signatures` and `unsigned`: what a signature covers, for comparing an
// uploaded copy with the stored one.
boost::json::object signed_part(const boost::json::object& obj);

// The signatures obj["signatures"][user_id] as (key_id, signature) pairs (strings only).
std::vector<std::pair<std::string, std::string>> signatures_of(const boost::json::object& obj, const std::string& user_id);

// Adds obj["signatures"][user_id][key_id] = signature, creating the maps as needed.
void add_signature(boost::json::object& obj, const std::string& user_id, const std::string& key_id,
                   const std::string& signature);

} // namespace myelin::protocol::e2e
