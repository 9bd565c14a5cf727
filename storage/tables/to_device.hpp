// Queries over the send-to-device inbox (storage/schema/0006_to_device.cpp). Written only by the
// to_device stream writer (storage/streams/to_device_stream.cpp); read by /sync.
#pragma once
#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage::to_device {

// The spec recommends at most 100 messages per /sync response.
inline constexpr size_t max_messages_per_sync = 100;

struct to_device_message {
  int64_t position = 0;   // to_device stream position; /sync acknowledges up to it
  std::string sender;
  std::string type;
  std::string content;    // JSON text
};
// {"sender", "type", "content"}: the message as clients receive it (/sync, dehydrated devices).
boost::json::object client_event(const to_device_message& m);

// Messages waiting for the device with position in (after, upto], oldest first, at most `limit`.
// Messages of a device that no longer exists, or that were sent before the device of that id was
// created (an old device's leftovers), are not returned; the writer's periodic cleanup deletes them.
std::vector<to_device_message> pending(connection& c, const std::string& user_id, const std::string& device_id,
                                       int64_t after, int64_t upto, size_t limit);

// ---- writes (to_device stream writer only) ----

// Records a client transaction; false if it was already applied (a retry).
bool record_txn(connection& c, const std::string& sender, const std::string& sender_device,
                const std::string& event_type, const std::string& txn_id, int64_t now_ms);
void insert(connection& c, const std::string& user_id, const std::string& device_id, int64_t position,
            const std::string& sender, const std::string& type, const std::string& content, int64_t sent_ts);
// Deletes the device's messages up to `upto`; returns how many.
int64_t ack(connection& c, const std::string& user_id, const std::string& device_id, int64_t upto);
// Deletes transactions older than `txns_before` and messages of deleted devices.
void purge(connection& c, int64_t txns_before);
// Deletes every message queued for these devices (they were deleted).
void drop_devices(connection& c, const std::string& user_id, const std::vector<std::string>& device_ids);

} // namespace myelin::storage::to_device
