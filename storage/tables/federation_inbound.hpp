// What inbound federation keeps (storage/schema/0025_federation_inbound.cpp): the answers to
// other servers' transactions, and the cache of remote users' device lists and cross-signing
// keys. Transactions are written by the /send/ handler; the device cache only by the
// device_lists writer (storage/streams/device_lists_stream.cpp), read by /keys/query.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage::federation_inbound {

// ---- transactions ----

// The stored answer (JSON text) to `origin`'s transaction `txn_id`, if it was processed.
std::optional<std::string> txn_response(connection& c, const std::string& origin, const std::string& txn_id);
// Stores the answer (a concurrent duplicate's answer is kept) and forgets answers older than
// `forget_before`.
void store_txn_response(connection& c, const std::string& origin, const std::string& txn_id,
                        const std::string& response, int64_t now_ms, int64_t forget_before);

// Whether `user_id` (another server's) is joined to a room a local user is joined to: whose
// presence and device lists this server has a reason to keep.
bool shares_room_with_local_user(connection& c, const std::string& user_id);

// ---- remote device lists ----

struct remote_device {
  std::string device_id;
  std::optional<std::string> key_json;
  std::optional<std::string> display_name;
};
struct cross_signing_key {
  std::string key_type;  // "master" or "self_signing"
  std::string key_json;
};

// The newest stream_id received for a tracked user; nullopt when the list is not tracked.
std::optional<int64_t> tracked_stream_id(connection& c, const std::string& user_id);
// Of `user_ids`, those whose device lists are tracked.
std::vector<std::string> tracked_users(connection& c, std::vector<std::string> user_ids);
std::vector<remote_device> devices(connection& c, const std::string& user_id);
std::vector<cross_signing_key> cross_signing_keys(connection& c, const std::string& user_id);

// ---- writes (device_lists writer only) ----

// Replaces the user's whole list (a resync) and marks it tracked at `stream_id`.
void replace_devices(connection& c, const std::string& user_id, int64_t stream_id,
                     const std::vector<remote_device>& devices, int64_t now_ms);
// One device added, changed or deleted, and the tracked stream_id moved to `stream_id`.
void update_device(connection& c, const std::string& user_id, int64_t stream_id, const remote_device& device,
                   bool deleted, int64_t now_ms);
// Stops tracking the user (a resync failed: their server is asked on the next query).
void untrack(connection& c, const std::string& user_id);
void put_cross_signing_key(connection& c, const std::string& user_id, const cross_signing_key& key);

} // namespace myelin::storage::federation_inbound
