// Queries over the end-to-end encryption key tables (storage/schema/0010_e2e_keys.cpp): device
// keys, one-time and fallback keys, cross-signing keys and signatures. Written only by the
// device_lists stream writer (storage/streams/device_lists_stream.cpp); read by the keys group.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage::e2e_keys {

// ---- device keys ----
struct device_keys_row {
  std::string user_id;
  std::string device_id;
  std::string key_json;
  std::optional<std::string> display_name;  // from devices
};
std::optional<std::string> device_keys(connection& c, const std::string& user_id, const std::string& device_id);
// Every uploaded device key of these users (devices that still exist), ordered by user and device.
std::vector<device_keys_row> device_keys_of_users(connection& c, const std::vector<std::string>& user_ids);
void put_device_keys(connection& c, const std::string& user_id, const std::string& device_id,
                     const std::string& key_json, int64_t now_ms);

// ---- one-time and fallback keys ----
struct key_entry {
  std::string algorithm;
  std::string key_id;
  std::string key_json;
};
// Stores a one-time key. A key already there with the same id is kept; returns its JSON when it
// differs from `k` (the caller refuses such an upload), nullopt otherwise.
std::optional<std::string> put_one_time_key(connection& c, const std::string& user_id, const std::string& device_id,
                                            const key_entry& k, int64_t now_ms);
// Unclaimed one-time keys by algorithm.
std::map<std::string, int64_t> one_time_key_counts(connection& c, const std::string& user_id,
                                                   const std::string& device_id);
// Takes (deletes and returns) the device's oldest-id one-time key of `algorithm`.
std::optional<key_entry> take_one_time_key(connection& c, const std::string& user_id, const std::string& device_id,
                                           const std::string& algorithm);

// Sets the device's fallback key for its algorithm; re-uploading the same key keeps its used flag.
void put_fallback_key(connection& c, const std::string& user_id, const std::string& device_id, const key_entry& k);
// The fallback key of `algorithm`, marked used (it stays until replaced).
std::optional<key_entry> use_fallback_key(connection& c, const std::string& user_id, const std::string& device_id,
                                          const std::string& algorithm);
std::vector<std::string> unused_fallback_key_types(connection& c, const std::string& user_id,
                                                   const std::string& device_id);

// Removes every key of the devices and the signatures made on them.
void delete_device_keys(connection& c, const std::string& user_id, const std::vector<std::string>& device_ids);
// Devices that have keys but no longer exist (removed while the writer was not told), by user.
std::map<std::string, std::vector<std::string>> orphaned_devices(connection& c);

// ---- cross-signing ----
struct cross_signing_row {
  std::string user_id;
  std::string key_type;    // master | self_signing | user_signing
  std::string public_key;  // unpadded base64
  std::string key_json;
};
std::optional<cross_signing_row> cross_signing_key(connection& c, const std::string& user_id,
                                                   const std::string& key_type);
std::vector<cross_signing_row> cross_signing_keys_of_users(connection& c, const std::vector<std::string>& user_ids);
void put_cross_signing_key(connection& c, const cross_signing_row& k, int64_t now_ms);

// ---- signatures added by /keys/signatures/upload ----
struct signature_row {
  std::string target_user_id;
  std::string target_key_id;  // a device id, or a cross-signing public key
  std::string signer_user_id;
  std::string signer_key_id;  // "ed25519:<device id or public key>"
  std::string signature;
};
void put_signature(connection& c, const signature_row& s);
// Signatures on these users' keys that `viewer` may see: the users' own, and the viewer's.
std::vector<signature_row> signatures_for(connection& c, const std::vector<std::string>& target_user_ids,
                                          const std::string& viewer);

} // namespace myelin::storage::e2e_keys
