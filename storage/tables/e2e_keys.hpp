// Queries over the end-to-end encryption key tables (storage/schema/0010_e2e_keys.cpp): device
// keys, one-time and fallback keys, cross-signing keys and signatures. Written only by the
// device_lists stream writer (storage/streams/device_lists_stream.cpp); read by the keys group.
#pragma once
#include <boost/json/object.hpp>
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
// Stores one-time keys, a few statements for any number. A key already there with the same id is
// kept; returns the first key whose id was stored with other content (the caller refuses such an
// upload), nullopt when every key is now stored as given.
std::optional<key_entry> put_one_time_keys(connection& c, const std::string& user_id, const std::string& device_id,
                                           const std::vector<key_entry>& keys, int64_t now_ms);
// Unclaimed one-time keys by algorithm.
std::map<std::string, int64_t> one_time_key_counts(connection& c, const std::string& user_id,
                                                   const std::string& device_id);
// The same as /keys/upload and /sync answer it: signed_curve25519 always present (clients expect it).
boost::json::object one_time_key_counts_json(connection& c, const std::string& user_id, const std::string& device_id);
// One key wanted for a device, and what a claim found for it.
struct device_claim {
  std::string user_id;
  std::string device_id;
  std::string algorithm;
  std::optional<key_entry> key;
};
// For every claim without a key yet: takes (deletes and returns) the device's one-time key of the
// algorithm with the lowest id. One statement per chunk of claims, so a claim for a whole room
// costs a handful of round trips, and each key read is the key deleted.
void take_one_time_keys(connection& c, std::vector<device_claim>& claims);

// Sets the device's fallback key for its algorithm; re-uploading the same key keeps its used flag.
void put_fallback_key(connection& c, const std::string& user_id, const std::string& device_id, const key_entry& k);
// For every claim still without a key: the device's fallback key of the algorithm, marked used (it
// stays until replaced).
void use_fallback_keys(connection& c, std::vector<device_claim>& claims);
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
