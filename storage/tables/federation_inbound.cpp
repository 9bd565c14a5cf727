#include "storage/tables/federation_inbound.hpp"

#include "storage/tables/in_list.hpp"

namespace myelin::storage::federation_inbound {

std::optional<std::string> txn_response(connection& c, const std::string& origin, const std::string& txn_id) {
  auto r = c.exec("SELECT response FROM federation_txns WHERE origin = $1 AND txn_id = $2", {origin, txn_id});
  if (r.empty()) return std::nullopt;
  return r[0].as_text(0);
}

void store_txn_response(connection& c, const std::string& origin, const std::string& txn_id,
                        const std::string& response, int64_t now_ms, int64_t forget_before) {
  c.exec("INSERT INTO federation_txns (origin, txn_id, response, received_ts) VALUES ($1, $2, $3, $4) "
         "ON CONFLICT (origin, txn_id) DO NOTHING",
         {origin, txn_id, response, now_ms});
  c.exec("DELETE FROM federation_txns WHERE received_ts < $1", {forget_before});
}

bool shares_room_with_local_user(connection& c, const std::string& user_id) {
  auto r = c.exec("SELECT 1 FROM current_state_events theirs JOIN current_state_events ours "
                  "ON ours.room_id = theirs.room_id AND ours.type = 'm.room.member' AND ours.membership = 'join' "
                  "JOIN users u ON u.user_id = ours.state_key "
                  "WHERE theirs.type = 'm.room.member' AND theirs.state_key = $1 AND theirs.membership = 'join' "
                  "LIMIT 1",
                  {user_id});
  return !r.empty();
}

std::optional<int64_t> tracked_stream_id(connection& c, const std::string& user_id) {
  auto r = c.exec("SELECT stream_id FROM remote_device_lists WHERE user_id = $1", {user_id});
  if (r.empty()) return std::nullopt;
  return r[0].as_int(0);
}

std::vector<std::string> tracked_users(connection& c, std::vector<std::string> user_ids) {
  std::vector<std::string> out;
  for_each_chunk(user_ids, [&](std::vector<std::string>& chunk) {
    auto r = c.exec("SELECT user_id FROM remote_device_lists WHERE user_id IN (" + in_list(1, chunk) + ")",
                    sql_params(chunk.begin(), chunk.end()));
    for (size_t i = 0; i < r.size(); ++i) out.push_back(r[i].as_text(0));
  });
  return out;
}

std::vector<remote_device> devices(connection& c, const std::string& user_id) {
  auto r = c.exec("SELECT device_id, key_json, display_name FROM remote_devices WHERE user_id = $1 ORDER BY device_id",
                  {user_id});
  std::vector<remote_device> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back({r[i].as_text(0), r[i].opt_text(1), r[i].opt_text(2)});
  return out;
}

std::vector<cross_signing_key> cross_signing_keys(connection& c, const std::string& user_id) {
  auto r = c.exec("SELECT key_type, key_json FROM remote_cross_signing_keys WHERE user_id = $1", {user_id});
  std::vector<cross_signing_key> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back({r[i].as_text(0), r[i].as_text(1)});
  return out;
}

namespace {
void track(connection& c, const std::string& user_id, int64_t stream_id, int64_t now_ms) {
  c.exec("INSERT INTO remote_device_lists (user_id, stream_id, updated_ts) VALUES ($1, $2, $3) "
         "ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id, updated_ts = excluded.updated_ts",
         {user_id, stream_id, now_ms});
}
void put_device(connection& c, const std::string& user_id, const remote_device& d) {
  c.exec("INSERT INTO remote_devices (user_id, device_id, key_json, display_name) VALUES ($1, $2, $3, $4) "
         "ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json, "
         "display_name = excluded.display_name",
         {user_id, d.device_id, nullable(d.key_json), nullable(d.display_name)});
}
} // namespace

void replace_devices(connection& c, const std::string& user_id, int64_t stream_id,
                     const std::vector<remote_device>& devices, int64_t now_ms) {
  c.exec("DELETE FROM remote_devices WHERE user_id = $1", {user_id});
  for (const auto& d : devices) put_device(c, user_id, d);
  track(c, user_id, stream_id, now_ms);
}

void update_device(connection& c, const std::string& user_id, int64_t stream_id, const remote_device& device,
                   bool deleted, int64_t now_ms) {
  if (deleted) c.exec("DELETE FROM remote_devices WHERE user_id = $1 AND device_id = $2", {user_id, device.device_id});
  else put_device(c, user_id, device);
  track(c, user_id, stream_id, now_ms);
}

void untrack(connection& c, const std::string& user_id) {
  c.exec("DELETE FROM remote_devices WHERE user_id = $1", {user_id});
  c.exec("DELETE FROM remote_device_lists WHERE user_id = $1", {user_id});
}

void put_cross_signing_key(connection& c, const std::string& user_id, const cross_signing_key& key) {
  c.exec("INSERT INTO remote_cross_signing_keys (user_id, key_type, key_json) VALUES ($1, $2, $3) "
         "ON CONFLICT (user_id, key_type) DO UPDATE SET key_json = excluded.key_json",
         {user_id, key.key_type, key.key_json});
}

} // namespace myelin::storage::federation_inbound
