// Migration 12: dehydrated devices (MSC3814), written by the accounts stream writer with the
// devices table they extend.
//
//   dehydrated_devices   at most one per user: the device (a row in `devices`, without an access
//                        token) and the client's encrypted device_data, returned as stored.
#include "storage/schema/schema.hpp"

namespace myelin::storage::schema {

migration dehydrated_devices_migration() {
  return {12, "dehydrated_devices", R"SQL(
CREATE TABLE dehydrated_devices (
  user_id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,
  device_data TEXT NOT NULL
)
)SQL"};
}

} // namespace myelin::storage::schema
